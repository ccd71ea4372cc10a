package dev.kiln.pipeline;

import dev.kiln.common.DataRoot;
import dev.kiln.common.HadoopFiles;
import dev.kiln.pipeline.PipelineRunsTable.Entry;
import dev.kiln.pipeline.PipelineRunsTable.State;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.SparkSession;

/**
 * Kiln's embedded orchestrator: runs one pipeline for one logical date. Tasks start as soon as everything they
 * depend on succeeded (independent ones concurrently, up to {@code parallelism}), failed attempts are retried with
 * backoff, and every state change is recorded in {@code meta.pipeline_runs}, so a re-run of the same date (after a
 * failure or a kill) resumes: tasks that succeeded are not run again, and the branch they took still holds.
 */
public final class PipelineRunner {
  /**
   * @param force run every task again, ignoring what earlier runs of the date finished
   */
  public record Options(DataRoot dataRoot, Map<String, String> paramOverrides, int parallelism, boolean force) {
    public Options {
      paramOverrides = Map.copyOf(paramOverrides);
      if (parallelism < 1) {
        throw new dev.kiln.common.KilnUserException("--parallelism must be at least 1 (got " + parallelism + ")");
      }
    }
  }

  /** How a task ended in this run; {@code earlier}: it had succeeded in an earlier run and was not run again. */
  public record TaskResult(String task, String state, Integer exitCode, int attempts, double seconds, String message,
                           boolean earlier) {}

  public record RunResult(String pipeline, LocalDate logicalDate, String runId, String state, String mode,
                          double seconds, List<TaskResult> tasks) {
    public boolean succeeded() {
      return state.equals(State.SUCCESS.id());
    }

    public long count(String taskState) {
      return tasks.stream().filter(t -> t.state().equals(taskState)).count();
    }
  }

  private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss");

  private final SparkSession spark;
  private final PipelineSpec spec;
  private final TaskLauncher launcher;
  private final Options options;
  private final PipelineRunsTable table;
  private final PrintWriter progress;
  private volatile boolean stopping;

  public PipelineRunner(SparkSession spark, PipelineSpec spec, TaskLauncher launcher, Options options,
                        PrintWriter progress) {
    this.spark = spark;
    this.spec = spec;
    this.launcher = launcher;
    this.options = options;
    this.table = new PipelineRunsTable(spark, options.dataRoot());
    this.progress = progress;
  }

  /** Stops the run in progress: running attempts are cancelled, nothing new starts; a later run resumes. */
  public void stop() {
    stopping = true;
    launcher.cancelAll();
  }

  public RunResult run(LocalDate ds) {
    Map<String, String> params = spec.params(options.paramOverrides());
    Map<String, List<String>> args = new LinkedHashMap<>();
    for (TaskSpec t : spec.tasks()) {
      args.put(t.id(), t.commandLine(ds, params, options.dataRoot().uri()));
    }
    String runId = UUID.randomUUID().toString().substring(0, 8);
    Instant started = Instant.now();
    Map<String, Entry> earlier = options.force() ? Map.of() : table.latestTaskStates(spec.name(), ds);
    table.record(List.of(runEntry(ds, runId, State.RUNNING, started, null, null)));

    Map<String, TaskResult> results = new LinkedHashMap<>();
    for (TaskSpec t : spec.tasks()) {
      Entry e = earlier.get(t.id());
      if (e != null && e.state() == State.SUCCESS) {
        results.put(t.id(), new TaskResult(t.id(), State.SUCCESS.id(), e.exitCode(), 0, 0, e.message(), true));
      }
    }
    say("%s %s: %d tasks%s, %s, up to %d at a time (run %s)", spec.name(), ds, spec.tasks().size(),
        results.isEmpty() ? "" : " (" + results.size() + " succeeded in an earlier run: " + String.join(", ",
            results.keySet()) + ")", launcher.mode(), options.parallelism(), runId);

    LinkedBlockingQueue<TaskResult> finished = new LinkedBlockingQueue<>();
    ExecutorService workers = Executors.newFixedThreadPool(options.parallelism(), r -> {
      Thread t = new Thread(r, "kiln-pipeline-worker");
      t.setDaemon(true);
      return t;
    });
    int running = 0;
    try {
      while (true) {
        List<Entry> settledRows = new ArrayList<>();
        for (TaskSpec t : spec.tasks()) {
          if (results.containsKey(t.id())) {
            continue;
          }
          Optional<TaskResult> settled = settleWithoutRunning(t, results, ds, runId, settledRows);
          if (settled.isPresent()) {
            results.put(t.id(), settled.get());
          } else if (ready(t, results) && !stopping) {
            results.put(t.id(), new TaskResult(t.id(), State.RUNNING.id(), null, 0, 0, null, false));
            workers.submit(() -> finished.add(runTaskOrReport(t, args.get(t.id()), ds, runId)));
            running++;
          }
        }
        table.record(settledRows); // the tasks that will not run, decided in this pass: one commit
        if (running == 0) {
          break;
        }
        TaskResult r = finished.take();
        results.put(r.task(), r);
        running--;
      }
    } catch (InterruptedException e) {
      stop();
      Thread.currentThread().interrupt();
    } finally {
      workers.shutdownNow();
    }

    List<TaskResult> tasks = spec.tasks().stream().map(t -> results.getOrDefault(t.id(),
        new TaskResult(t.id(), "not_started", null, 0, 0, stopping ? "stopped" : null, false))).toList();
    boolean ok = !stopping && tasks.stream().allMatch(t -> t.state().equals(State.SUCCESS.id())
        || t.state().equals(State.SKIPPED.id()));
    double seconds = Duration.between(started, Instant.now()).toMillis() / 1000.0;
    RunResult result = new RunResult(spec.name(), ds, runId, (ok ? State.SUCCESS : State.FAILED).id(),
        launcher.mode(), seconds, tasks);
    String summary = summary(result);
    table.record(List.of(runEntry(ds, runId, ok ? State.SUCCESS : State.FAILED, started, Instant.now(), summary)));
    say("%s", summary);
    return result;
  }

