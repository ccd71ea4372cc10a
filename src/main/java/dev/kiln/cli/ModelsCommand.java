package dev.kiln.cli;

import dev.kiln.common.Json;
import dev.kiln.common.SparkSessions;
import dev.kiln.registry.ModelRegistry;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "models", mixinStandardHelpOptions = true,
    description = "The model registry (meta.models): versions of each model and their stage "
        + "(candidate, champion, archived).",
    subcommands = {ModelsCommand.ListModels.class, ModelsCommand.Register.class, ModelsCommand.Promote.class,
        ModelsCommand.Archive.class, ModelsCommand.History.class})
final class ModelsCommand implements Runnable {
  @picocli.CommandLine.Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new picocli.CommandLine.ParameterException(spec.commandLine(), "a subcommand is required: list, register, "
        + "promote, archive, history");
  }

  static ModelRegistry registry(CommonOptions common) {
    return new ModelRegistry(SparkSessions.getOrCreate("kiln models"), common.dataRoot());
  }

  static String describe(ModelRegistry.ModelVersion v) {
    return String.format(Locale.ROOT, "%s version %d (%s, run %s, roc_auc %.4f)", v.name(), v.version(), v.stage().id(),
        v.runId(), v.metrics().getOrDefault("roc_auc", Double.NaN));
  }

  @Command(name = "list", mixinStandardHelpOptions = true, description = "Registered versions and their stage.")
  static final class ListModels implements Callable<Integer> {
    @Option(names = "--name", description = "Only this model.")
    String name;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      return common.printJsonLinesOrTable(registry(common).list(Optional.ofNullable(name)),
          List.of("model", "version", "stage", "type", "roc_auc", "run", "why"),
          v -> List.of(v.name(), String.valueOf(v.version()), v.stage().id(), v.modelType(),
              String.format(Locale.ROOT, "%.4f", v.metrics().getOrDefault("roc_auc", Double.NaN)), v.runId(),
              v.stageReason()));
    }
  }

  @Command(name = "register", mixinStandardHelpOptions = true,
      description = "Register a run (kiln runs list) as the next version of a model, as a candidate.")
  static final class Register implements Callable<Integer> {
    @Parameters(paramLabel = "RUN")
    String runId;

    @Option(names = "--name", description = "Model name (default: the run's feature set, e.g. clicks).")
    String name;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      ModelRegistry.ModelVersion v = registry(common).register(runId, Optional.ofNullable(name));
      common.out().println(common.json ? Json.toJson(v) : "registered " + describe(v));
      return 0;
    }
  }

  @Command(name = "promote", mixinStandardHelpOptions = true,
      description = {"Make a version the champion; the previous champion is archived in the same commit.",
          "With --if-better-than, only when its metric beats the reference by --min-delta (a model without a "
              + "champion always passes). Not passing is not an error: the output says why and nothing changes."})
  static final class Promote implements Callable<Integer> {
    @Parameters(paramLabel = "VERSION|candidate",
        description = "A version number, or candidate: the newest candidate (what a pipeline just registered).")
    String version;

    @Option(names = "--name", description = "Model name (needed when several models are registered).")
    String name;

    @Option(names = "--if-better-than", paramLabel = "ALIAS",
        description = "champion, or a version number: promote only if better than it.")
    String reference;

    @Option(names = "--metric", defaultValue = "roc_auc",
        description = "Metric to compare (default: ${DEFAULT-VALUE}; log_loss and brier: lower is better).")
    String metric;

    @Option(names = "--min-delta", defaultValue = "0",
        description = "Required improvement (default: ${DEFAULT-VALUE}).")
    double minDelta;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      Optional<ModelRegistry.Gate> gate = Optional.ofNullable(reference)
          .map(r -> new ModelRegistry.Gate(r, metric, minDelta));
      ModelRegistry registry = registry(common);
      int number = version.matches("\\d+") ? Integer.parseInt(version)
          : registry.resolve(Optional.ofNullable(name), version).version();
      ModelRegistry.Promotion p = registry.promote(Optional.ofNullable(name), number, gate);
      PrintWriter out = common.out();
      if (common.json) {
        out.println(Json.toJson(p));
      } else if (p.promoted()) {
        out.printf("promoted %s: %s%s (after %d attempt%s)%n", describe(p.version()), p.reason(),
            p.previousChampion().map(c -> "; version " + c.version() + " archived").orElse(""), p.attempts(),
            p.attempts() == 1 ? "" : "s");
      } else {
        out.printf("not promoted: %s%s%n", p.reason(),
            p.previousChampion().map(c -> "; champion stays version " + c.version()).orElse(""));
      }
      return 0;
    }
  }

  @Command(name = "archive", mixinStandardHelpOptions = true, description = "Move a version to archived.")
  static final class Archive implements Callable<Integer> {
    @Parameters(paramLabel = "VERSION")
    int version;

    @Option(names = "--name", description = "Model name (needed when several models are registered).")
    String name;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      ModelRegistry.ModelVersion v = registry(common).archive(Optional.ofNullable(name), version);
      common.out().println(common.json ? Json.toJson(v) : "archived " + describe(v));
      return 0;
    }
  }

  @Command(name = "history", mixinStandardHelpOptions = true,
      description = "Every registry change, oldest first, from the table's Delta history.")
  static final class History implements Callable<Integer> {
    @Option(names = "--name", description = "Only this model.")
    String name;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      return common.printJsonLinesOrTable(registry(common).history(Optional.ofNullable(name)),
          List.of("table version", "at", "event", "model", "version", "replaced", "details"), e -> {
            var d = e.details();
            return List.of(String.valueOf(e.tableVersion()), e.at().toInstant().toString(),
                String.valueOf(d.get("event")), String.valueOf(d.get("model_name")),
                String.valueOf(d.get("model_version")),
                d.get("previous_champion") == null ? "" : String.valueOf(d.get("previous_champion")),
                String.valueOf(d.getOrDefault("reason", d.getOrDefault("run_id", ""))));
          });
    }
  }
}
