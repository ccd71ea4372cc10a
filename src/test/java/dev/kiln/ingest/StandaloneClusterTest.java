package dev.kiln.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kiln.common.Json;
import dev.kiln.generate.EventGenerator;
import dev.kiln.generate.GenerateConfig;
import dev.kiln.generate.GenerateResult;
import dev.kiln.testing.ChildJvm;
import dev.kiln.testing.SharedSpark;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cluster path: a real Spark standalone cluster on 127.0.0.1 — a Master and a Worker JVM started from the Maven
 * jars (a SPARK_HOME holding only jars/), executors launched by the Worker as their own processes — and a Kiln
 * driver process submitting an ingest to it in client mode.
 */
class StandaloneClusterTest {
  @TempDir
  Path tmp;

  private final List<Process> daemons = new ArrayList<>();

  @AfterEach
  void stopCluster() throws InterruptedException {
    for (Process p : daemons) {
      p.destroy();
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
  }

  @Test
  void ingestRunsOnAStandaloneClusterWithExecutorsInTheirOwnProcesses() throws Exception {
    Path sparkHome = sparkHomeOfJars();
    Path work = Files.createDirectories(tmp.resolve("work"));
    int masterPort = freePort();
    String master = "spark://127.0.0.1:" + masterPort;
    Map<String, String> env = Map.of("SPARK_HOME", sparkHome.toString(), "SPARK_SCALA_VERSION", "2.12",
        "SPARK_LOCAL_IP", "127.0.0.1");
    String daemonCp = sparkHome.resolve("jars") + "/*";

    Path masterLog = tmp.resolve("master.log");
    daemons.add(ChildJvm.start(daemonCp, List.of("-Xmx512m"), "org.apache.spark.deploy.master.Master",
        List.of("--host", "127.0.0.1", "--port", String.valueOf(masterPort), "--webui-port",
            String.valueOf(freePort())), env, masterLog));
    awaitLog(masterLog, "I have been elected leader", 120);
    Path workerLog = tmp.resolve("worker.log");
    daemons.add(ChildJvm.start(daemonCp, List.of("-Xmx512m"), "org.apache.spark.deploy.worker.Worker",
        List.of(master, "--host", "127.0.0.1", "--cores", "2", "--memory", "3g", "--webui-port",
            String.valueOf(freePort()), "--work-dir", work.toString()), env, workerLog));
    awaitLog(workerLog, "Successfully registered with master", 120);

    GenerateResult truth = new EventGenerator(new GenerateConfig(20_000, tmp.resolve("src"), 3, 0.03, 2)).generate();
    Files.writeString(tmp.resolve("salt"), "cluster-salt-123");
    Path driverLog = tmp.resolve("driver.log");
    Process driver = ChildJvm.start(ChildJvm.classpath(), List.of("-Xmx1g",
            "-Dspark.master=" + master,
            "-Dspark.driver.host=127.0.0.1",
            "-Dspark.ui.enabled=false",
            "-Dspark.executor.cores=1",
            "-Dspark.cores.max=2",
            "-Dspark.executor.memory=1g",
            "-Dspark.sql.shuffle.partitions=4",
            // executors load Delta and Spark from SPARK_HOME/jars, Kiln's classes from the build
            "-Dspark.executor.extraClassPath=" + Path.of("target/classes").toAbsolutePath()),
        "dev.kiln.cli.KilnCli",
        List.of("ingest", "--source", tmp.resolve("src").toString(), "--table", "events",
            "--data-root", tmp.resolve("root").toString(), "--pii-salt-file", tmp.resolve("salt").toString(),
            "--json"),
        env, driverLog);
    assertTrue(driver.waitFor(300, TimeUnit.SECONDS), "driver timed out");
    String out = Files.readString(driverLog);
    assertEquals(0, driver.exitValue(), out);

    JsonNode summary = Json.JSON.readTree(out.lines().filter(l -> l.startsWith("{")).reduce((a, b) -> b)
        .orElseThrow(() -> new AssertionError("no JSON summary:\n" + out)));
    assertEquals(truth.linesWritten(), summary.get("read").asLong());
    assertEquals(truth.expectedAccepted(), summary.get("accepted").asLong());
    assertEquals(truth.expectedQuarantined(), summary.get("quarantined").asLong());
    assertEquals(truth.expectedDuplicates(), summary.get("duplicates").asLong());
    assertEquals(truth.expectedAccepted(), SharedSpark.get().read().format("delta")
        .load(tmp.resolve("root/tables/bronze/events").toString()).count());

    // The Worker launched two executor processes for the application, each with its own log directory.
    try (Stream<Path> s = Files.walk(work, 2)) {
      List<Path> executorDirs = s.filter(p -> p.getParent() != null
          && p.getParent().getFileName().toString().startsWith("app-")).toList();
      assertEquals(2, executorDirs.size(), "executor dirs: " + executorDirs);
      for (Path dir : executorDirs) {
        assertTrue(Files.exists(dir.resolve("stderr")), "no executor log in " + dir);
      }
    }
  }

  /**
   * A SPARK_HOME with only jars/ (links to the test classpath's jars): enough for the Master, the Worker and the
   * executors it launches. Kept under target/ so the links outlive no build.
   */
  private static Path sparkHomeOfJars() throws IOException {
    Path home = Path.of("target", "test-spark-home").toAbsolutePath();
    Path jars = Files.createDirectories(home.resolve("jars"));
    for (Path entry : ChildJvm.classpathEntries()) {
      String name = entry.getFileName().toString();
      if (name.endsWith(".jar") && !name.startsWith("junit") && !name.startsWith("surefire")
          && !Files.exists(jars.resolve(name))) {
        Files.createSymbolicLink(jars.resolve(name), entry);
      }
    }
    return home;
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static void awaitLog(Path log, String text, int seconds) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (System.nanoTime() < deadline) {
      if (Files.exists(log) && Files.readString(log).contains(text)) {
        return;
      }
      Thread.sleep(200);
    }
    throw new AssertionError("'" + text + "' not seen in " + log + ":\n"
        + (Files.exists(log) ? Files.readString(log) : "(no log)"));
  }
}
