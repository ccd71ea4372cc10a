package dev.kiln.airflow;

import static dev.kiln.airflow.AirflowTesting.PASSWORD;
import static dev.kiln.airflow.AirflowTesting.USER;
import static dev.kiln.airflow.AirflowTesting.VIEWER;
import static dev.kiln.airflow.AirflowTesting.VIEWER_PASSWORD;
import static dev.kiln.airflow.AirflowTesting.client;
import static dev.kiln.airflow.AirflowTesting.standIn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.KilnUserException;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Every error is one line that says what went wrong, with Airflow's own explanation where it gave one. */
@Timeout(30)
class AirflowErrorsTest {

  private static String oneLineError(Executable call) {
    KilnUserException e = assertThrows(KilnUserException.class, call);
    assertFalse(e.getMessage().contains("\n"), e.getMessage());
    return e.getMessage();
  }

  private static boolean v1(AirflowStandIn.Flavor f) {
    return f == AirflowStandIn.Flavor.AIRFLOW_2;
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void wrongPasswordIs401(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowClient c = client(s).credentials(AirflowCredentials.basic(USER, "wrong-password")).build();
      String m = oneLineError(() -> c.trigger("kiln_train", Optional.empty(), Optional.empty(), Map.of()));
      assertEquals(v1(flavor)
          ? "Airflow refused the credentials (HTTP 401: Unauthorized) when trying to trigger DAG 'kiln_train': check "
              + "the credentials from the caller"
          : "Airflow refused the credentials (HTTP 401: Invalid credentials) when trying to get an access token "
              + "(POST /auth/token): check the credentials from the caller", m);
      assertEquals(1, s.count("POST", v1(flavor) ? "/dagRuns$" : "/auth/token$")); // a 401 is not retried
    }
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void noCredentialsSaysWhereTheyComeFrom(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowClient c = client(s).credentials(AirflowCredentials.none()).build();
      String m = oneLineError(() -> c.dagRun("kiln_train", "r1"));
      assertTrue(m.startsWith("Airflow refused the credentials (HTTP 401"), m);
      assertTrue(m.endsWith("no credentials were given: set $KILN_AIRFLOW_USERNAME and $KILN_AIRFLOW_PASSWORD "
          + "(or $KILN_AIRFLOW_TOKEN), or pass --credentials-file"), m);
    }
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void missingPermissionIs403(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowClient c = client(s).credentials(AirflowCredentials.basic(VIEWER, VIEWER_PASSWORD)).build();
      String m = oneLineError(() -> c.trigger("kiln_train", Optional.empty(), Optional.empty(), Map.of()));
      assertEquals("Airflow refused the credentials (HTTP 403 Forbidden: You do not have permission to perform this "
          + "action): the user may not trigger DAG 'kiln_train'", m);
    }
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void notFoundSaysWhich(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowClient c = client(s).build();
      assertEquals("DAG 'no_such_dag' not found in Airflow at " + s.url() + " (HTTP 404: DAG with dag_id: "
          + "'no_such_dag' not found)",
          oneLineError(() -> c.trigger("no_such_dag", Optional.empty(), Optional.empty(), Map.of())));
      String run = oneLineError(() -> c.dagRun("kiln_train", "no_such_run"));
      assertTrue(run.startsWith("DAG run 'no_such_run' of DAG 'kiln_train' not found in Airflow at " + s.url()
          + " (HTTP 404: "), run);
      // Airflow 2 lists an unknown run's tasks as empty; the client still says the run is not there.
      assertTrue(oneLineError(() -> c.taskInstances("kiln_train", "no_such_run"))
          .startsWith("DAG run 'no_such_run' of DAG 'kiln_train' not found"));
      String runId = c.trigger("kiln_train", Optional.empty(), Optional.empty(), Map.of()).run().dagRunId();
      assertEquals("no log for task 'no_such_task' try 1 in DAG run '" + runId + "' of DAG 'kiln_train' (HTTP 404: "
          + "TaskInstance not found)", oneLineError(() -> c.log("kiln_train", runId, "no_such_task", 1)));
      assertEquals("no log for task 'extract[3]' try 1 in DAG run '" + runId + "' of DAG 'kiln_train' (HTTP 404: "
          + "TaskInstance not found)", oneLineError(() -> c.log("kiln_train", runId, "extract", 3, 1)));
      assertTrue(s.requests().stream().anyMatch(r -> r.path().endsWith("/taskInstances/extract/logs/1")
          && "full_content=true&map_index=3".equals(r.query())));
      assertTrue(oneLineError(() -> c.clearFailed("kiln_train", "no_such_run")).startsWith(
          "DAG 'kiln_train' or its run 'no_such_run' not found in Airflow at " + s.url() + " (HTTP 404: Dag Run id "
              + "no_such_run not found in dag kiln_train)"));
    }
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void anExistingRunIdIs409(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowClient c = client(s).build();
      c.trigger("kiln_train", Optional.of("nightly-1"), Optional.empty(), Map.of());
      String m = oneLineError(() -> c.trigger("kiln_train", Optional.of("nightly-1"), Optional.empty(), Map.of()));
      assertEquals("a DAG run with id 'nightly-1' already exists for DAG 'kiln_train' (HTTP 409 Conflict: "
          + (v1(flavor)
          ? "DAGRun with DAG ID: 'kiln_train' and DAGRun ID: 'nightly-1' already exists)"
          : "Unique constraint violation)"), m);
      assertEquals(1, s.runCount("kiln_train"));
    }
  }

