package dev.kiln.airflow;

import static dev.kiln.airflow.AirflowTesting.client;
import static dev.kiln.airflow.AirflowTesting.standIn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.KilnUserException;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Retries: 429 with Retry-After, 5xx, dropped and slow connections, bounded attempts and total time. */
@Timeout(30)
class AirflowRetryTest {

  private static String runId(AirflowClient c) {
    return c.trigger("kiln_train", Optional.empty(), Optional.empty(), Map.of()).run().dagRunId();
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void honoursRetryAfterSeconds(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      List<String> trace = Collections.synchronizedList(new ArrayList<>());
      AirflowClient c = client(s).trace(trace::add).build();
      String runId = runId(c);
      s.inject("GET", "/dagRuns/" + runId + "$", AirflowStandIn.Fault.tooManyRequests("1"));
      long t0 = System.nanoTime();
      DagRun run = c.dagRun("kiln_train", runId);
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertEquals(runId, run.dagRunId());
      assertEquals(2, s.count("GET", "/dagRuns/" + runId + "$"));
      assertTrue(ms >= 990 && ms < 2500, "waited " + ms + " ms for Retry-After: 1");
      assertTrue(trace.stream().anyMatch(l -> l.startsWith("airflow: retrying in 1000 ms (HTTP 429 Too Many Requests, "
          + "Retry-After 1.0s; attempt 2 of 4)")), trace.toString());
      // The gap between the two attempts, as the server saw it.
      List<AirflowStandIn.Recorded> gets = s.requests().stream()
          .filter(r -> r.method().equals("GET") && r.path().endsWith(runId)).toList();
      assertTrue((gets.get(1).atNanos() - gets.get(0).atNanos()) / 1_000_000 >= 990);
    }
  }