  /** One line: how the run ended and what each task did. */
  static String summary(RunResult r) {
    long earlier = r.tasks().stream().filter(TaskResult::earlier).count();
    List<String> failed = r.tasks().stream().filter(t -> t.state().equals(State.FAILED.id())).map(TaskResult::task)
        .toList();
    return String.format("%s %s: %s in %.1f s: %d succeeded%s, %d skipped, %d failed%s%s", r.pipeline(),
        r.logicalDate(), r.state(), r.seconds(), r.count(State.SUCCESS.id()),
        earlier > 0 ? " (" + earlier + " in an earlier run)" : "", r.count(State.SKIPPED.id()), failed.size(),
        failed.isEmpty() ? "" : " (" + String.join(", ", failed) + ")",
        r.count(State.UPSTREAM_FAILED.id()) > 0 ? ", " + r.count(State.UPSTREAM_FAILED.id()) + " not run (upstream "
            + "failed)" : "");
  }

  /** Whether every upstream task succeeded and, where it branches, chose {@code t}. */
  private boolean ready(TaskSpec t, Map<String, TaskResult> results) {
    for (String dep : t.dependsOn()) {
      TaskResult r = results.get(dep);
      if (r == null || !r.state().equals(State.SUCCESS.id())) {
        return false;
      }
    }
    return true;
  }

  /** A task that will not run: an upstream failed, was skipped, or branched elsewhere. Recorded as such. */
  private Optional<TaskResult> settleWithoutRunning(TaskSpec t, Map<String, TaskResult> results, LocalDate ds,
                                                    String runId, List<Entry> rows) {
    State state = null;
    String why = null;
    for (String dep : t.dependsOn()) {
      TaskResult r = results.get(dep);
      if (r == null || r.state().equals(State.RUNNING.id())) {
        return Optional.empty(); // not decided yet
      }
      if (r.state().equals(State.FAILED.id()) || r.state().equals(State.UPSTREAM_FAILED.id())) {
        state = State.UPSTREAM_FAILED;
        why = "upstream task " + dep + " " + (r.state().equals(State.FAILED.id()) ? "failed" : "did not run");
      } else if (state == null && r.state().equals(State.SKIPPED.id())) {
        state = State.SKIPPED;
        why = "upstream task " + dep + " was skipped";
      } else if (state == null && r.exitCode() != null) {
        Optional<List<String>> chosen = spec.task(dep).chosen(r.exitCode());
        // as Airflow's branch operators: a task not chosen still runs when it comes after a chosen one
        if (chosen.isPresent() && chosen.get().stream().noneMatch(c -> c.equals(t.id()) || spec.reaches(c, t.id()))) {
          state = State.SKIPPED;
          why = "branch of " + dep + " (exit " + r.exitCode() + ") chose "
              + (chosen.get().isEmpty() ? "no task" : String.join(", ", chosen.get()));
        }
      }
    }
    if (state == null) {
      return Optional.empty();
    }
    Instant now = Instant.now();
    rows.add(new Entry(spec.name(), ds, runId, Optional.of(t.id()), null, state, null, null, now, null, why, null,
        null, launcher.mode(), spec.hash(), now));
    say("  %s %-16s %s: %s", clock(), t.id(), state.id().replace('_', ' '), why);
    return Optional.of(new TaskResult(t.id(), state.id(), null, 0, 0, why, false));
  }

