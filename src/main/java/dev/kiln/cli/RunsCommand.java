package dev.kiln.cli;

import dev.kiln.common.Json;
import dev.kiln.common.SparkSessions;
import dev.kiln.registry.RunsTable;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

@Command(name = "runs", mixinStandardHelpOptions = true, description = "Training runs recorded in meta.runs.",
    subcommands = {RunsCommand.ListRuns.class, RunsCommand.Show.class, RunsCommand.Compare.class})
final class RunsCommand implements Runnable {
  @picocli.CommandLine.Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new picocli.CommandLine.ParameterException(spec.commandLine(), "a subcommand is required: list, show, "
        + "compare");
  }

  private static String f(Double d) {
    return d == null ? "" : String.format(Locale.ROOT, "%.4f", d);
  }

  @Command(name = "list", mixinStandardHelpOptions = true,
      description = "Every run, newest first, with its status: running, finished or failed (kiln runs show RUN: why).")
  static final class ListRuns implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      return common.printJsonLinesOrTable(
          new RunsTable(SparkSessions.getOrCreate("kiln runs"), common.dataRoot()).list(),
          List.of("run", "model", "status", "trainset", "roc_auc", "log_loss", "seconds", "started"),
          r -> List.of(r.runId(), r.modelType(), r.status(), r.trainsetId(), f(r.metrics().get("roc_auc")),
              f(r.metrics().get("log_loss")), r.durationS() == null ? "" : String.format(Locale.ROOT, "%.1f",
                  r.durationS()), r.startedAt().toInstant().toString()));
    }
  }

  @Command(name = "show", mixinStandardHelpOptions = true, description = "One run: inputs, parameters, metrics.")
  static final class Show implements Callable<Integer> {
    @Parameters(paramLabel = "RUN")
    String runId;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      RunsTable.Run r = new RunsTable(SparkSessions.getOrCreate("kiln runs"), common.dataRoot()).get(runId);
      PrintWriter out = common.out();
      out.println(common.json ? Json.toJson(r) : Json.toPrettyJson(r));
      return 0;
    }
  }

  @Command(name = "compare", mixinStandardHelpOptions = true, description = "Runs side by side: metrics and params.")
  static final class Compare implements Callable<Integer> {
    @Parameters(paramLabel = "RUN", arity = "2..*")
    List<String> runIds;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      RunsTable table = new RunsTable(SparkSessions.getOrCreate("kiln runs"), common.dataRoot());
      List<RunsTable.Run> runs = runIds.stream().map(table::get).toList();
      TreeSet<String> metrics = new TreeSet<>();
      TreeSet<String> params = new TreeSet<>();
      runs.forEach(r -> {
        metrics.addAll(r.metrics().keySet());
        params.addAll(r.params().keySet());
      });
      List<String> header = new ArrayList<>(List.of(""));
      runs.forEach(r -> header.add(r.runId()));
      List<List<String>> rows = new ArrayList<>();
      rows.add(row("model", runs.stream().map(RunsTable.Run::modelType).toList()));
      rows.add(row("status", runs.stream().map(RunsTable.Run::status).toList()));
      rows.add(row("trainset", runs.stream().map(RunsTable.Run::trainsetId).toList()));
      metrics.forEach(m -> rows.add(row(m, runs.stream().map(r -> f(r.metrics().get(m))).toList())));
      params.forEach(p -> rows.add(row(p, runs.stream().map(r -> r.params().getOrDefault(p, "")).toList())));
      TextTable.print(common.out(), header, rows);
      return 0;
    }

    private static List<String> row(String name, List<String> values) {
      List<String> row = new ArrayList<>(List.of(name));
      row.addAll(values);
      return row;
    }
  }
}
