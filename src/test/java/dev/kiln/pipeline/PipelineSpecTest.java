package dev.kiln.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.KilnUserException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.time.ZonedDateTime;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Pipeline specs: the shipped ones load, and every kind of mistake is one line naming the file and task. */
class PipelineSpecTest {
  private static final String HEAD = "pipeline: p\nschedule: null\nstart_date: 2026-03-01\nparams: {model: clicks}\n"
      + "tasks:\n";

  @Test
  void theShippedDailyTrainingSpecHasTheDocumentedGraph() throws Exception {
    PipelineSpec spec = PipelineSpec.load(Path.of("conf/pipelines/daily_training.yaml"));
    assertEquals("daily_training", spec.name());
    assertEquals(List.of("ingest", "features", "trainset", "train", "promote", "score", "monitor", "retrain",
        "retrain_promote"), spec.tasks().stream().map(TaskSpec::id).toList());
    assertEquals(List.of("promote"), spec.task("score").dependsOn());
    assertEquals(Map.of(0, List.of(), 3, List.of("retrain")), spec.task("monitor").branch());
    assertEquals(0, spec.task("monitor").retries());
    assertEquals(2, spec.task("ingest").retries());
    assertEquals(Optional.of(Duration.ofHours(4)), spec.task("retrain").timeout());
    assertEquals(Optional.of(Duration.ofHours(2)), spec.task("ingest").timeout());
    assertEquals("0 6 * * *", spec.schedule().orElseThrow().toString());
    assertEquals(LocalDate.of(2026, 3, 1), spec.startDate());
    assertFalse(spec.catchup());
    assertEquals(64, spec.hash().length());
    // every shipped spec loads
    try (var files = Files.list(Path.of("conf/pipelines"))) {
      files.filter(f -> f.toString().endsWith(".yaml")).forEach(PipelineSpec::load);
    }
  }

  @Test
  void retriesBackOffExponentiallyUpToTheMaximum() {
    PipelineSpec spec = PipelineSpec.parse("pipeline: p\nschedule: null\nstart_date: 2026-03-01\ndefaults: "
        + "{retries: 5, retry_delay: 10s, max_retry_delay: 1m, retry_exponential_backoff: true}\ntasks:\n  - {id: a, args: [tables, list]}\n"
        + "  - {id: b, args: [tables, list], retry_exponential_backoff: false, retry_delay: 2m}\n", "t.yaml");
    TaskSpec a = spec.task("a");
    assertEquals(List.of(10L, 20L, 40L, 60L, 60L), java.util.stream.IntStream.rangeClosed(1, 5)
        .mapToObj(n -> a.delayBeforeRetry(n).toSeconds()).toList());
    assertEquals(Duration.ofMinutes(2), spec.task("b").delayBeforeRetry(3));
    // what a spec leaves out gets Airflow's operator defaults, as its DAG does
    TaskSpec plain = PipelineSpec.parse(HEAD + "  - {id: a, args: [x]}\n", "t.yaml").task("a");
    assertEquals(List.of(0, 300L, false), List.of(plain.retries(), plain.retryDelay().toSeconds(),
        plain.exponentialBackoff()));
    assertTrue(plain.timeout().isEmpty() && plain.maxRetryDelay().isEmpty());
    assertTrue(a.succeeded(0));
    assertFalse(a.succeeded(3));
  }

  @Test
  void mistakesAreOneLineNamingTheFileAndTask() {
    assertError(HEAD + "  - {id: a, args: [x], depends_on: [b]}\n  - {id: b, args: [x], depends_on: [a]}\n",
        "the tasks a, b depend on each other in a cycle");
    assertError(HEAD + "  - {id: a, args: [x], depends_on: [nope]}\n",
        "task a: depends_on names 'nope', which is not a task");
    assertError(HEAD + "  - {id: a, args: [x], branch: {3: [b]}}\n  - {id: b, args: [x]}\n",
        "task a: branch chooses 'b', which is not a task that depends_on a");
    assertError(HEAD + "  - {id: a, args: [x], branch: {three: []}}\n", "branch key 'three' is not an exit code");
    assertError(HEAD + "  - {id: a, args: [\"{{ ds_plus_one }}\"]}\n", "task a: args: '{{ ds_plus_one }}' is not a "
        + "supported template");
    assertError(HEAD + "  - {id: a, args: [\"{{ params.nope }}\"]}\n", "names a parameter the spec does not declare");
    assertError(HEAD + "  - {id: a, args: [x], retry_delay: soon}\n", "task a: retry_delay 'soon' is not a duration");
    assertError(HEAD + "  - {id: a, args: [x, --data-root, /tmp]}\n", "must not set --data-root");
    assertError(HEAD + "  - {id: a, args: [x]}\n  - {id: a, args: [y]}\n", "task id 'a' appears twice");
    assertError(HEAD + "  - {id: A, args: [x]}\n", "task id 'A' must match");
    assertError(HEAD + "  - {id: a, args: []}\n", "args must be a non-empty list");
    assertError(HEAD + "  - {id: a, args: [x], retrys: 2}\n", "unknown key 'retrys'");
    String task = "\nstart_date: 2026-03-01\ntasks:\n  - {id: a, args: [x]}\n";
    assertError("pipeline: p\nschedule: '*/5 * * * *'" + task, "fires more than once a day");
    assertError("pipeline: p\nschedule: '@hourly'" + task, "not a supported schedule");
    assertError("pipeline: p\nschedule: '0 25 * * *'" + task, "cron hour '25' is not in");
    assertError("pipeline: p\nschedule: '0 6 * * mon'" + task, "cron day-of-week 'mon' is not in 0..6");
    assertError("pipeline: p" + task, "'schedule' is missing");
    assertError("pipeline: p\nschedule: null\ntasks:\n  - {id: a, args: [x]}\n", "'start_date' is missing");
    assertError("schedule: null" + task, "'pipeline' (the name) is missing");
    assertError(HEAD + "  - {id: a, args: [x, true]}\n", "args: 'true' must be text or a whole number");
    assertError(HEAD + "  - {id: a, args: [kiln, ingest]}\n", "not with 'kiln'");
    assertError(HEAD + "  - {id: a, args: [x], timeout: 0s}\n", "timeout must be more than 0s");
    assertError(HEAD + "  - {id: a, args: [x], timeout: 1d}\n", "timeout '1d' is not a duration");
    assertError(HEAD.replace("model: clicks", "data_root: /x") + "  - {id: a, args: [x]}\n", "'data_root' is reserved");
  }