  /** {@link #runTask}, where a failure of the runner itself (e.g. recording a state) fails the task, not the run. */
  private TaskResult runTaskOrReport(TaskSpec t, List<String> args, LocalDate ds, String runId) {
    try {
      return runTask(t, args, ds, runId);
    } catch (RuntimeException | Error e) {
      say("  %s %-16s failed: internal error in the runner: %s", clock(), t.id(), e);
      return new TaskResult(t.id(), State.FAILED.id(), null, 0, 0, "internal error in the runner: " + e, false);
    }
  }

  /** All attempts of one task, on a worker thread. */
  private TaskResult runTask(TaskSpec t, List<String> args, LocalDate ds, String runId) {
    Instant first = Instant.now();
    int attempts = t.retries() + 1;
    for (int n = 1; ; n++) {
      // Only an attempt's end is recorded: a task without an end row for this run was running when the runner
      // stopped or died, and the next run starts it again. (A commit per state change would double the commits.)
      Instant start = Instant.now();
      say("  %s %-16s started%s", clock(), t.id(), attempts > 1 ? " (attempt " + n + " of " + attempts + ")" : "");
      TaskLauncher.Outcome o = launcher.launch(new TaskLauncher.Attempt(runId, t.id(), n, args, t.timeout()));
      Instant end = Instant.now();
      double seconds = Duration.between(start, end).toMillis() / 1000.0;
      String logPath = writeLog(ds, t.id(), n, args, o);
      boolean ok = o.exitCode() != null && t.succeeded(o.exitCode());
      if (ok) {
        String note = t.chosen(o.exitCode()).map(c -> "exit " + o.exitCode() + ": runs " + (c.isEmpty() ? "no "
            + "downstream task" : String.join(", ", c))).orElse(null);
        table.record(List.of(new Entry(spec.name(), ds, runId, Optional.of(t.id()), n, State.SUCCESS, o.exitCode(),
            start, end, seconds, note, args, logPath, launcher.mode(), spec.hash(), end)));
        say("  %s %-16s succeeded in %.1f s%s", clock(), t.id(), seconds, note == null ? "" : " (" + note + ")");
        return new TaskResult(t.id(), State.SUCCESS.id(), o.exitCode(), n,
            Duration.between(first, end).toMillis() / 1000.0, note, false);
      }
      String why = (o.exitCode() == null ? o.message() : "exit " + o.exitCode() + ": "
          + TaskLauncher.failureLine(o.output()));
      boolean retry = n < attempts && !stopping;
      Duration delay = retry ? t.delayBeforeRetry(n) : Duration.ZERO;
      table.record(List.of(new Entry(spec.name(), ds, runId, Optional.of(t.id()), n, State.FAILED, o.exitCode(),
          start, end, seconds, why, args, logPath, launcher.mode(), spec.hash(), end)));
      say("  %s %-16s failed in %.1f s (%s)%s; log %s", clock(), t.id(), seconds, why,
          retry ? "; retry " + n + " of " + t.retries() + " in " + Durations.text(delay) : stopping ? "; stopping"
              : "", logPath);
      if (!retry || !sleep(delay)) {
        return new TaskResult(t.id(), State.FAILED.id(), o.exitCode(), n,
            Duration.between(first, end).toMillis() / 1000.0, why, false);
      }
    }
  }

  private boolean sleep(Duration d) {
    long until = System.nanoTime() + d.toNanos();
    try {
      while (!stopping && System.nanoTime() < until) {
        TimeUnit.NANOSECONDS.sleep(Math.min(until - System.nanoTime(), TimeUnit.MILLISECONDS.toNanos(200)));
      }
      return !stopping;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** The attempt's command line and output under {@code <data root>/logs/pipelines/...}; its path. */
  private String writeLog(LocalDate ds, String task, int attempt, List<String> args, TaskLauncher.Outcome o) {
    String path = options.dataRoot().resolve("logs/pipelines/" + spec.name() + "/" + ds + "/" + task + "." + attempt
        + ".log");
    String text = "$ kiln " + String.join(" ", args) + "\n" + o.output()
        + (o.exitCode() == null ? "\n" + o.message() + "\n" : "\nexit " + o.exitCode() + "\n");
    try {
      HadoopFiles.writeAtomically(spark, path, text);
    } catch (RuntimeException e) {
      return "(not written: " + e.getMessage() + ")";
    }
    return path;
  }

  private Entry runEntry(LocalDate ds, String runId, State state, Instant started, Instant ended, String message) {
    Instant now = Instant.now();
    return new Entry(spec.name(), ds, runId, Optional.empty(), null, state, null, started, ended,
        ended == null ? null : Duration.between(started, ended).toMillis() / 1000.0, message, null, null,
        launcher.mode(), spec.hash(), now);
  }

  private static String clock() {
    return LocalTime.now(ZoneOffset.UTC).format(CLOCK);
  }

  private void say(String format, Object... args) {
    synchronized (progress) {
      progress.printf(format + "%n", args);
      progress.flush();
    }
  }
}
