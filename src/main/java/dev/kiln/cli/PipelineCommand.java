package dev.kiln.cli;

import dev.kiln.common.ExitCodes;
import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.SparkSessions;
import dev.kiln.pipeline.InProcessLauncher;
import dev.kiln.pipeline.PipelineRunner;
import dev.kiln.pipeline.PipelineRunsTable;
import dev.kiln.pipeline.PipelineScheduler;
import dev.kiln.pipeline.PipelineSpec;
import dev.kiln.pipeline.ProcessLauncher;
import dev.kiln.pipeline.TaskLauncher;
import dev.kiln.pipeline.TaskSpec;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Clock;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "pipeline", mixinStandardHelpOptions = true,
    description = {"Run pipelines of Kiln commands from a spec (conf/pipelines/*.yaml; format: docs/pipelines.md): "
        + "the embedded orchestrator. The same spec is an Airflow DAG (deploy/airflow/dags).",
        "Each task's state is recorded in meta.pipeline_runs; running a date again resumes it."},
    subcommands = {PipelineCommand.Run.class, PipelineCommand.Backfill.class, PipelineCommand.Status.class,
        PipelineCommand.Schedule.class, PipelineCommand.Show.class})
final class PipelineCommand {
  private PipelineCommand() {}

  /** What every subcommand that runs tasks takes. */
  static final class RunOptions {
    @Parameters(index = "0", paramLabel = "SPEC", description = "The pipeline spec, e.g. conf/pipelines/daily_training.yaml.")
    Path spec;

    @Option(names = "--param", paramLabel = "NAME=VALUE",
        description = "Override a param of the spec, e.g. --param incoming=/data/in (repeatable).")
    Map<String, String> params = new LinkedHashMap<>();

    @Option(names = "--parallelism", defaultValue = "2", paramLabel = "N",
        description = "Independent tasks run at the same time (default: ${DEFAULT-VALUE}).")
    int parallelism;

    @Option(names = "--isolate", description = "Run each task as its own JVM process instead of in this JVM on one "
        + "SparkContext (each task in its own Spark session); slower by a JVM + Spark start per task.")
    boolean isolate;

    @Option(names = "--force", description = "Run every task again, also those an earlier run of the date finished.")
    boolean force;
  }

  @Command(name = "run", mixinStandardHelpOptions = true,
      description = {"Run the pipeline for one logical date. Tasks start when what they depend on succeeded "
          + "(independent ones at the same time); failed attempts are retried with backoff. Running a date again "
          + "resumes it: tasks that succeeded are not run again.",
          "Exit code 0 when the run succeeded, 4 when a task failed, 2 for a bad spec or argument."})
  static final class Run implements Callable<Integer> {
    @Mixin
    RunOptions run;

