package dev.kiln.airflow;

import static dev.kiln.airflow.AirflowTesting.PASSWORD;
import static dev.kiln.airflow.AirflowTesting.USER;
import static dev.kiln.airflow.AirflowTesting.VIEWER;
import static dev.kiln.airflow.AirflowTesting.VIEWER_PASSWORD;
import static dev.kiln.airflow.AirflowTesting.cli;
import static dev.kiln.airflow.AirflowTesting.credentialsFile;
import static dev.kiln.airflow.AirflowTesting.standIn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kiln.common.KilnUserException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Credentials come only from the environment or a file and never show: every path, success and error, is run with
 * secret passwords and tokens, with --verbose, and nothing printed, thrown or traced may contain them.
 */
@Timeout(60)
class AirflowSecretsTest {
  private static final String WRONG_PASSWORD =
      "wrong-S3cr3t-" + HexFormat.of().formatHex(AirflowTesting.randomBytes(6));
  private static final String STATIC_TOKEN = "tok-S3cr3t-" + HexFormat.of().formatHex(AirflowTesting.randomBytes(6));

  @TempDir
  Path tmp;

  private final List<String> captured = Collections.synchronizedList(new ArrayList<>());

  private static List<String> secrets() {
    List<String> s = new ArrayList<>(List.of(PASSWORD, VIEWER_PASSWORD, WRONG_PASSWORD, STATIC_TOKEN));
    for (String[] up : new String[][] {{USER, PASSWORD}, {VIEWER, VIEWER_PASSWORD}, {USER, WRONG_PASSWORD}}) {
      s.add(Base64.getEncoder().encodeToString((up[0] + ":" + up[1]).getBytes(StandardCharsets.UTF_8)));
    }
    s.add("standin-jwt-"); // every token the Airflow 3 stand-in issues starts so
    return s;
  }

  private AirflowTesting.CliResult kiln(AirflowStandIn s, Path creds, String... args) {
    List<String> all = new ArrayList<>(AirflowTesting.cliArgs(s, creds, args));
    all.add("--verbose");
    AirflowTesting.CliResult r = cli(all.toArray(String[]::new));
    captured.add(r.out());
    captured.add(r.err());
    return r;
  }

  private void assertNothingLeaked() {
    assertFalse(captured.isEmpty());
    String all = String.join("\n", captured);
    for (String secret : secrets()) {
      assertFalse(all.contains(secret), "leaked '" + secret + "' in:\n" + all);
    }
  }