  @Test
  void overridingAnUndeclaredParamIsAnError() {
    PipelineSpec spec = PipelineSpec.parse(HEAD + "  - {id: a, args: [\"{{ params.model }}\"]}\n", "t.yaml");
    assertEquals(Map.of("model", "x"), spec.params(Map.of("model", "x")));
    KilnUserException e = assertThrows(KilnUserException.class, () -> spec.params(Map.of("modle", "x")));
    assertEquals("--param modle: the pipeline declares no such parameter (it has model) (t.yaml)", e.getMessage());
  }

  @Test
  void templatesRenderLikeAirflow() {
    LocalDate ds = LocalDate.of(2026, 3, 1);
    Map<String, String> params = Map.of("incoming", "/in", "model", "clicks");
    assertEquals("/in/2026-03-01", Templates.render("{{ params.incoming }}/{{ ds }}", ds, params));
    assertEquals("clicks-20260301", Templates.render("{{params.model}}-{{ds_nodash}}", ds, params));
    assertEquals("event_date >= '2026-02-22'", Templates.render("event_date >= '{{ macros.ds_add(ds, -7) }}'", ds,
        params));
    assertEquals("2026-03-31", Templates.render("{{ macros.ds_add(ds, 30) }}", ds, params));
    assertTrue(Templates.problem("{{ ds }", Set.of()).isPresent());
    assertTrue(Templates.problem("{{ ds }} and {{ params.model }}", Set.of("model")).isEmpty());
  }

  @Test
  void cronTicksAndLogicalDatesFollowAirflowsDataIntervals() {
    CronSchedule daily = CronSchedule.parse("0 6 * * *");
    ZonedDateTime t = ZonedDateTime.parse("2026-03-03T05:59:00Z");
    assertEquals(ZonedDateTime.parse("2026-03-03T06:00Z"), daily.next(t).orElseThrow());
    assertEquals(ZonedDateTime.parse("2026-03-02T06:00Z"), daily.latestAtOrBefore(t).orElseThrow());
    assertEquals(LocalDate.of(2026, 3, 2), daily.logicalDate(ZonedDateTime.parse("2026-03-03T06:00Z")));
    assertEquals(LocalDate.of(2026, 3, 2), daily.latestLogicalDate(java.time.Instant.parse("2026-03-03T07:00:00Z"))
        .orElseThrow());

    CronSchedule weekdays = CronSchedule.parse("30 2 * * 1-5");
    assertEquals(ZonedDateTime.parse("2026-03-09T02:30Z"), // Friday the 6th -> Monday the 9th
        weekdays.next(ZonedDateTime.parse("2026-03-06T03:00Z")).orElseThrow());
    assertEquals(LocalDate.of(2026, 3, 6), weekdays.logicalDate(ZonedDateTime.parse("2026-03-09T02:30Z")));

    // day-of-month and day-of-week both restricted: either matches (classic cron)
    CronSchedule either = CronSchedule.parse("0 0 1 * 0");
    assertEquals(ZonedDateTime.parse("2026-03-08T00:00Z"), either.next(ZonedDateTime.parse("2026-03-01T00:00Z"))
        .orElseThrow());
    assertEquals(ZonedDateTime.parse("2026-04-01T00:00Z"), either.next(ZonedDateTime.parse("2026-03-29T00:00Z"))
        .orElseThrow());
    assertEquals(ZonedDateTime.parse("2026-04-01T00:00Z"), CronSchedule.parse("@monthly")
        .next(ZonedDateTime.parse("2026-03-01T00:00Z")).orElseThrow());
    assertTrue(CronSchedule.parse("0 0 30 2 *").next(ZonedDateTime.parse("2026-03-01T00:00Z")).isEmpty());
  }

  private static void assertError(String yaml, String expected) {
    KilnUserException e = assertThrows(KilnUserException.class, () -> PipelineSpec.parse(yaml, "t.yaml"));
    assertTrue(e.getMessage().contains(expected), () -> "'" + e.getMessage() + "' does not say '" + expected + "'");
    assertTrue(e.getMessage().endsWith("(t.yaml)"), e::getMessage);
    assertFalse(e.getMessage().contains("\n"), e::getMessage);
  }
}