  @Test
  void validationErrorsShowAirflowsDetailButNotTheEchoedInput() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_3)) {
      AirflowClient c = client(s).build();
      c.apiVersion();
      var body = AirflowStandIn.validation("logical_date", "Input should be a valid datetime", "datetime_parsing",
          new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode().put("conf_secret_echo", "echoed-input"));
      s.inject("POST", "/dagRuns$",
          new AirflowStandIn.Fault.Respond(422, Map.of(), "application/json", body.toString()));
      String m = oneLineError(() -> c.trigger("kiln_train", Optional.empty(), Optional.empty(), Map.of()));
      assertEquals("Airflow rejected the request to trigger DAG 'kiln_train' (HTTP 422): logical_date: Input should be "
          + "a valid datetime", m);
    }
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void badConfIs400WithAirflowsDetail(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowClient c = client(s).build();
      assertEquals("Airflow rejected the request to trigger DAG 'kiln_params' (HTTP 400): Invalid input for param "
          + "model: None is not of type 'string'",
          oneLineError(() -> c.trigger("kiln_params", Optional.empty(), Optional.empty(), Map.of())));
      assertEquals("success", c.waitFor("kiln_params",
          c.trigger("kiln_params", Optional.empty(), Optional.empty(), Map.of("model", "xgb")).run().dagRunId(),
          java.time.Duration.ofSeconds(5), java.time.Duration.ofMillis(10)).run().state());
    }
  }

  @Test
  void problemJsonTitleIsUsedWhenThereIsNoDetail() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_2)) {
      AirflowClient c = client(s).build();
      c.apiVersion();
      s.inject("GET", "/dagRuns/r1$", new AirflowStandIn.Fault.Respond(422, Map.of(), "application/problem+json",
          "{\"detail\": null, \"status\": 422, \"title\": \"Unprocessable Entity\", \"type\": \"about:blank\"}"));
      assertEquals("Airflow rejected the request to read DAG run 'r1' of DAG 'kiln_train' (HTTP 422): Unprocessable "
          + "Entity", oneLineError(() -> c.dagRun("kiln_train", "r1")));
    }
  }

  @Test
  void longOrMultiLineDetailsAreTrimmedToOneLine() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_2)) {
      AirflowClient c = client(s).build();
      c.apiVersion();
      String detail = "first line\\nsecond line " + "x".repeat(500);
      s.inject("GET", "/dagRuns/r1$", new AirflowStandIn.Fault.Respond(400, Map.of(), "application/problem+json",
          "{\"detail\": \"" + detail + "\", \"status\": 400, \"title\": \"Bad Request\", \"type\": \"about:blank\"}"));
      String m = oneLineError(() -> c.dagRun("kiln_train", "r1"));
      assertTrue(m.contains("first line second line xxx"), m);
      assertTrue(m.endsWith("..."), m);
      assertTrue(m.length() < 450, m.length() + "");
    }
  }

  @Test
  void anHtmlErrorPageIsNotDumped() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_2)) {
      AirflowClient c = client(s).retryPolicy(AirflowTesting.FAST.withMaxAttempts(1)).build();
      c.apiVersion();
      s.inject("GET", "/dagRuns/r1$", new AirflowStandIn.Fault.Respond(502, Map.of(), "text/html",
          "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"));
      String m = oneLineError(() -> c.dagRun("kiln_train", "r1"));
      assertTrue(m.startsWith("Airflow failed to read DAG run 'r1' of DAG 'kiln_train': HTTP 502 (gave up after 1 "
          + "attempt in "), m);
    }
  }

  @Test
  void aRedirectIsNotFollowed() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_2)) {
      AirflowClient c = client(s).build();
      c.apiVersion();
      s.inject("GET", "/dagRuns/r1$", new AirflowStandIn.Fault.Respond(302,
          Map.of("Location", "https://sso.example.com/login?next=/api/v1&state=abc"), "text/html", ""));
      assertEquals("Airflow at " + s.url() + " redirected the request to read DAG run 'r1' of DAG 'kiln_train' "
          + "(HTTP 302 to https://sso.example.com/login): give the address it redirects to as --url",
          oneLineError(() -> c.dagRun("kiln_train", "r1")));
      assertEquals(0, s.count("GET", "/login"));
    }
  }
}