    @Option(names = "--date", paramLabel = "YYYY-MM-DD",
        description = "Logical date ({{ ds }}); default: the latest date whose schedule interval has closed "
            + "(today, UTC, without a schedule).")
    String date;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      PipelineSpec spec = PipelineSpec.load(run.spec);
      spec.params(run.params); // an unknown --param is an error before Spark starts
      LocalDate ds = date == null ? defaultDate(spec) : date("--date", date);
      Execution ex = Execution.start(spec, run, common);
      PipelineRunner.RunResult r = ex.runner.run(ds);
      if (common.json) {
        common.out().println(Json.toJson(r));
      }
      return r.succeeded() ? ExitCodes.OK : ExitCodes.RUN_FAILED;
    }
  }

  @Command(name = "backfill", mixinStandardHelpOptions = true,
      description = {"Run the pipeline for every date from --from to --to (inclusive), one date after the other, "
          + "oldest first; dates that already succeeded are not run again. Stops at the first date that fails, "
          + "since later dates build on earlier ones (incremental features, promoted models).",
          "Exit code 0 when every date succeeded, 4 otherwise."})
  static final class Backfill implements Callable<Integer> {
    @Mixin
    RunOptions run;

    @Option(names = "--from", required = true, paramLabel = "YYYY-MM-DD", description = "First logical date.")
    String from;

    @Option(names = "--to", required = true, paramLabel = "YYYY-MM-DD", description = "Last logical date.")
    String to;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      PipelineSpec spec = PipelineSpec.load(run.spec);
      spec.params(run.params);
      LocalDate first = date("--from", from);
      LocalDate last = date("--to", to);
      if (last.isBefore(first)) {
        throw new KilnUserException("--to " + last + " is before --from " + first);
      }
      if (first.plusDays(3660).isBefore(last)) {
        throw new KilnUserException("a backfill covers at most 10 years of days (--from " + first + " --to " + last
            + ")");
      }
      Execution ex = Execution.start(spec, run, common);
      List<PipelineRunner.RunResult> results = new ArrayList<>();
      for (LocalDate ds = first; !ds.isAfter(last); ds = ds.plusDays(1)) {
        PipelineRunner.RunResult r = ex.runner.run(ds);
        results.add(r);
        if (!r.succeeded()) {
          break;
        }
      }
      long ok = results.stream().filter(PipelineRunner.RunResult::succeeded).count();
      long days = first.until(last).getDays() + 1;
      PrintWriter out = common.json ? common.err() : common.out();
      out.printf("backfill %s %s..%s: %d of %d dates succeeded%s%n", spec.name(), first, last, ok, days,
          ok == days ? "" : "; stopped at " + results.get(results.size() - 1).logicalDate() + " (failed)");
      if (common.json) {
        common.out().println(Json.toJson(results));
      }
      return ok == days ? ExitCodes.OK : ExitCodes.RUN_FAILED;
    }
  }

  @Command(name = "status", mixinStandardHelpOptions = true,
      description = "Recorded runs of a pipeline (newest first), or with --date each task's state and attempts.")
  static final class Status implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "SPEC", description = "The pipeline spec.")
    Path spec;

    @Option(names = "--date", paramLabel = "YYYY-MM-DD", description = "Show the tasks of this logical date.")
    String date;

    @Option(names = "--limit", defaultValue = "20", description = "Runs to list (default: ${DEFAULT-VALUE}).")
    int limit;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      PipelineSpec p = PipelineSpec.load(spec);
      PipelineRunsTable table = new PipelineRunsTable(SparkSessions.getOrCreate("kiln pipeline status"),
          common.dataRoot());
      if (date == null) {
        List<PipelineRunsTable.Entry> runs = table.runs(p.name()).stream().limit(limit).toList();
        if (runs.isEmpty() && !common.json) {
          common.out().println("no recorded runs of " + p.name() + " in " + common.dataRoot());
          return 0;
        }
        return common.printJsonLinesOrTable(runs, List.of("date", "state", "run", "mode", "started", "seconds",
            "summary"), e -> List.of(e.logicalDate().toString(), e.state().id(), e.runId(), e.mode(),
            String.valueOf(e.startedAt()), e.durationS() == null ? "" : String.format(Locale.ROOT, "%.1f",
                e.durationS()), e.message() == null ? "" : e.message()));
      }
      LocalDate ds = date("--date", date);
      Map<String, PipelineRunsTable.Entry> states = table.latestTaskStates(p.name(), ds);
      List<PipelineRunsTable.Entry> history = table.history(p.name(), ds);
      List<List<String>> rows = new ArrayList<>();
      for (TaskSpec t : p.tasks()) {
        PipelineRunsTable.Entry e = states.get(t.id());
        long attempts = history.stream().filter(h -> h.task().filter(t.id()::equals).isPresent()
            && h.attempt() != null).count();
        rows.add(List.of(t.id(), e == null ? "not run" : e.state().id(), String.valueOf(attempts),
            e == null || e.exitCode() == null ? "" : String.valueOf(e.exitCode()),
            e == null || e.durationS() == null ? "" : String.format(Locale.ROOT, "%.1f", e.durationS()),
            e == null || e.message() == null ? "" : e.message()));
      }
      if (common.json) {
        states.values().forEach(e -> common.out().println(Json.toJson(e)));
        return 0;
      }
      table.run(p.name(), ds).ifPresent(r -> common.out().printf("%s %s: %s (run %s)%n", p.name(), ds,
          r.state().id(), r.runId()));
      TextTable.print(common.out(), List.of("task", "state", "attempts", "exit", "seconds", "message"), rows);
      return 0;
    }
  }

  @Command(name = "schedule", mixinStandardHelpOptions = true,
      description = {"A foreground scheduler for one machine: at each tick of the spec's schedule (UTC) run the "
          + "date whose interval the tick closes (the 06:00 run on March 3 is for 2026-03-02); with catchup: true, "
          + "every missed date first. Stops cleanly on SIGTERM or Ctrl-C: running tasks are cancelled and recorded, "
          + "and the next start resumes them."})
  static final class Schedule implements Callable<Integer> {
    @Mixin
    RunOptions run;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      PipelineSpec spec = PipelineSpec.load(run.spec);
      spec.params(run.params);
      Execution ex = Execution.start(spec, run, common);
      PipelineScheduler scheduler = new PipelineScheduler(spec, new PipelineRunsTable(ex.spark, common.dataRoot()),
          ex.runner::run, Clock.systemUTC());
      Runnable stop = () -> {
        common.out().println("stopping: " + spec.name() + " scheduler received a stop signal");
        common.out().flush();
        scheduler.stop();
        ex.runner.stop();
      };
      StopSignals.install(stop);
      common.out().printf("scheduling %s (%s, UTC, catchup %s); stop with SIGTERM or Ctrl-C%n", spec.name(),
          spec.schedule().orElseThrow(), spec.catchup());
      common.out().flush();
      scheduler.loop(common.out());
      common.out().println("scheduler stopped");
      return 0;
    }
  }

  @Command(name = "show", mixinStandardHelpOptions = true,
      description = "Print the spec's tasks as they would run for a date: dependencies, branches, retries and the "
          + "rendered command lines (nothing runs).")
  static final class Show implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "SPEC", description = "The pipeline spec.")
    Path spec;

    @Option(names = "--date", paramLabel = "YYYY-MM-DD", description = "Logical date to render (default: as for run).")
    String date;

    @Option(names = "--param", paramLabel = "NAME=VALUE", description = "Override a param of the spec.")
    Map<String, String> params = new LinkedHashMap<>();

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      PipelineSpec p = PipelineSpec.load(spec);
      Map<String, String> values = p.params(params);
      LocalDate ds = date == null ? defaultDate(p) : date("--date", date);
      List<Map<String, Object>> tasks = new ArrayList<>();
      for (TaskSpec t : p.tasks()) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", t.id());
        m.put("depends_on", t.dependsOn());
        m.put("args", t.commandLine(ds, values, common.dataRoot().uri()));
        m.put("retries", t.retries());
        m.put("retry_delay_s", t.retryDelay().toSeconds());
        m.put("retry_exponential_backoff", t.exponentialBackoff());
        m.put("max_retry_delay_s", t.maxRetryDelay().map(java.time.Duration::toSeconds).orElse(null));
        m.put("timeout_s", t.timeout().map(java.time.Duration::toSeconds).orElse(null));
        m.put("branch", new java.util.TreeMap<>(t.branch()));
        tasks.add(m);
      }
      PrintWriter out = common.out();
      if (common.json) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("pipeline", p.name());
        json.put("schedule", p.schedule().map(Object::toString).orElse(null));
        json.put("start_date", p.startDate().toString());
        json.put("catchup", p.catchup());
        json.put("logical_date", ds.toString());
        json.put("params", values);
        json.put("tasks", tasks);
        out.println(Json.toJson(json));
        return 0;
      }
      out.printf("%s: %s%n  schedule %s (UTC), start %s, catchup %s; logical date %s%n", p.name(), p.description(),
          p.schedule().map(Object::toString).orElse("none (manual)"), p.startDate(), p.catchup(), ds);
      for (Map<String, Object> t : tasks) {
        TaskSpec s = p.task((String) t.get("id"));
        out.printf("  %s%s%s%n      kiln %s%n", s.id(), s.dependsOn().isEmpty() ? "" : " <- " + String.join(", ",
            s.dependsOn()), s.branch().isEmpty() ? "" : "  branch " + new java.util.TreeMap<>(s.branch()),
            String.join(" ", ((List<?>) t.get("args")).stream().map(String::valueOf).map(PipelineCommand::quote)
                .toList()));
      }
      return 0;
    }
  }

  /** The Spark session and runner a run, backfill or schedule uses. */
  private record Execution(SparkSession spark, PipelineRunner runner) {
    static Execution start(PipelineSpec spec, RunOptions run, CommonOptions common) {
      SparkSession spark = SparkSessions.getOrCreate("kiln pipeline " + spec.name());
      TaskLauncher launcher;
      if (run.isolate) {
        String master = spark.sparkContext().master();
        if (!master.startsWith("local")) {
          throw new KilnUserException("--isolate starts each task as a local JVM; under spark-submit (master "
              + master + ") run the pipeline without it, or as the Airflow DAG");
        }
        launcher = ProcessLauncher.sameJvm(KilnCli.class.getName());
      } else {
        launcher = new InProcessLauncher(spark, (args, out, err) -> KilnCli.execute(args, out, err));
      }
      PrintWriter progress = common.json ? common.err() : common.out();
      return new Execution(spark, new PipelineRunner(spark, spec, launcher, new PipelineRunner.Options(
          common.dataRoot(), run.params, run.parallelism, run.force), progress));
    }
  }

  /** The latest date whose schedule interval has closed; today (UTC) without a schedule. */
  static LocalDate defaultDate(PipelineSpec spec) {
    LocalDate today = LocalDate.now(ZoneOffset.UTC);
    return spec.schedule().flatMap(c -> c.latestLogicalDate(java.time.Instant.now())).orElse(today);
  }

  static LocalDate date(String option, String text) {
    try {
      return LocalDate.parse(text);
    } catch (DateTimeParseException e) {
      throw new KilnUserException(option + " '" + text + "' is not a date (2026-03-02)");
    }
  }

  static String quote(String arg) {
    return arg.isEmpty() || arg.matches(".*[\\s'\"$*?;&|<>()].*") ? "'" + arg.replace("'", "'\\''") + "'" : arg;
  }
}
