package dev.kiln.cli;

import dev.kiln.common.Json;
import dev.kiln.common.SparkSessions;
import dev.kiln.common.StageTimes;
import dev.kiln.train.TuneJob;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "tune", mixinStandardHelpOptions = true,
    description = {"Hyper-parameter search: random or grid trials from a search space (conf/tune/*.yaml), each a "
        + "tracked run in meta.runs; the best can be registered as a candidate.",
        "Trials run --parallelism at a time as concurrent Spark jobs (XGBoost trials then share the task slots)."})
final class TuneCommand implements Callable<Integer> {
  @Option(names = "--trainset", required = true, paramLabel = "ID", description = "Trainset id (kiln trainset).")
  String trainset;

  @Option(names = "--space", defaultValue = "conf/tune/xgboost.yaml", paramLabel = "FILE",
      description = "Search space YAML (default: ${DEFAULT-VALUE}).")
  Path space;

  @Option(names = "--trials", defaultValue = "10", description = "Number of trials (grid: at most) "
      + "(default: ${DEFAULT-VALUE}).")
  int trials;

  @Option(names = "--parallelism", defaultValue = "1", description = "Trials at a time (default: ${DEFAULT-VALUE}).")
  int parallelism;

  @Option(names = "--seed", defaultValue = "42", description = "Seeds the random draws and every trial "
      + "(default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--register", paramLabel = "NAME", arity = "0..1", fallbackValue = "",
      description = "Register the best trial as a candidate (name default: the feature set, e.g. clicks).")
  String register;

  @Mixin
  CommonOptions common;

  @Override
  public Integer call() {
    TuneJob job = new TuneJob(new TuneJob.Config(common.dataRoot(), trainset, space, trials, parallelism, seed,
        Optional.ofNullable(register)));
    TuneJob.Result r = job.run(SparkSessions.getOrCreate("kiln tune"));
    PrintWriter out = common.out();
    if (common.json) {
      out.println(Json.toJson(r));
      return 0;
    }
    List<List<String>> rows = new ArrayList<>();
    for (TuneJob.Trial t : r.trials()) {
      rows.add(List.of(String.valueOf(t.number()), t.run().runId(),
          String.format(Locale.ROOT, "%.4f", t.run().metrics().get(r.metric())),
          String.format(Locale.ROOT, "%.1f", t.run().durationS()), t.overrides().toString()));
    }
    TextTable.print(out, List.of("trial", "run", r.metric(), "seconds", "params"), rows);
    out.printf("%s: best trial %d, run %s, %s %.4f%n", r.tuneId(), r.best().number(), r.best().run().runId(),
        r.metric(), r.best().run().metrics().get(r.metric()));
    Summaries.printStages(out, r.stageSeconds(), r.stagePeakHeapMib());
    out.printf("  trials' time, summed over %d trial(s): %s%n", r.trials().size(),
        StageTimes.line(r.trialStageSeconds()));
    r.registered().ifPresent(v -> out.println("registered " + ModelsCommand.describe(v)));
    return 0;
  }
}
