package dev.kiln.airflow;

import dev.kiln.cli.KilnCli;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ThreadLocalRandom;

/** Shared test fixtures: stand-in servers with users and DAGs, fast clients, the CLI in-process. */
final class AirflowTesting {
  static final String USER = "kiln";
  /** A password that must never show anywhere. */
  static final String PASSWORD = "pw-S3cr3t-" + HexFormat.of().formatHex(randomBytes(6));
  static final String VIEWER = "viewer";
  static final String VIEWER_PASSWORD = "vw-S3cr3t-" + HexFormat.of().formatHex(randomBytes(6));

  /** Fast retries for tests: 4 attempts, 20 ms doubling to 100 ms, 5 s in all. */
  static final RetryPolicy FAST =
      new RetryPolicy(4, Duration.ofMillis(20), Duration.ofMillis(100), Duration.ofSeconds(5));

  private AirflowTesting() {}

  static byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    ThreadLocalRandom.current().nextBytes(b);
    return b;
  }

  /** A stand-in with the users and DAGs the tests use. */
  static AirflowStandIn standIn(AirflowStandIn.Flavor flavor) {
    AirflowStandIn s = AirflowStandIn.start(flavor);
    s.user(USER, PASSWORD, true).user(VIEWER, VIEWER_PASSWORD, false);
    s.dag(AirflowStandIn.DagSpec.succeeding("kiln_train", "extract", "train", "publish"));
    s.dag(AirflowStandIn.DagSpec.failing("kiln_flaky", "train", "extract", "train", "publish"));
    s.dag(AirflowStandIn.DagSpec.stuck("kiln_stuck", "wait_forever"));
    s.dag(AirflowStandIn.DagSpec.succeeding("kiln_params", "run").withRequiredParams("model"));
    List<String> wide = new ArrayList<>();
    for (int i = 0; i < 130; i++) {
      wide.add(String.format("part_%03d", i));
    }
    s.dag(new AirflowStandIn.DagSpec("kiln_wide", wide, null, 0, 0, false, java.util.Set.of()));
    return s;
  }

  static AirflowClient.Builder client(AirflowStandIn s) {
    return AirflowClient.builder(s.url())
        .credentials(AirflowCredentials.basic(USER, PASSWORD))
        .retryPolicy(FAST)
        .requestTimeout(Duration.ofSeconds(3))
        .connectTimeout(Duration.ofSeconds(2))
        .random(new Random(7));
  }

  /** A port nothing listens on. */
  static int closedPort() {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  static Path credentialsFile(Path dir, String username, String password) {
    try {
      Path f = dir.resolve("airflow-credentials-" + username);
      Files.writeString(f, "# Airflow API user for tests\nusername=" + username + "\npassword=" + password + "\n");
      return f;
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  record CliResult(int exitCode, String out, String err) {
    String all() {
      return out + "\n" + err;
    }
  }

  /** {@code kiln <args>} in this JVM (no Spark: the airflow commands do not start one). */
  static CliResult cli(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = KilnCli.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
    return new CliResult(code, out.toString(), err.toString());
  }

  /** The common options pointing the CLI at a stand-in with fast-failing retries. */
  static List<String> cliArgs(AirflowStandIn s, Path credentials, String... args) {
    List<String> all = new ArrayList<>();
    all.add("airflow");
    Collections.addAll(all, args);
    Collections.addAll(all, "--url", s.url(), "--credentials-file", credentials.toString(), "--max-attempts", "2");
    return all;
  }

  /** Records waits instead of sleeping. */
  static final class RecordingSleeper implements AirflowClient.Sleeper {
    final List<Duration> sleeps = Collections.synchronizedList(new ArrayList<>());

    @Override
    public void sleep(Duration d) {
      sleeps.add(d);
    }
  }
}
