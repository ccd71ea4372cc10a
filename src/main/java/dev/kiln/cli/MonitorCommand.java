package dev.kiln.cli;

import dev.kiln.common.ExitCodes;
import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.SparkSessions;
import dev.kiln.monitor.MonitorConfig;
import dev.kiln.monitor.MonitorJob;
import dev.kiln.monitor.MonitorReport;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "monitor", mixinStandardHelpOptions = true,
    description = {"Check a batch of predictions for drift and data quality against the model's training data, and "
        + "model quality where labels have arrived.",
        "Results go to meta.monitoring and an HTML report. Exit code 3 when a threshold is crossed (the retrain "
            + "signal for pipelines), 0 otherwise, 2 for bad input."})
final class MonitorCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, paramLabel = "NAME@ALIAS",
      description = "Whose training data is the baseline: NAME@champion, NAME@candidate or NAME@VERSION.")
  String model;

  @Option(names = "--current", paramLabel = "TABLE",
      description = "The predictions table to check (default: predictions.<name>).")
  String current;

  @Option(names = "--batch-id", paramLabel = "ID", description = "Check this scoring batch ...")
  String batchId;

  @Option(names = "--from", paramLabel = "TIME", description = "... or the predictions of events from TIME "
      + "(ISO date or instant) ...")
  String from;

  @Option(names = "--to", paramLabel = "TIME", description = "... up to TIME (exclusive).")
  String to;

  @Option(names = "--conf", paramLabel = "FILE",
      description = "Thresholds (default: conf/monitor/default.yaml).")
  Path conf;

  @Option(names = "--report", paramLabel = "PATH",
      description = "Where to write the HTML report (default: <data-root>/reports/<monitor id>.html).")
  Path report;

  @Mixin
  CommonOptions common;

  @Override
  public Integer call() {
    MonitorConfig config = new MonitorConfig(common.dataRoot(), model, Optional.ofNullable(current),
        Optional.ofNullable(batchId), Optional.ofNullable(from).map(t -> instant(t, "--from")),
        Optional.ofNullable(to).map(t -> instant(t, "--to")), conf, Optional.ofNullable(report));
    MonitorJob.Result r = new MonitorJob(config).run(SparkSessions.getOrCreate("kiln monitor " + model));
    MonitorReport rep = r.report();
    PrintWriter out = common.out();
    if (common.json) {
      Map<String, Object> json = new LinkedHashMap<>();
      json.put("monitor_id", r.monitorId());
      json.put("verdict", rep.verdict().id());
      json.put("report_path", r.reportPath().orElse(null));
      json.put("report", rep);
      json.put("stage_seconds", r.stageSeconds());
      json.put("stage_peak_heap_mib", r.stagePeakHeapMib());
      out.println(Json.toJson(json));
    } else {
      long alerts = rep.features().stream().filter(f -> f.status() == MonitorReport.Status.ALERT).count();
      out.printf("%s: %s@%s (version %d) on %s: %,d rows against %,d baseline rows; %d of %d features drifted%n",
          rep.verdict(), rep.modelName(), rep.alias(), rep.modelVersion(), rep.current(), rep.currentRows(),
          rep.baselineRows(), alerts, rep.features().size());
      rep.reasons().forEach(reason -> out.println("  - " + reason));
      out.println("  results in meta.monitoring (monitor_id " + r.monitorId() + ")");
      r.reportPath().ifPresent(p -> out.println("  report " + p));
      Summaries.printStages(out, r.stageSeconds(), r.stagePeakHeapMib());
    }
    return rep.verdict() == MonitorReport.Status.ALERT ? ExitCodes.THRESHOLD_CROSSED : ExitCodes.OK;
  }

  static Instant instant(String text, String option) {
    try {
      return text.length() == 10 ? LocalDate.parse(text).atStartOfDay(ZoneOffset.UTC).toInstant() : Instant.parse(text);
    } catch (DateTimeParseException e) {
      throw new KilnUserException(option + " '" + text + "' is not a date (2026-03-02) or an instant "
          + "(2026-03-02T00:00:00Z)");
    }
  }
}
