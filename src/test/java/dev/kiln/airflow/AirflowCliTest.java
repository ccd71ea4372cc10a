package dev.kiln.airflow;

import static dev.kiln.airflow.AirflowTesting.PASSWORD;
import static dev.kiln.airflow.AirflowTesting.USER;
import static dev.kiln.airflow.AirflowTesting.cli;
import static dev.kiln.airflow.AirflowTesting.cliArgs;
import static dev.kiln.airflow.AirflowTesting.credentialsFile;
import static dev.kiln.airflow.AirflowTesting.standIn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** {@code kiln airflow ...} in this JVM against the stand-in. */
@Timeout(60)
class AirflowCliTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final Pattern RUN_ID = Pattern.compile("run (kiln__\\S+)");

  @TempDir
  Path tmp;

  private AirflowTesting.CliResult run(AirflowStandIn s, String... args) {
    return cli(cliArgs(s, credentialsFile(tmp, USER, PASSWORD), args).toArray(String[]::new));
  }

  private static String runId(AirflowTesting.CliResult r) {
    Matcher m = RUN_ID.matcher(r.out());
    assertTrue(m.find(), r.all());
    return m.group(1);
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void triggerWaitSucceeds(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowTesting.CliResult r = run(s, "trigger", "kiln_train", "--conf", "{\"date\": \"2024-05-01\"}", "--wait",
          "--poll-interval", "10ms", "--timeout", "10s");
      assertEquals(0, r.exitCode(), r.all());
      String runId = runId(r);
      assertTrue(r.out().startsWith("triggered DAG kiln_train: run " + runId + " (queued)\n"), r.out());
      assertTrue(r.out().contains("DAG run " + runId + " of kiln_train: success ("), r.out());
      assertTrue(r.err().contains("waiting: DAG run " + runId + " of kiln_train is running"), r.err());

      AirflowTesting.CliResult status = run(s, "status", "kiln_train", runId);
      assertEquals(0, status.exitCode(), status.all());
      assertTrue(status.out().startsWith("DAG run " + runId + " of kiln_train: success (logical date "), status.out());

      AirflowTesting.CliResult json = run(s, "status", "kiln_train", runId, "--json");
      JsonNode n = readJson(json.out());
      assertEquals("success", n.get("state").asText());
      assertEquals("2024-05-01", n.get("conf").get("date").asText());

      AirflowTesting.CliResult tasks = run(s, "tasks", "kiln_train", runId);
      assertEquals(0, tasks.exitCode(), tasks.all());
      List<String> lines = tasks.out().lines().toList();
      assertTrue(lines.get(0).startsWith("task     state    try  started"), tasks.out());
      assertEquals(5, lines.size(), tasks.out());
      assertTrue(lines.get(3).startsWith("train    success    1  "), tasks.out());
    }
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void failedRunExitCodeLogsAndClear(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowTesting.CliResult t = run(s, "trigger", "kiln_flaky");
      assertEquals(0, t.exitCode(), t.all());
      String runId = runId(t);

      AirflowTesting.CliResult w = run(s, "wait", "kiln_flaky", runId, "--poll-interval", "10ms");
      assertEquals(4, w.exitCode(), w.all());
      assertTrue(w.out().contains("DAG run " + runId + " of kiln_flaky: failed ("), w.out());

      AirflowTesting.CliResult tasks = run(s, "tasks", "kiln_flaky", runId, "--json");
      List<JsonNode> rows = tasks.out().lines().map(AirflowCliTest::readJson).toList();
      assertEquals(List.of("success", "failed", "upstream_failed"), rows.stream().map(x -> x.get("state").asText())
          .toList());
      assertEquals(2, rows.get(1).get("try_number").asInt());

      AirflowTesting.CliResult logs = run(s, "logs", "kiln_flaky", runId);
      assertEquals(0, logs.exitCode(), logs.all());
      assertTrue(logs.err().contains("log of task train, try 2"), logs.err());
      assertTrue(logs.out().contains("ValueError: boom in train (try 2)"), logs.out());
      AirflowTesting.CliResult first = run(s, "logs", "kiln_flaky", runId, "--task", "train", "--try", "1");
      assertTrue(first.out().contains("UP_FOR_RETRY"), first.out());
      AirflowTesting.CliResult logJson = run(s, "logs", "kiln_flaky", runId, "--json");
      assertEquals("train", readJson(logJson.out()).get("task_id").asText());

      AirflowTesting.CliResult dry = run(s, "clear", "kiln_flaky", runId, "--dry-run");
      assertEquals("would clear 2 task instances of DAG run " + runId + " of kiln_flaky: train, publish\n", dry.out());
      AirflowTesting.CliResult clear = run(s, "clear", "kiln_flaky", runId);
      assertEquals(0, clear.exitCode(), clear.all());
      assertEquals("cleared 2 task instances of DAG run " + runId + " of kiln_flaky: train, publish (Airflow runs them "
          + "again)\n", clear.out());
      AirflowTesting.CliResult again = run(s, "wait", "kiln_flaky", runId, "--poll-interval", "10ms", "--json");
      assertEquals(0, again.exitCode(), again.all());
      assertEquals("SUCCESS", readJson(again.out()).get("outcome").asText());
      AirflowTesting.CliResult none = run(s, "logs", "kiln_flaky", runId);
      assertEquals(2, none.exitCode(), none.all());
      assertEquals("error: no failed task in DAG run '" + runId + "' of DAG 'kiln_flaky': pass --task (tasks: extract, "
          + "train, publish)\n", none.err());
    }
  }

  @Test
  void waitTimeoutHasItsOwnExitCode() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_3)) {
      AirflowTesting.CliResult r = run(s, "trigger", "kiln_stuck", "--wait", "--timeout", "300ms", "--poll-interval",
          "20ms");
      assertEquals(5, r.exitCode(), r.all());
      assertTrue(r.out().contains(": still running after the 0.3s timeout ("), r.out());
    }
  }

  @Test
  void explicitApiAndRunIdAndLogicalDate() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_2)) {
      AirflowTesting.CliResult r = run(s, "trigger", "kiln_train", "--api", "v1", "--run-id", "nightly-2024-05-01",
          "--logical-date", "2024-05-01", "--json", "--verbose");
      assertEquals(0, r.exitCode(), r.all());
      JsonNode n = readJson(r.out());
      assertEquals("nightly-2024-05-01", n.get("run").get("dag_run_id").asText());
      assertEquals("2024-05-01T00:00:00Z", n.get("run").get("logical_date").asText());
      assertEquals(0, s.count("GET", "/version$")); // --api v1: no probing
      assertTrue(r.err().contains("airflow: POST " + s.url() + "/api/v1/dags/kiln_train/dagRuns -> 200 ("), r.err());

      AirflowTesting.CliResult wrongApi = run(s, "status", "kiln_train", "nightly-2024-05-01", "--api", "v2");
      assertEquals(2, wrongApi.exitCode(), wrongApi.all());
      assertEquals("error: Airflow at " + s.url() + " has no /auth/token endpoint (is it Airflow 2? try --api v1) "
          + "(HTTP 404)\n", wrongApi.err());
    }
  }

  @Test
  void badArgumentsAreOneLineUserErrors() {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_2)) {
      assertUserError(run(s, "trigger", "kiln_train", "--conf", "[1, 2]"),
          "error: --conf must be a JSON object, e.g. '{\"date\": \"2024-05-01\"}'");
      assertUserError(run(s, "trigger", "kiln_train", "--logical-date", "yesterday"),
          "error: --logical-date must be ISO-8601, like 2024-05-01T00:00:00Z or 2024-05-01 (got 'yesterday')");
      assertUserError(run(s, "wait", "kiln_train", "r1", "--timeout", "soon"),
          "error: --timeout must be a positive duration like 90s, 10m, 1h30m or PT10M (got 'soon')");
      assertUserError(run(s, "status", "kiln_train", "r1", "--api", "v3"),
          "error: unknown Airflow API version 'v3': use v1 (Airflow 2) or v2 (Airflow 3)");
      assertEquals(0, s.requests().size());
      AirflowTesting.CliResult missing = cli("airflow", "status", "kiln_train");
      assertEquals(2, missing.exitCode());
      assertTrue(missing.err().startsWith("error: Missing required parameter: 'RUN'"), missing.err());
      AirflowTesting.CliResult bare = cli("airflow");
      assertEquals(2, bare.exitCode());
      assertTrue(bare.err().startsWith("error: a subcommand is required: trigger, status, wait, tasks, logs, clear"));
    }
  }

  @Test
  void confFromAFile() throws Exception {
    try (AirflowStandIn s = standIn(AirflowStandIn.Flavor.AIRFLOW_3)) {
      Path conf = Files.writeString(tmp.resolve("conf.json"), "{\"model\": \"xgb\", \"n\": 3}");
      AirflowTesting.CliResult r = run(s, "trigger", "kiln_params", "--conf-file", conf.toString(), "--json");
      assertEquals(0, r.exitCode(), r.all());
      assertEquals("xgb", readJson(r.out()).get("run").get("conf").get("model").asText());
    }
  }

  @Test
  void helpListsTheExitCodes() {
    AirflowTesting.CliResult r = cli("airflow", "--help");
    assertEquals(0, r.exitCode());
    assertTrue(r.out().contains("  4 the run failed\n  5 wait timed out before the run finished"), r.out());
    for (String sub : List.of("trigger", "status", "wait", "tasks", "logs", "clear")) {
      assertTrue(r.out().contains("  " + sub + " "), sub);
    }
  }

  private static void assertUserError(AirflowTesting.CliResult r, String line) {
    assertEquals(2, r.exitCode(), r.all());
    assertEquals(line + "\n", r.err());
  }

  private static JsonNode readJson(String text) {
    try {
      return MAPPER.readTree(text);
    } catch (Exception e) {
      throw new AssertionError("not JSON: " + text, e);
    }
  }
}
