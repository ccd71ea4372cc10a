package dev.kiln.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kiln.airflow.AirflowClient;
import dev.kiln.airflow.AirflowCredentials;
import dev.kiln.airflow.ApiVersion;
import dev.kiln.airflow.ClearResult;
import dev.kiln.airflow.DagRun;
import dev.kiln.airflow.RetryPolicy;
import dev.kiln.airflow.TaskInstance;
import dev.kiln.airflow.TaskLog;
import dev.kiln.airflow.TriggerResult;
import dev.kiln.airflow.WaitResult;
import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.Messages;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code kiln airflow ...}: trigger and follow Airflow DAG runs over Airflow's REST API ({@link AirflowClient}).
 * Exit codes: 0 ok (for {@code wait} and {@code trigger --wait}: the run succeeded), 2 user error, {@value #RUN_FAILED}
 * the run failed, {@value #WAIT_TIMED_OUT} the wait timed out before the run finished.
 */
@Command(name = "airflow", mixinStandardHelpOptions = true,
    description = {"Trigger and follow Airflow DAG runs over Airflow's REST API "
        + "(Airflow 2: /api/v1, Airflow 3: /api/v2).",
        "URL: --url or $KILN_AIRFLOW_URL. Credentials: $KILN_AIRFLOW_USERNAME + $KILN_AIRFLOW_PASSWORD, or "
            + "$KILN_AIRFLOW_TOKEN, or --credentials-file; never printed."},
    subcommands = {AirflowCommand.Trigger.class, AirflowCommand.Status.class, AirflowCommand.Wait.class,
        AirflowCommand.Tasks.class, AirflowCommand.Logs.class, AirflowCommand.Clear.class},
    footer = {"", "Exit codes:", "  0 ok (wait, trigger --wait: the run succeeded)", "  1 internal failure",
        "  2 user error: bad argument, credentials refused, not found, unreachable", "  4 the run failed",
        "  5 wait timed out before the run finished"})
final class AirflowCommand implements Runnable {
  /** {@code wait}, {@code trigger --wait}: the run ended in {@code failed}. */
  static final int RUN_FAILED = dev.kiln.common.ExitCodes.RUN_FAILED;
  /** {@code wait}, {@code trigger --wait}: the timeout passed while the run was still queued or running. */
  static final int WAIT_TIMED_OUT = dev.kiln.common.ExitCodes.WAIT_TIMED_OUT;

  @Spec
  CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(),
        "a subcommand is required: trigger, status, wait, tasks, logs, clear");
  }

  /** Options every {@code kiln airflow} subcommand takes. */
  static final class AirflowOptions {
    @Option(names = "--url", paramLabel = "URL",
        description = "Airflow base URL, e.g. https://airflow.example.com (default: $KILN_AIRFLOW_URL).")
    String url;

    @Option(names = "--api", paramLabel = "v1|v2|auto", defaultValue = "auto",
        description = "REST API: v1 (Airflow 2), v2 (Airflow 3), or auto: probe /api/v2/version, then /api/v1/version "
            + "(default: ${DEFAULT-VALUE}).")
    String api;

    @Option(names = "--credentials-file", paramLabel = "PATH",
        description = "A file of username=, password= or token= lines (default: $KILN_AIRFLOW_USERNAME and "
            + "$KILN_AIRFLOW_PASSWORD, or $KILN_AIRFLOW_TOKEN).")
    Path credentialsFile;

    @Option(names = "--max-attempts", paramLabel = "N", defaultValue = "5",
        description = "HTTP attempts per request on 429, 5xx and connection errors (default: ${DEFAULT-VALUE}).")
    int maxAttempts;

    @Option(names = "--json", description = "Print the result as JSON instead of text.")
    boolean json;

    @Option(names = "--verbose",
        description = "Trace each HTTP request (method, URL, status; never credentials) and show stack traces.")
    boolean verbose;

    @Spec(Spec.Target.MIXEE)
    CommandSpec command;

    AirflowClient client() {
      if (maxAttempts < 1) {
        throw new KilnUserException("--max-attempts must be at least 1 (got " + maxAttempts + ")");
      }
      Map<String, String> env = System.getenv();
      AirflowClient.Builder b = AirflowClient.builder(AirflowClient.resolveUrl(Optional.ofNullable(url), env))
          .credentials(AirflowCredentials.resolve(Optional.ofNullable(credentialsFile), env))
          .retryPolicy(RetryPolicy.DEFAULT.withMaxAttempts(maxAttempts));
      String a = api == null ? "auto" : api.strip().toLowerCase(Locale.ROOT);
      if (!a.equals("auto")) {
        b.api(ApiVersion.parse(a));
      }
      if (verbose) {
        PrintWriter err = err();
        b.trace(line -> {
          err.println(line);
          err.flush();
        });
      }
      return b.build();
    }

    PrintWriter out() {
      return command.commandLine().getOut();
    }

    PrintWriter err() {
      return command.commandLine().getErr();
    }
  }

  @Command(name = "trigger", mixinStandardHelpOptions = true,
      description = {"Trigger a run of a DAG. Kiln chooses the run id (unless --run-id), so a retried request never "
          + "starts a second run.", "With --wait, wait for it as 'kiln airflow wait' does (same exit codes)."})
  static final class Trigger implements Callable<Integer> {
    @Parameters(paramLabel = "DAG", description = "The DAG id.")
    String dagId;

    @Option(names = "--conf", paramLabel = "JSON", description = "The run's conf: a JSON object.")
    String conf;

    @Option(names = "--conf-file", paramLabel = "PATH",
        description = "Read the run's conf (a JSON object) from a file.")
    Path confFile;

    @Option(names = "--logical-date", paramLabel = "T",
        description = "Logical date, ISO-8601 (2024-05-01T00:00:00Z or 2024-05-01). Default: Airflow 2 uses now; "
            + "Airflow 3 makes a run without one.")
    String logicalDate;

    @Option(names = "--run-id", paramLabel = "ID", description = "Run id (default: kiln__<UTC time>_<random>).")
    String runId;

    @Option(names = "--wait", description = "Wait for the run to finish.")
    boolean waitForRun;

    @Option(names = "--timeout", paramLabel = "D", defaultValue = "1h",
        description = "With --wait: how long to wait, e.g. 90s, 30m, 2h (default: ${DEFAULT-VALUE}).")
    String timeout;

    @Option(names = "--poll-interval", paramLabel = "D", defaultValue = "5s",
        description = "With --wait: first wait between polls; grows to 8 times that, at most 1m "
            + "(default: ${DEFAULT-VALUE}).")
    String pollInterval;

    @Mixin
    AirflowOptions airflow;

    @Override
    public Integer call() {
      Optional<Instant> date = Optional.ofNullable(logicalDate).map(AirflowCommand::instant);
      if (conf != null && confFile != null) {
        throw new KilnUserException("give --conf or --conf-file, not both");
      }
      Map<String, Object> runConf = confFile != null ? conf(readConf(confFile), "--conf-file " + confFile)
          : conf(conf, "--conf");
      Duration waitTimeout = duration(timeout, "--timeout");
      Duration poll = duration(pollInterval, "--poll-interval");
      AirflowClient client = airflow.client();
      TriggerResult t = client.trigger(dagId, Optional.ofNullable(runId), date, runConf);
      DagRun run = t.run();
      if (!waitForRun) {
        airflow.out().println(airflow.json ? Json.toJson(t) : "triggered DAG " + run.dagId() + ": run "
            + run.dagRunId() + " (" + run.state() + ")" + (t.recoveredAfterRetry() ? ", created by an earlier attempt"
            : ""));
        return 0;
      }
      if (!airflow.json) {
        airflow.out().println("triggered DAG " + run.dagId() + ": run " + run.dagRunId() + " (" + run.state() + ")");
      }
      return waitAndReport(client, airflow, run.dagId(), run.dagRunId(), waitTimeout, poll);
    }
  }

  @Command(name = "status", mixinStandardHelpOptions = true, description = "The state of a DAG run.")
  static final class Status implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DAG")
    String dagId;

    @Parameters(index = "1", paramLabel = "RUN")
    String runId;

    @Mixin
    AirflowOptions airflow;

    @Override
    public Integer call() {
      DagRun run = airflow.client().dagRun(dagId, runId);
      airflow.out().println(airflow.json ? Json.toJson(run) : describe(run));
      return 0;
    }
  }

  @Command(name = "wait", mixinStandardHelpOptions = true,
      description = {"Wait for a DAG run to finish, polling with growing intervals.",
          "Exit code 0: success; 4: the run failed; 5: still queued or running when --timeout passed."})
  static final class Wait implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DAG")
    String dagId;

    @Parameters(index = "1", paramLabel = "RUN")
    String runId;

    @Option(names = "--timeout", paramLabel = "D", defaultValue = "1h",
        description = "How long to wait, e.g. 90s, 30m, 2h (default: ${DEFAULT-VALUE}).")
    String timeout;

    @Option(names = "--poll-interval", paramLabel = "D", defaultValue = "5s",
        description = "First wait between polls; grows to 8 times that, at most 1m (default: ${DEFAULT-VALUE}).")
    String pollInterval;

    @Mixin
    AirflowOptions airflow;

    @Override
    public Integer call() {
      Duration waitTimeout = duration(timeout, "--timeout");
      Duration poll = duration(pollInterval, "--poll-interval");
      return waitAndReport(airflow.client(), airflow, dagId, runId, waitTimeout, poll);
    }
  }

  @Command(name = "tasks", mixinStandardHelpOptions = true, description = "The task instances of a DAG run.")
  static final class Tasks implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DAG")
    String dagId;

    @Parameters(index = "1", paramLabel = "RUN")
    String runId;

    @Mixin
    AirflowOptions airflow;

    @Override
    public Integer call() {
      List<TaskInstance> tasks = airflow.client().taskInstances(dagId, runId);
      PrintWriter out = airflow.out();
      if (airflow.json) {
        tasks.forEach(t -> out.println(Json.toJson(t)));
      } else {
        TextTable.print(out, List.of("task", "state", "try", "started", "ended", "seconds"), tasks.stream()
            .map(t -> List.of(t.label(), t.state() == null ? "-" : t.state(), String.valueOf(t.tryNumber()),
                time(t.startDate()), time(t.endDate()),
                t.durationSeconds() == null ? "-" : String.format(Locale.ROOT, "%.1f", t.durationSeconds())))
            .toList());
      }
      out.flush();
      return 0;
    }
  }

  @Command(name = "logs", mixinStandardHelpOptions = true,
      description = "A task's log. Default: the failed task of the run, its latest try.")
  static final class Logs implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DAG")
    String dagId;

    @Parameters(index = "1", paramLabel = "RUN")
    String runId;

    @Option(names = "--task", paramLabel = "TASK", description = "The task (default: the run's failed task).")
    String taskId;

    @Option(names = "--try", paramLabel = "N", description = "The try number (default: the task's latest try).")
    Integer tryNumber;

    @Mixin
    AirflowOptions airflow;

    @Override
    public Integer call() {
      AirflowClient client = airflow.client();
      String task = taskId;
      int attempt = tryNumber == null ? 0 : tryNumber;
      int mapIndex = -1;
      if (task == null || attempt == 0) {
        List<TaskInstance> tasks = client.taskInstances(dagId, runId);
        TaskInstance chosen;
        if (task == null) {
          List<TaskInstance> failed = tasks.stream().filter(TaskInstance::failed)
              .sorted(Comparator.comparing(TaskInstance::endDate, Comparator.nullsLast(Comparator.naturalOrder())))
              .toList();
          if (failed.isEmpty()) {
            throw new KilnUserException("no failed task in DAG run '" + runId + "' of DAG '" + dagId
                + "': pass --task (tasks: " + String.join(", ", tasks.stream().map(TaskInstance::taskId).toList())
                + ")");
          }
          chosen = failed.get(0);
          if (failed.size() > 1) {
            airflow.err().println("note: " + failed.size() + " tasks failed; showing the first, " + chosen.taskId()
                + " (others: " + String.join(", ", failed.subList(1, failed.size()).stream().map(TaskInstance::taskId)
                .toList()) + "; use --task)");
          }
        } else {
          String wanted = task;
          List<TaskInstance> matching = tasks.stream().filter(t -> t.taskId().equals(wanted)).toList();
          chosen = matching.stream().filter(TaskInstance::failed).findFirst()
              .or(() -> matching.stream().findFirst()).orElseThrow(() ->
                  new KilnUserException("no task '" + wanted + "' in DAG run '" + runId + "' of DAG '" + dagId + "'"));
        }
        task = chosen.taskId();
        mapIndex = chosen.mapIndex();
        if (attempt == 0) {
          attempt = chosen.tryNumber();
          if (attempt < 1) {
            throw new KilnUserException("task '" + task + "' of DAG run '" + runId + "' has not run yet (state "
                + (chosen.state() == null ? "none" : chosen.state()) + ")");
          }
        }
      }
      TaskLog log = client.log(dagId, runId, task, mapIndex, attempt);
      PrintWriter out = airflow.out();
      if (airflow.json) {
        out.println(Json.toJson(log));
      } else {
        airflow.err().println("log of task " + task + (mapIndex < 0 ? "" : "[" + mapIndex + "]") + ", try " + attempt
            + ", DAG run " + runId + " of " + dagId + ":");
        airflow.err().flush();
        out.print(log.content().endsWith("\n") || log.content().isEmpty() ? log.content() : log.content() + "\n");
      }
      out.flush();
      return 0;
    }
  }

  @Command(name = "clear", mixinStandardHelpOptions = true,
      description = "Clear a DAG run's failed (and upstream-failed) tasks, so Airflow runs them again.")
  static final class Clear implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DAG")
    String dagId;

    @Parameters(index = "1", paramLabel = "RUN")
    String runId;

    @Option(names = "--dry-run", description = "Only list what would be cleared.")
    boolean dryRun;

    @Mixin
    AirflowOptions airflow;

    @Override
    public Integer call() {
      ClearResult c = airflow.client().clearFailed(dagId, runId, dryRun);
      PrintWriter out = airflow.out();
      if (airflow.json) {
        out.println(Json.toJson(c));
      } else if (c.taskIds().isEmpty()) {
        out.println("nothing to clear: no failed task in DAG run " + runId + " of " + dagId);
      } else {
        out.println((dryRun ? "would clear " : "cleared ") + c.taskIds().size() + " task instance"
            + (c.taskIds().size() == 1 ? "" : "s") + " of DAG run " + runId + " of " + dagId + ": "
            + String.join(", ", c.taskIds()) + (dryRun ? "" : " (Airflow runs them again)"));
      }
      out.flush();
      return 0;
    }
  }

  // -----------------------------------------------------------------------------------------------------------------

  static int waitAndReport(AirflowClient client, AirflowOptions airflow, String dagId, String runId, Duration timeout,
      Duration poll) {
    PrintWriter err = airflow.err();
    long start = System.nanoTime();
    String[] last = {null};
    WaitResult w = client.waitFor(dagId, runId, timeout, poll, run -> {
      if (!Objects.equals(run.state(), last[0])) {
        last[0] = run.state();
        err.printf(Locale.ROOT, "waiting: DAG run %s of %s is %s (%.0fs)%n", runId, dagId, run.state(),
            (System.nanoTime() - start) / 1e9);
        err.flush();
      }
    });
    PrintWriter out = airflow.out();
    if (airflow.json) {
      out.println(Json.toJson(w));
    } else {
      String when = String.format(Locale.ROOT, "%.1fs, %d poll%s", w.elapsedSeconds(), w.polls(),
          w.polls() == 1 ? "" : "s");
      switch (w.outcome()) {
        case SUCCESS -> out.println("DAG run " + runId + " of " + dagId + ": success (" + when + ")");
        case FAILED -> out.println("DAG run " + runId + " of " + dagId + ": failed (" + when + "); see 'kiln airflow "
            + "tasks " + dagId + " " + runId + "' and 'kiln airflow logs " + dagId + " " + runId + "'");
        case TIMED_OUT -> out.println("DAG run " + runId + " of " + dagId + ": still " + w.run().state()
            + " after the " + timeout.toString().substring(2).toLowerCase(Locale.ROOT) + " timeout (" + when + ")");
        default -> throw new IllegalStateException(w.outcome().name());
      }
    }
    out.flush();
    return switch (w.outcome()) {
      case SUCCESS -> 0;
      case FAILED -> RUN_FAILED;
      case TIMED_OUT -> WAIT_TIMED_OUT;
    };
  }

  static String describe(DagRun run) {
    return "DAG run " + run.dagRunId() + " of " + run.dagId() + ": " + run.state() + " (logical date "
        + time(run.logicalDate()) + ", started " + time(run.startDate()) + ", ended " + time(run.endDate()) + ")";
  }

  private static String time(Instant t) {
    return t == null ? "-" : t.toString();
  }

  private static final Pattern DURATION_PART = Pattern.compile("(\\d+)(ms|s|m|h|d)");

  /** {@code 90}, {@code 90s}, {@code 250ms}, {@code 10m}, {@code 1h30m}, {@code 2d}, or ISO-8601 {@code PT10M}. */
  static Duration duration(String text, String option) {
    String s = text == null ? "" : text.strip().toLowerCase(Locale.ROOT);
    Duration d = null;
    if (s.matches("\\d+")) {
      d = Duration.ofSeconds(Long.parseLong(s));
    } else if (s.startsWith("p")) {
      try {
        d = Duration.parse(s.toUpperCase(Locale.ROOT));
      } catch (DateTimeParseException e) {
        d = null;
      }
    } else if (!s.isEmpty() && s.replaceAll("(\\d+)(ms|s|m|h|d)", "").isEmpty()) {
      d = Duration.ZERO;
      Matcher m = DURATION_PART.matcher(s);
      while (m.find()) {
        long n = Long.parseLong(m.group(1));
        d = d.plus(switch (m.group(2)) {
          case "ms" -> Duration.ofMillis(n);
          case "s" -> Duration.ofSeconds(n);
          case "m" -> Duration.ofMinutes(n);
          case "h" -> Duration.ofHours(n);
          default -> Duration.ofDays(n);
        });
      }
    }
    if (d == null || d.isNegative() || d.isZero()) {
      throw new KilnUserException(option + " must be a positive duration like 90s, 10m, 1h30m or PT10M (got '"
          + text + "')");
    }
    return d;
  }

  /** ISO-8601: an instant with offset or Z, a local date-time (UTC), or a date (midnight UTC). */
  static Instant instant(String text) {
    String s = text.strip();
    try {
      return OffsetDateTime.parse(s).toInstant();
    } catch (DateTimeParseException e) {
      // try the next form
    }
    try {
      return LocalDateTime.parse(s).toInstant(ZoneOffset.UTC);
    } catch (DateTimeParseException e) {
      // try the next form
    }
    try {
      return LocalDate.parse(s).atStartOfDay().toInstant(ZoneOffset.UTC);
    } catch (DateTimeParseException e) {
      throw new KilnUserException("--logical-date must be ISO-8601, like 2024-05-01T00:00:00Z or 2024-05-01 (got '"
          + text + "')");
    }
  }

  static String readConf(Path file) {
    try {
      return Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new KilnUserException("cannot read the --conf-file (" + file + "): " + e.getClass().getSimpleName());
    }
  }

  /** The run's conf: a JSON object ({@code where} names the option for errors); none gives an empty map. */
  static Map<String, Object> conf(String json, String where) {
    if (json == null) {
      return Map.of();
    }
    ObjectMapper mapper = new ObjectMapper();
    JsonNode node;
    try {
      node = mapper.readTree(json);
    } catch (IOException e) {
      throw new KilnUserException(where + " is not valid JSON: " + Messages.firstLine(e.getMessage(), "unreadable"));
    }
    if (node == null || !node.isObject()) {
      throw new KilnUserException(where + " must be a JSON object, e.g. '{\"date\": \"2024-05-01\"}'");
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> map = mapper.convertValue(node, Map.class);
    return map;
  }
}