  @Test
  void honoursRetryAfterHttpDate() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_2)) {
      AirflowTesting.RecordingSleeper sleeper = new AirflowTesting.RecordingSleeper();
      AirflowClient c = client(s).sleeper(sleeper).build();
      String runId = runId(c);
      String date = DateTimeFormatter.RFC_1123_DATE_TIME.format(ZonedDateTime.now(ZoneOffset.UTC).plusSeconds(2));
      s.inject("GET", "/dagRuns/" + runId + "$", AirflowStandIn.Fault.tooManyRequests(date));
      c.dagRun("kiln_train", runId);
      assertEquals(1, sleeper.sleeps.size());
      long ms = sleeper.sleeps.get(0).toMillis();
      assertTrue(ms >= 900 && ms <= 2100, "Retry-After " + date + " gave " + ms + " ms");
    }
  }

  @Test
  void retryAfterBeyondTheBudgetFailsAtOnce() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_2)) {
      AirflowClient c = client(s).build();
      String runId = runId(c);
      s.inject("GET", "/dagRuns/" + runId + "$", AirflowStandIn.Fault.tooManyRequests("3600"));
      long t0 = System.nanoTime();
      KilnUserException e = assertThrows(KilnUserException.class, () -> c.dagRun("kiln_train", runId));
      assertTrue((System.nanoTime() - t0) / 1_000_000 < 1000);
      assertTrue(e.getMessage().startsWith("Airflow is rate-limiting requests (HTTP 429) and asks to wait 3600s, "
          + "more than the 5.0s this client may spend to read DAG run"), e.getMessage());
      assertEquals(1, s.count("GET", "/dagRuns/" + runId + "$"));
    }
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void retries5xxThenSucceeds(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowTesting.RecordingSleeper sleeper = new AirflowTesting.RecordingSleeper();
      AirflowClient c = client(s).sleeper(sleeper).build();
      String runId = runId(c);
      s.inject("GET", "/taskInstances$", AirflowStandIn.Fault.status(503), AirflowStandIn.Fault.status(502));
      assertEquals(3, c.taskInstances("kiln_train", runId).size());
      assertEquals(3, s.count("GET", "/taskInstances$"));
      // Equal jitter: between half and all of 20 ms, then of 40 ms.
      assertEquals(2, sleeper.sleeps.size());
      long first = sleeper.sleeps.get(0).toMillis();
      long second = sleeper.sleeps.get(1).toMillis();
      assertTrue(first >= 10 && first <= 20, first + " ms");
      assertTrue(second >= 20 && second <= 40, second + " ms");
    }
  }

  @Test
  void a503RetryAfterIsHonouredToo() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_3)) {
      AirflowTesting.RecordingSleeper sleeper = new AirflowTesting.RecordingSleeper();
      AirflowClient c = client(s).sleeper(sleeper).build();
      String runId = runId(c);
      s.inject("GET", "/dagRuns/" + runId + "$", new AirflowStandIn.Fault.Respond(503, Map.of("Retry-After", "2"),
          "application/json", "{\"detail\": \"maintenance\"}"));
      c.dagRun("kiln_train", runId);
      assertEquals(List.of(Duration.ofSeconds(2)), sleeper.sleeps);
    }
  }

  @Test
  void givesUpAfterMaxAttemptsWithOneLine() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_2)) {
      AirflowClient c = client(s).retryPolicy(AirflowTesting.FAST.withMaxAttempts(3)).build();
      String runId = runId(c);
      AirflowStandIn.Fault[] faults = new AirflowStandIn.Fault[10];
      java.util.Arrays.fill(faults, AirflowStandIn.Fault.status(503));
      s.inject("GET", "/dagRuns/" + runId + "$", faults);
      KilnUserException e = assertThrows(KilnUserException.class, () -> c.dagRun("kiln_train", runId));
      assertEquals(3, s.count("GET", "/dagRuns/" + runId + "$"));
      assertTrue(e.getMessage().matches("Airflow failed to read DAG run '" + runId + "' of DAG 'kiln_train': HTTP 503 "
          + "\\(stand-in injected HTTP 503\\) \\(gave up after 3 attempts in \\d+\\.\\ds\\)"), e.getMessage());
      assertFalse(e.getMessage().contains("\n"));
    }
  }

  @Test
  void totalTimeIsBounded() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_3)) {
      RetryPolicy policy = new RetryPolicy(1000, Duration.ofMillis(50), Duration.ofMillis(50), Duration.ofMillis(400));
      AirflowClient c = client(s).retryPolicy(policy).build();
      String runId = runId(c);
      AirflowStandIn.Fault[] faults = new AirflowStandIn.Fault[1000];
      java.util.Arrays.fill(faults, AirflowStandIn.Fault.status(500));
      s.inject("GET", "/dagRuns/" + runId + "$", faults);
      long t0 = System.nanoTime();
      assertThrows(KilnUserException.class, () -> c.dagRun("kiln_train", runId));
      long ms = (System.nanoTime() - t0) / 1_000_000;
      long attempts = s.count("GET", "/dagRuns/" + runId + "$");
      assertTrue(ms < 1500, ms + " ms");
      assertTrue(attempts >= 3 && attempts <= 20, attempts + " attempts");
    }
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void aTriggerWhoseAnswerWasLostIsNotRepeated(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowClient c = client(s).build();
      c.apiVersion();
      s.inject("POST", "/dagRuns$", new AirflowStandIn.Fault.ProcessThenDrop());
      TriggerResult t = c.trigger("kiln_train", Optional.empty(), Optional.empty(), Map.of("k", "v"));
      assertTrue(t.recoveredAfterRetry());
      assertEquals(Map.of("k", "v"), t.run().conf());
      assertEquals(1, s.runCount("kiln_train"));
      assertEquals(2, s.count("POST", "/dagRuns$")); // the retry got 409 ...
      assertEquals(1, s.count("GET", "/dagRuns/" + t.run().dagRunId() + "$")); // ... and fetched the run
    }
  }

  @Test
  void aTriggerDroppedBeforeProcessingIsRetried() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_2)) {
      AirflowClient c = client(s).build();
      c.apiVersion();
      s.inject("POST", "/dagRuns$", new AirflowStandIn.Fault.Drop());
      TriggerResult t = c.trigger("kiln_train", Optional.empty(), Optional.empty(), Map.of());
      assertFalse(t.recoveredAfterRetry());
      assertEquals(1, s.runCount("kiln_train"));
      assertEquals(2, s.count("POST", "/dagRuns$"));
    }
  }

  @Test
  void aSlowResponseTimesOutAndIsRetried() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_3)) {
      List<String> trace = Collections.synchronizedList(new ArrayList<>());
      AirflowClient c = client(s).requestTimeout(Duration.ofMillis(300)).trace(trace::add).build();
      String runId = runId(c);
      s.inject("GET", "/dagRuns/" + runId + "$", new AirflowStandIn.Fault.Delay(2000));
      long t0 = System.nanoTime();
      assertEquals(runId, c.dagRun("kiln_train", runId).dagRunId());
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertTrue(ms >= 300 && ms < 1500, ms + " ms");
      assertTrue(trace.stream().anyMatch(l -> l.contains("-> timed out")), trace.toString());
    }
  }

  @Test
  void anUnreachableServerIsOneLineAfterTheRetries() {
    int port = AirflowTesting.closedPort();
    AirflowClient c = AirflowClient.builder("http://127.0.0.1:" + port).api(ApiVersion.V1)
        .credentials(AirflowCredentials.basic(AirflowTesting.USER, AirflowTesting.PASSWORD))
        .retryPolicy(AirflowTesting.FAST.withMaxAttempts(3)).build();
    KilnUserException e = assertThrows(KilnUserException.class, () -> c.dagRun("kiln_train", "r1"));
    assertTrue(e.getMessage().matches("cannot reach Airflow at http://127\\.0\\.0\\.1:" + port
        + " to read DAG run 'r1' "
        + "of DAG 'kiln_train': connection refused \\(gave up after 3 attempts in \\d+\\.\\ds\\)"), e.getMessage());
  }

  @Test
  void backoffIsJitteredExponentialAndCapped() {
    RetryPolicy p = new RetryPolicy(10, Duration.ofMillis(100), Duration.ofMillis(1000), Duration.ofSeconds(60));
    Random r = new Random(1);
    for (int i = 0; i < 200; i++) {
      long b1 = p.backoff(1, r).toMillis();
      long b3 = p.backoff(3, r).toMillis();
      long b9 = p.backoff(9, r).toMillis();
      assertTrue(b1 >= 50 && b1 <= 100, "retry 1: " + b1);
      assertTrue(b3 >= 200 && b3 <= 400, "retry 3: " + b3);
      assertTrue(b9 >= 500 && b9 <= 1000, "retry 9: " + b9);
    }
    assertTrue(new java.util.HashSet<>(List.of(p.backoff(2, r), p.backoff(2, r), p.backoff(2, r), p.backoff(2, r)))
        .size() > 1, "jitter");
  }
}