  private void capture(Throwable t) {
    StringWriter w = new StringWriter();
    t.printStackTrace(new PrintWriter(w));
    captured.add(t.getMessage());
    captured.add(w.toString());
    captured.add(String.valueOf(t));
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void noSecretOnAnyCliPath(AirflowStandIn.Flavor flavor) throws Exception {
    try (AirflowStandIn s = standIn(flavor)) {
      Path good = credentialsFile(tmp, USER, PASSWORD);
      Path viewer = credentialsFile(tmp, VIEWER, VIEWER_PASSWORD);
      Path wrong = Files.writeString(tmp.resolve("wrong"), "username=" + USER + "\npassword=" + WRONG_PASSWORD + "\n");
      Path token = Files.writeString(tmp.resolve("token"), "token=" + STATIC_TOKEN + "\n");
      // Task logs that print the password (it happens): shown masked.
      s.logExtra = "connecting with password " + PASSWORD + " and header Basic "
          + Base64.getEncoder().encodeToString((USER + ":" + PASSWORD).getBytes(StandardCharsets.UTF_8));

      // Success paths.
      AirflowTesting.CliResult t = kiln(s, good, "trigger", "kiln_flaky", "--wait", "--poll-interval", "10ms");
      assertEquals(4, t.exitCode(), t.all());
      Matcher m = Pattern.compile("run (kiln__\\S+)").matcher(t.out());
      assertTrue(m.find());
      String runId = m.group(1);
      assertEquals(0, kiln(s, good, "status", "kiln_flaky", runId, "--json").exitCode());
      assertEquals(0, kiln(s, good, "tasks", "kiln_flaky", runId).exitCode());
      AirflowTesting.CliResult logs = kiln(s, good, "logs", "kiln_flaky", runId);
      assertEquals(0, logs.exitCode(), logs.all());
      assertTrue(logs.out().contains("connecting with password *** and header Basic ***"), logs.out());
      assertEquals(0, kiln(s, good, "logs", "kiln_flaky", runId, "--json").exitCode());
      assertEquals(0, kiln(s, good, "clear", "kiln_flaky", runId, "--dry-run").exitCode());
      assertEquals(0, kiln(s, good, "trigger", "kiln_train", "--api", "auto", "--json").exitCode());

      // 401: wrong password; a token that is not accepted (v2) / not a password (v1).
      String refused = "error: Airflow refused the credentials (HTTP 401";
      assertUserError(kiln(s, wrong, "status", "kiln_flaky", runId), refused);
      assertUserError(kiln(s, token, "status", "kiln_flaky", runId), refused);
      // 403, 404, 409, 400.
      assertUserError(kiln(s, viewer, "trigger", "kiln_train"), "error: Airflow refused the credentials (HTTP 403");
      assertUserError(kiln(s, good, "trigger", "no_such_dag"), "error: DAG 'no_such_dag' not found");
      assertUserError(kiln(s, good, "status", "kiln_flaky", "no_such_run"), "error: DAG run 'no_such_run'");
      assertUserError(kiln(s, good, "logs", "kiln_flaky", runId, "--task", "nope", "--try", "1"), "error: no log for");
      kiln(s, good, "trigger", "kiln_train", "--run-id", "dup");
      assertUserError(kiln(s, good, "trigger", "kiln_train", "--run-id", "dup"), "error: a DAG run with id 'dup'");
      assertUserError(kiln(s, good, "trigger", "kiln_params"), "error: Airflow rejected the request");

      // 422 whose body echoes the password (FastAPI echoes the request as "input"; here the msg does too).
      String echo = new ObjectMapper().writeValueAsString(Map.of("detail", List.of(Map.of("type", "value_error",
          "loc", List.of("body", "conf"), "msg", "bad value " + PASSWORD, "input", Map.of("password", PASSWORD))))) ;
      s.inject("POST", "/dagRuns$", new AirflowStandIn.Fault.Respond(422, Map.of(), "application/json", echo));
      AirflowTesting.CliResult v422 = kiln(s, good, "trigger", "kiln_train");
      assertUserError(v422,
          "error: Airflow rejected the request to trigger DAG 'kiln_train' (HTTP 422): conf: bad value ***");

      // 5xx until the retries run out, with the password in the error body; then 429s.
      s.inject("GET", "/dagRuns/" + runId + "$", new AirflowStandIn.Fault.Respond(500, Map.of(), "text/plain",
          "Traceback: login failed for " + USER + ":" + PASSWORD), new AirflowStandIn.Fault.Respond(500, Map.of(),
          "text/plain", "Traceback: login failed for " + USER + ":" + PASSWORD));
      assertUserError(kiln(s, good, "status", "kiln_flaky", runId), "error: Airflow failed to read DAG run");
      s.inject("GET", "/dagRuns/" + runId + "$", AirflowStandIn.Fault.tooManyRequests("0"),
          AirflowStandIn.Fault.tooManyRequests("0"));
      assertUserError(kiln(s, good, "status", "kiln_flaky", runId), "error: Airflow kept rate-limiting");
      // A dropped connection, twice.
      s.inject("GET", "/dagRuns/" + runId + "$", new AirflowStandIn.Fault.Drop(), new AirflowStandIn.Fault.Drop(),
          new AirflowStandIn.Fault.Drop(), new AirflowStandIn.Fault.Drop());
      assertUserError(kiln(s, good, "status", "kiln_flaky", runId), "error: cannot reach Airflow at");

      if (flavor == AirflowStandIn.Flavor.AIRFLOW_3) {
        // The token endpoint's 422 echoes the login body, password included.
        String login = new ObjectMapper().writeValueAsString(Map.of("detail", List.of(Map.of("type", "missing",
            "loc", List.of("body", "username"), "msg", "Field required", "input",
            Map.of("username", USER, "password", PASSWORD)))));
        s.inject("POST", "^/auth/token$", new AirflowStandIn.Fault.Respond(422, Map.of(), "application/json", login));
        assertUserError(kiln(s, good, "status", "kiln_flaky", runId),
            "error: Airflow rejected the request to get an access token (POST /auth/token) (HTTP 422): username: Field "
                + "required");
      }
      // The verbose trace was on throughout: it shows requests, never credentials.
      assertTrue(captured.stream().anyMatch(c -> c.contains("airflow: GET " + s.url() + s.prefix() + "/dags/")));
      assertNothingLeaked();
      // And the credentials did go over the wire where they belong.
      assertTrue(s.requests().stream().anyMatch(r -> r.authorization() != null));
    }
  }

  @Test
  void unreachableServerAndUrlWithCredentials() {
    Path good = credentialsFile(tmp, USER, PASSWORD);
    int port = AirflowTesting.closedPort();
    AirflowTesting.CliResult r = cli("airflow", "status", "d", "r", "--url", "http://127.0.0.1:" + port,
        "--credentials-file", good.toString(), "--max-attempts", "2", "--verbose");
    captured.add(r.out());
    captured.add(r.err());
    assertEquals(2, r.exitCode(), r.all());
    assertTrue(r.err().contains("error: cannot reach Airflow at http://127.0.0.1:" + port
        + " to detect the Airflow API "
        + "version: connection refused (gave up after 2 attempts in "), r.err());

    AirflowTesting.CliResult inUrl = cli("airflow", "status", "d", "r", "--url",
        "http://" + USER + ":" + PASSWORD + "@127.0.0.1:" + port, "--verbose");
    captured.add(inUrl.out());
    captured.add(inUrl.err());
    assertEquals(2, inUrl.exitCode());
    assertTrue(inUrl.err().startsWith("error: the Airflow URL must not contain credentials"), inUrl.err());
    assertNothingLeaked();
  }

  @ParameterizedTest
  @EnumSource(AirflowStandIn.Flavor.class)
  void noSecretInClientExceptionsTraceOrToString(AirflowStandIn.Flavor flavor) {
    try (AirflowStandIn s = standIn(flavor)) {
      AirflowCredentials creds = AirflowCredentials.basic(USER, PASSWORD);
      AirflowClient c = AirflowTesting.client(s).credentials(creds).trace(captured::add).build();
      captured.add(creds.toString());
      captured.add(c.toString());
      String runId = c.trigger("kiln_train", Optional.empty(), Optional.empty(), Map.of()).run().dagRunId();
      captured.add(c.toString());
      AirflowClient wrong = AirflowTesting.client(s).credentials(AirflowCredentials.basic(USER, WRONG_PASSWORD))
          .trace(captured::add).build();
      capture(assertThrows(KilnUserException.class, () -> wrong.dagRun("kiln_train", runId)));
      capture(assertThrows(KilnUserException.class, () -> c.dagRun("kiln_train", "missing")));
      s.inject("GET", "/dagRuns/" + runId + "$", new AirflowStandIn.Fault.Respond(503, Map.of(), "application/json",
          "{\"detail\": \"db down, dsn postgres://airflow:" + PASSWORD + "@db\"}"),
          new AirflowStandIn.Fault.Drop(), new AirflowStandIn.Fault.Drop(), new AirflowStandIn.Fault.Drop(),
          new AirflowStandIn.Fault.Drop(), new AirflowStandIn.Fault.Drop(), new AirflowStandIn.Fault.Drop());
      capture(assertThrows(KilnUserException.class, () -> c.dagRun("kiln_train", runId)));
      AirflowClient tokenOnly = AirflowTesting.client(s).credentials(AirflowCredentials.token(STATIC_TOKEN))
          .trace(captured::add).build();
      captured.add(tokenOnly.toString());
      capture(assertThrows(KilnUserException.class, () -> tokenOnly.dagRun("kiln_train", runId)));
      assertTrue(captured.stream().anyMatch(l -> l.contains("db down, dsn postgres://airflow:***@db")),
          String.join("\n", captured));
      assertNothingLeaked();
    }
  }

  // -- where credentials come from ----------------------------------------------------------------------------------

  @Test
  void credentialsFileFormat() throws Exception {
    Path f = Files.writeString(tmp.resolve("c"), "# comment\n\n  username = kiln \npassword=" + PASSWORD + "\n");
    AirflowCredentials c = AirflowCredentials.fromFile(f);
    assertTrue(c.hasPassword());
    assertFalse(c.hasToken());
    assertEquals("kiln", c.username());
    assertEquals(PASSWORD, c.password());
    assertEquals("AirflowCredentials[username and password from the credentials file " + f + "]", c.toString());

    Path t = Files.writeString(tmp.resolve("t"), "token=" + STATIC_TOKEN + "\n");
    assertEquals("AirflowCredentials[token from the credentials file " + t + "]",
        AirflowCredentials.fromFile(t).toString());

    for (String[] bad : new String[][] {
        {"password " + PASSWORD + "\n", "Airflow credentials file: expected a key=value line (%s, line 1)"},
        {"username=kiln\npasword=" + PASSWORD + "\n",
            "Airflow credentials file: unknown key, expected username, password or token (%s, line 2)"},
        {PASSWORD + "=x\n", "Airflow credentials file: unknown key, expected username, password or token (%s, line 1)"},
        {"username=kiln\n", "Airflow credentials file has a username but no password (%s)"},
        {"password=" + PASSWORD + "\n", "Airflow credentials file has a password but no username (%s)"},
        {"# nothing\n", "Airflow credentials file has neither username/password nor token (%s)"}}) {
      Path b = Files.writeString(tmp.resolve("bad"), bad[0]);
      KilnUserException e = assertThrows(KilnUserException.class, () -> AirflowCredentials.fromFile(b));
      assertEquals(String.format(bad[1], b), e.getMessage());
      captured.add(e.getMessage());
    }
    assertEquals("Airflow credentials file not found (" + tmp.resolve("none") + ")", assertThrows(
        KilnUserException.class, () -> AirflowCredentials.fromFile(tmp.resolve("none"))).getMessage());
    assertNothingLeaked();
  }

  @Test
  void environmentAndPrecedence() throws Exception {
    Map<String, String> env = Map.of("KILN_AIRFLOW_USERNAME", "kiln", "KILN_AIRFLOW_PASSWORD", PASSWORD);
    AirflowCredentials c = AirflowCredentials.fromEnvironment(env);
    assertTrue(c.hasPassword());
    assertEquals("AirflowCredentials[username and password from $KILN_AIRFLOW_USERNAME/$KILN_AIRFLOW_PASSWORD/"
        + "$KILN_AIRFLOW_TOKEN]", c.toString());
    assertTrue(AirflowCredentials.fromEnvironment(Map.of("KILN_AIRFLOW_TOKEN", STATIC_TOKEN)).hasToken());
    assertTrue(AirflowCredentials.fromEnvironment(Map.of()).isEmpty());
    assertEquals("$KILN_AIRFLOW_USERNAME is set but $KILN_AIRFLOW_PASSWORD is not", assertThrows(
        KilnUserException.class, () -> AirflowCredentials.fromEnvironment(Map.of("KILN_AIRFLOW_USERNAME", "kiln")))
        .getMessage());
    assertEquals("$KILN_AIRFLOW_PASSWORD is set but $KILN_AIRFLOW_USERNAME is not", assertThrows(
        KilnUserException.class, () -> AirflowCredentials.fromEnvironment(Map.of("KILN_AIRFLOW_PASSWORD", PASSWORD)))
        .getMessage());
    // A credentials file, when given, wins over the environment.
    Path t = Files.writeString(tmp.resolve("t"), "token=" + STATIC_TOKEN + "\n");
    AirflowCredentials fromFile = AirflowCredentials.resolve(Optional.of(t), env);
    assertTrue(fromFile.hasToken());
    assertFalse(fromFile.hasPassword());
    assertTrue(AirflowCredentials.resolve(Optional.empty(), env).hasPassword());
  }

  private static void assertUserError(AirflowTesting.CliResult r, String errPrefix) {
    assertEquals(2, r.exitCode(), r.all());
    assertTrue(r.err().contains(errPrefix), r.err());
    // One "error:" line; --verbose adds trace lines and the stack trace, never a second error line.
    assertEquals(1, r.err().lines().filter(l -> l.startsWith("error: ")).count(), r.err());
  }
}
