package dev.kiln.airflow;

import static dev.kiln.airflow.AirflowTesting.PASSWORD;
import static dev.kiln.airflow.AirflowTesting.USER;
import static dev.kiln.airflow.AirflowTesting.client;
import static dev.kiln.airflow.AirflowTesting.standIn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The client against the stand-in: both API versions, detection, the run state machine, tasks, logs, clear. */
@Timeout(30)
class AirflowClientTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void triggerAndWaitForSuccess(AirflowStandIn.Flavor flavor) throws Exception {
    try (AirflowStandIn s = standIn(flavor)) {
      ApiVersion api = flavor == AirflowStandIn.Flavor.AIRFLOW_2 ? ApiVersion.V1 : ApiVersion.V2;
      AirflowClient c = client(s).api(api).build();
      TriggerResult t = c.trigger("kiln_train", Optional.empty(), Optional.empty(), Map.of("date", "2024-05-01"));
      assertFalse(t.recoveredAfterRetry());
      DagRun run = t.run();
      assertEquals("kiln_train", run.dagId());
      assertEquals("queued", run.state());
      assertTrue(run.dagRunId().matches("kiln__\\d{8}T\\d{6}Z_[0-9a-f]{8}"), run.dagRunId());
      assertEquals(Map.of("date", "2024-05-01"), run.conf());

      // The body follows the contract of each version: v2 must carry logical_date (null), v1 leaves it out.
      JsonNode body = MAPPER.readTree(s.requests().stream().filter(r -> r.method().equals("POST")
          && r.path().endsWith("/dagRuns")).findFirst().orElseThrow().body());
      assertEquals(run.dagRunId(), body.get("dag_run_id").asText());
      assertEquals("2024-05-01", body.get("conf").get("date").asText());
      if (flavor == AirflowStandIn.Flavor.AIRFLOW_3) {
        assertTrue(body.has("logical_date") && body.get("logical_date").isNull(), body.toString());
        assertNull(run.logicalDate());
      } else {
        assertFalse(body.has("logical_date"), body.toString());
        assertNotNull(run.logicalDate());
      }

      List<String> seen = new ArrayList<>();
      WaitResult w = c.waitFor("kiln_train", run.dagRunId(), Duration.ofSeconds(10), Duration.ofMillis(10),
          r -> seen.add(r.state()));
      assertEquals(WaitResult.Outcome.SUCCESS, w.outcome());
      assertEquals("success", w.run().state());
      assertEquals(List.of("queued", "running", "running", "success"), seen);
      assertEquals(4, w.polls());
      assertNotNull(w.run().startDate());
      assertNotNull(w.run().endDate());

      List<TaskInstance> tasks = c.taskInstances("kiln_train", run.dagRunId());
      assertEquals(List.of("extract", "train", "publish"), tasks.stream().map(TaskInstance::taskId).toList());
      assertTrue(tasks.stream().allMatch(ti -> "success".equals(ti.state()) && ti.tryNumber() == 1), tasks.toString());
    }
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void explicitRunIdAndLogicalDate(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowClient c = client(s).build();
      Instant date = Instant.parse("2024-05-01T00:00:00Z");
      DagRun run = c.trigger("kiln_train", Optional.of("manual:2024-05-01+retrain"), Optional.of(date), Map.of()).run();
      assertEquals("manual:2024-05-01+retrain", run.dagRunId()); // ':' and '+' survive the path encoding
      assertEquals(date, run.logicalDate());
      assertEquals("manual:2024-05-01+retrain", c.dagRun("kiln_train", "manual:2024-05-01+retrain").dagRunId());
    }
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void detectsTheApiVersion(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowClient c = client(s).detect().build();
      ApiVersion expected = flavor == AirflowStandIn.Flavor.AIRFLOW_2 ? ApiVersion.V1 : ApiVersion.V2;
      assertEquals(expected, c.apiVersion());
      assertEquals(Optional.of(flavor.version), c.serverVersion());
      assertEquals(1, s.count("GET", "^/api/v2/version$"));
      assertEquals(flavor == AirflowStandIn.Flavor.AIRFLOW_2 ? 1 : 0, s.count("GET", "^/api/v1/version$"));
      c.apiVersion(); // detected once
      assertEquals(1, s.count("GET", "^/api/v2/version$"));
      // Probes carry no credentials.
      assertTrue(s.requests().stream().filter(r -> r.path().endsWith("/version"))
          .allMatch(r -> r.authorization() == null));
      // ... and the detected version is used.
      c.trigger("kiln_train", Optional.empty(), Optional.empty(), Map.of());
      assertEquals(1, s.count("POST", "^" + expected.prefix() + "/dags/kiln_train/dagRuns$"));
    }
  }

  @Test
  void urlEndingInApiPathChoosesTheVersionWithoutProbing() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_3)) {
      AirflowClient c = AirflowClient.builder(s.url() + "/api/v2/")
          .credentials(AirflowCredentials.basic(USER, PASSWORD))
          .retryPolicy(AirflowTesting.FAST).build();
      assertEquals(ApiVersion.V2, c.apiVersion());
      assertEquals(s.url(), c.baseUrl());
      assertEquals(0, s.count("GET", "/version$"));
    }
  }

  @Test
  void detectionFailsClearlyWhenThereIsNoAirflow() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_2)) {
      s.inject("GET", "^/api/v1/version$", AirflowStandIn.Fault.status(404));
      AirflowClient c = client(s).build();
      KilnUserException e = assertThrows(KilnUserException.class, c::apiVersion);
      assertEquals("found no Airflow REST API at " + s.url() + ": GET /api/v2/version answered HTTP 404 and GET "
          + "/api/v1/version HTTP 404 (is this the Airflow webserver/API server? --api v1 or v2 skips detection)",
          e.getMessage());
    }
  }

  @Test
  void v2GetsATokenOnceAndRenewsItOnceAfter401() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_3)) {
      AirflowClient c = client(s).api(ApiVersion.V2).build();
      DagRun run = c.trigger("kiln_train", Optional.empty(), Optional.empty(), Map.of()).run();
      c.dagRun("kiln_train", run.dagRunId());
      assertEquals(1, s.count("POST", "^/auth/token$"));
      assertTrue(s.requests().stream().filter(r -> r.path().startsWith("/api/v2/dags"))
          .allMatch(r -> r.authorization() != null && r.authorization().startsWith("Bearer standin-jwt-")));
      // The login body is the documented one.
      String login = s.requests().stream().filter(r -> r.path().equals("/auth/token")).findFirst().orElseThrow().body();
      assertTrue(login.contains("\"username\":\"kiln\""), login);

      s.expireTokens();
      assertEquals(run.dagRunId(), c.dagRun("kiln_train", run.dagRunId()).dagRunId());
      assertEquals(2, s.count("POST", "^/auth/token$"));
      assertEquals(3, s.count("GET", "^/api/v2/dags/kiln_train/dagRuns/"));
    }
  }

  @Test
  void v2WithAStaticTokenAndNoPasswordCannotRenew() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_3)) {
      AirflowClient c = AirflowClient.builder(s.url()).api(ApiVersion.V2)
          .credentials(AirflowCredentials.token("expired-token-xyz")).retryPolicy(AirflowTesting.FAST).build();
      KilnUserException e = assertThrows(KilnUserException.class, () -> c.dagRun("kiln_train", "r1"));
      assertTrue(e.getMessage().startsWith("Airflow refused the credentials (HTTP 401: Not authenticated)"),
          e.getMessage());
      assertEquals(0, s.count("POST", "^/auth/token$"));
    }
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void failedRunTasksLogsAndClear(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowClient c = client(s).build();
      String runId = c.trigger("kiln_flaky", Optional.empty(), Optional.empty(), Map.of()).run().dagRunId();
      WaitResult w = c.waitFor("kiln_flaky", runId, Duration.ofSeconds(10), Duration.ofMillis(10));
      assertEquals(WaitResult.Outcome.FAILED, w.outcome());

      List<TaskInstance> tasks = c.taskInstances("kiln_flaky", runId);
      assertEquals(List.of("success", "failed", "upstream_failed"), tasks.stream().map(TaskInstance::state).toList());
      TaskInstance failed = tasks.get(1);
      assertEquals("train", failed.taskId());
      assertEquals(2, failed.tryNumber());

      TaskLog log = c.log("kiln_flaky", runId, "train", 2);
      assertTrue(log.content().contains("ValueError: boom in train (try 2)"), log.content());
      assertTrue(log.content().contains("Marking task as FAILED"), log.content());
      assertTrue(c.log("kiln_flaky", runId, "train", 1).content().contains("UP_FOR_RETRY"));
      if (flavor == AirflowStandIn.Flavor.AIRFLOW_3) { // structured lines rendered as text
        assertTrue(log.content().lines().anyMatch(l -> l.matches("\\[.+] ERROR - Task failed with exception: .*")),
            log.content());
      }

      ClearResult dry = c.clearFailed("kiln_flaky", runId, true);
      assertEquals(List.of("train", "publish"), dry.taskIds());
      assertEquals("failed", s.runState("kiln_flaky", runId));

      ClearResult cleared = c.clearFailed("kiln_flaky", runId);
      assertEquals(List.of("train", "publish"), cleared.taskIds());
      assertFalse(cleared.dryRun());
      assertEquals("queued", s.runState("kiln_flaky", runId));
      assertEquals(WaitResult.Outcome.SUCCESS,
          c.waitFor("kiln_flaky", runId, Duration.ofSeconds(10), Duration.ofMillis(10)).outcome());
      assertEquals(List.of(), c.clearFailed("kiln_flaky", runId).taskIds());
    }
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void taskInstancesAreReadPageByPage(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowClient c = client(s).build();
      String runId = c.trigger("kiln_wide", Optional.empty(), Optional.empty(), Map.of()).run().dagRunId();
      c.waitFor("kiln_wide", runId, Duration.ofSeconds(5), Duration.ofMillis(10));
      List<TaskInstance> tasks = c.taskInstances("kiln_wide", runId);
      assertEquals(130, tasks.size());
      assertEquals("part_129", tasks.get(129).taskId());
      assertEquals(2, s.count("GET", "/taskInstances$"));
    }
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void waitTimesOutWithTheLastState(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowClient c = client(s).build();
      String runId = c.trigger("kiln_stuck", Optional.empty(), Optional.empty(), Map.of()).run().dagRunId();
      long t0 = System.nanoTime();
      WaitResult w = c.waitFor("kiln_stuck", runId, Duration.ofMillis(300), Duration.ofMillis(20));
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertEquals(WaitResult.Outcome.TIMED_OUT, w.outcome());
      assertEquals("running", w.run().state());
      assertTrue(ms >= 300 && ms < 2000, ms + " ms");
      // Growing intervals: 20, 30, 45, 67, 101, 151 (capped at 160) ... far fewer polls than 300/20.
      assertTrue(w.polls() >= 4 && w.polls() <= 9, w.polls() + " polls");
    }
  }

  @Test
  void pollIntervalGrowsAndIsCapped() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_2)) {
      AirflowTesting.RecordingSleeper sleeper = new AirflowTesting.RecordingSleeper();
      AirflowClient c = client(s).sleeper(sleeper).build();
      String runId = c.trigger("kiln_stuck", Optional.empty(), Optional.empty(), Map.of()).run().dagRunId();
      // The recording sleeper does not sleep, so stop after a number of polls via the progress callback.
      int[] polls = {0};
      assertThrows(StopWaiting.class, () -> c.waitFor("kiln_stuck", runId, Duration.ofHours(1), Duration.ofSeconds(1),
          r -> {
            if (++polls[0] == 10) {
              throw new StopWaiting();
            }
          }));
      assertEquals(List.of(1000L, 1500L, 2250L, 3375L, 5062L, 7593L, 8000L, 8000L, 8000L),
          sleeper.sleeps.stream().map(Duration::toMillis).toList());
    }
  }

  private static final class StopWaiting extends RuntimeException {}

  @Test
  void recordsSerializeAsSnakeCaseJsonWithIsoTimes() throws Exception {
    DagRun run = new DagRun("d", "r", "success", Instant.parse("2024-05-01T00:00:00Z"), null, null, "manual",
        Map.of("a", 1));
    JsonNode n = MAPPER.readTree(Json.toJson(run));
    assertEquals("r", n.get("dag_run_id").asText());
    assertEquals("2024-05-01T00:00:00Z", n.get("logical_date").asText());
    assertTrue(n.get("start_date").isNull());
    assertFalse(n.has("finished") || n.has("succeeded"), n.toString());
    JsonNode w = MAPPER.readTree(Json.toJson(new WaitResult(run, WaitResult.Outcome.SUCCESS, 3, 1.5)));
    assertEquals("SUCCESS", w.get("outcome").asText());
    assertEquals(1.5, w.get("elapsed_seconds").asDouble());
  }

  @Test
  void baseUrlIsCheckedWithoutRepeatingIt() {
    assertEquals("https://airflow.example.com/prefix",
        AirflowClient.normalizeBaseUrl("https://airflow.example.com/prefix/").url());
    assertEquals(Optional.of(ApiVersion.V1), AirflowClient.normalizeBaseUrl("http://h:8080/api/v1").hint());
    KilnUserException e = assertThrows(KilnUserException.class,
        () -> AirflowClient.normalizeBaseUrl("https://admin:hunter2@airflow.example.com"));
    assertFalse(e.getMessage().contains("hunter2"), e.getMessage());
    assertTrue(e.getMessage().startsWith("the Airflow URL must not contain credentials"), e.getMessage());
    KilnUserException q = assertThrows(KilnUserException.class,
        () -> AirflowClient.normalizeBaseUrl("https://airflow.example.com/?token=hunter2"));
    assertFalse(q.getMessage().contains("hunter2"), q.getMessage());
    assertThrows(KilnUserException.class, () -> AirflowClient.normalizeBaseUrl("ftp://airflow.example.com"));
    assertThrows(KilnUserException.class, () -> AirflowClient.normalizeBaseUrl("not a url"));
    assertEquals("no Airflow URL: pass --url or set $KILN_AIRFLOW_URL",
        assertThrows(KilnUserException.class, () -> AirflowClient.resolveUrl(Optional.empty(), Map.of())).getMessage());
    Map<String, String> env = Map.of("KILN_AIRFLOW_URL", "http://from-env");
    assertEquals("http://from-env", AirflowClient.resolveUrl(Optional.empty(), env));
    assertEquals("http://flag", AirflowClient.resolveUrl(Optional.of("http://flag"), env));
  }
}
