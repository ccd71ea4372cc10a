package dev.kiln.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.cli.KilnCli;
import dev.kiln.common.DataRoot;
import dev.kiln.generate.EventGenerator;
import dev.kiln.generate.GenerateConfig;
import dev.kiln.pipeline.PipelineRunsTable.Entry;
import dev.kiln.pipeline.PipelineRunsTable.State;
import dev.kiln.testing.ChildJvm;
import dev.kiln.testing.Cli;
import dev.kiln.testing.GeneratedEvents;
import dev.kiln.testing.SharedSpark;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDate;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pipelines of real Kiln commands on generated data: the shipped daily_training spec end to end, a runner SIGKILLed
 * mid-pipeline and resumed, a backfill whose first attempt of one day fails and is retried, and --isolate.
 */
class PipelineEndToEndTest {
  private static final String SALT = "salt-0123456789"; // what GeneratedEvents.ingest hashes PII with
  private static final LocalDate FIRST_DAY = LocalDate.of(2026, 3, 1);

  @TempDir
  static Path tmp;

  static Path incoming;
  static Path saltFile;

  @BeforeAll
  static void generateHistoryAndDailyFiles() throws IOException {
    incoming = tmp.resolve("incoming/events");
    for (int i = 0; i < 3; i++) {
      LocalDate day = FIRST_DAY.plusDays(i);
      new EventGenerator(new GenerateConfig(250, incoming.resolve(day.toString()), 100 + i, 0, 1,
          Instant.parse(day + "T00:00:00Z"), 1, false, 6000)).generate();
    }
    new EventGenerator(new GenerateConfig(6000, tmp.resolve("incoming/history"), 7, 0, 1,
        Instant.parse("2026-02-01T00:00:00Z"), 28, false, 6000)).generate();
    saltFile = tmp.resolve("salt");
    Files.writeString(saltFile, SALT);
  }

  @Test
  void dailyTrainingRunsEndToEndAndAKilledRunResumesWithoutRedoingSucceededTasks() throws Exception {
    SparkSession spark = SharedSpark.get();
    DataRoot root = DataRoot.of(tmp.resolve("daily").toString());
    GeneratedEvents.ingest(spark, root, tmp.resolve("incoming/history").toString()); // the history before day one
    String spec = "conf/pipelines/daily_training.yaml";
    List<String> args = List.of("pipeline", "run", spec, "--param", "incoming=" + incoming, "--param",
        "retrain_trials=1", "--data-root", root.toString());

    // 1. the shipped spec, as a user runs it: its own JVM, the PII salt from the environment
    Path log1 = tmp.resolve("day1.log");
    Process day1 = kiln(concat(args, "--date", FIRST_DAY.toString()), log1);
    try {
      assertTrue(day1.waitFor(600, TimeUnit.SECONDS), "day 1 did not finish");
    } finally {
      day1.destroyForcibly();
    }
    String out1 = Files.readString(log1);
    assertEquals(0, day1.exitValue(), out1);
    assertTrue(out1.contains("daily_training 2026-03-01: success"), out1);
    PipelineRunsTable table = new PipelineRunsTable(spark, root);
    Map<String, Entry> tasks1 = table.latestTaskStates("daily_training", FIRST_DAY);
    for (String t : List.of("ingest", "features", "trainset", "train", "promote", "score", "monitor")) {
      assertEquals(State.SUCCESS, tasks1.get(t).state(), t + " in\n" + out1);
    }
    int monitorExit = tasks1.get("monitor").exitCode();
    assertTrue(monitorExit == 0 || monitorExit == 3, out1);
    assertEquals(monitorExit == 3 ? State.SUCCESS : State.SKIPPED, tasks1.get("retrain").state(), out1);
    assertEquals(250, spark.read().format("delta").load(root.table(dev.kiln.common.TableRef.parse(
        "predictions.clicks", "predictions"))).where("batch_id = '2026-03-01'").count());

    // 2. the next day, SIGKILLed while it trains
    LocalDate day2 = FIRST_DAY.plusDays(1);
    Path log2 = tmp.resolve("day2.log");
    Process killed = kiln(concat(args, "--date", day2.toString()), log2);
    boolean hit = false;
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(400);
      while (killed.isAlive() && System.nanoTime() < deadline && !hit) {
        if (Files.readString(log2).replaceAll(" +", " ").contains(" train started")) {
          killed.destroyForcibly();
          hit = true;
        }
        Thread.sleep(20);
      }
      assertTrue(killed.waitFor(60, TimeUnit.SECONDS));
    } finally {
      killed.destroyForcibly();
    }
    assertTrue(hit, "the runner was not killed while training:\n" + Files.readString(log2));
    assertEquals(State.RUNNING, table.run("daily_training", day2).orElseThrow().state());
    Map<String, Entry> atKill = table.latestTaskStates("daily_training", day2);
    assertEquals(List.of("features", "ingest", "trainset"), atKill.keySet().stream().sorted().toList(),
        "at the kill: " + atKill);

    // 3. the re-run resumes at train (here in one JVM, as the tests run)
    Cli.Result resumed = Cli.run(concat(args, "--date", day2.toString()).toArray(String[]::new));
    assertEquals(0, resumed.exitCode(), resumed.out() + resumed.err());
    assertTrue(resumed.out().contains("(3 succeeded in an earlier run: ingest, features, trainset)"), resumed.out());
    assertTrue(resumed.out().contains("daily_training 2026-03-02: success"), resumed.out());
    List<Entry> history = table.history("daily_training", day2);
    for (String t : List.of("ingest", "features", "trainset")) {
      assertEquals(1, history.stream().filter(e -> e.task().filter(t::equals).isPresent()).count(), t + " ran again");
    }
    assertEquals(State.SUCCESS, table.latestTaskStates("daily_training", day2).get("score").state());
    assertEquals(State.SUCCESS, table.run("daily_training", day2).orElseThrow().state());
    assertTrue(Cli.run("pipeline", "status", spec, "--data-root", root.toString()).out().contains("2026-03-02"));
  }

  @Test
  void aBackfillRecordsOneRunPerDateAndATaskThatFailsOnceIsRetried() throws Exception {
    DataRoot root = DataRoot.of(tmp.resolve("backfill").toString());
    Path days = tmp.resolve("backfill-in");
    Files.createDirectories(days);
    for (LocalDate d : List.of(FIRST_DAY, FIRST_DAY.plusDays(2))) {
      copyDir(incoming.resolve(d.toString()), days.resolve(d.toString()));
    }
    Path spec = tmp.resolve("ingest_days.yaml");
    Files.writeString(spec, """
        pipeline: ingest_days
        schedule: null
        start_date: 2026-03-01
        params: {incoming: in, salt_file: salt}
        defaults: {retries: 2, retry_delay: 1s, retry_exponential_backoff: false}
        tasks:
          - id: ingest
            args: [ingest, --source, "{{ params.incoming }}/{{ ds }}", --table, events,
                   --pii-salt-file, "{{ params.salt_file }}"]
          - id: features
            args: [features, --feature-set, conf/features/clicks.yaml]
            depends_on: [ingest]
        """);
    // The second day's files arrive late: its first ingest attempt finds no directory and fails; they are moved in
    // when that failure is printed, before the retry.
    Path late = days.resolve(FIRST_DAY.plusDays(1).toString());
    StringWriter out = new StringWriter() {
      @Override
      public void write(String s, int off, int len) {
        super.write(s, off, len);
        if (s.substring(off, off + len).contains("failed in") && !Files.exists(late)) {
          copyDir(incoming.resolve(late.getFileName().toString()), late);
        }
      }
    };
    StringWriter err = new StringWriter();
    SharedSpark.get();
    int code = KilnCli.execute(new String[] {"pipeline", "backfill", spec.toString(), "--from", "2026-03-01", "--to",
        "2026-03-03", "--param", "incoming=" + days, "--param", "salt_file=" + saltFile, "--data-root",
        root.toString()}, new PrintWriter(out, true), new PrintWriter(err, true));
    String text = out.toString().replaceAll(" +", " ");
    assertEquals(0, code, text + err);
    assertTrue(text.contains("backfill ingest_days 2026-03-01..2026-03-03: 3 of 3 dates succeeded"), text);
    assertTrue(text.contains("ingest failed in"), text);
    assertTrue(text.contains("retry 1 of 2 in 1s"), text);

    PipelineRunsTable table = new PipelineRunsTable(SharedSpark.get(), root);
    assertEquals(List.of("2026-03-03", "2026-03-02", "2026-03-01"), table.runs("ingest_days").stream()
        .map(e -> e.logicalDate() + (e.state() == State.SUCCESS ? "" : " " + e.state())).toList());
    List<Entry> retried = table.history("ingest_days", FIRST_DAY.plusDays(1)).stream()
        .filter(e -> e.task().filter("ingest"::equals).isPresent()).toList();
    assertEquals(List.of("failed 1", "success 2"), retried.stream().map(e -> e.state().id() + " " + e.attempt())
        .toList());
    assertEquals(2, retried.get(0).exitCode());
    assertTrue(retried.get(0).message().contains("source"), retried.get(0).message());
    assertEquals(750, SharedSpark.get().read().format("delta").load(root.table(dev.kiln.common.TableRef.parse(
        "bronze.events", "bronze"))).count());
  }

  @Test
  void isolateRunsEachTaskInItsOwnJvm() throws Exception {
    DataRoot root = DataRoot.of(tmp.resolve("isolated").toString());
    Path spec = tmp.resolve("isolated.yaml");
    Files.writeString(spec, """
        pipeline: isolated
        schedule: null
        start_date: 2026-03-01
        tasks:
          - {id: models, args: [models, list]}
        """);
    Cli.Result r = Cli.run("pipeline", "run", spec.toString(), "--date", "2026-03-01", "--isolate", "--data-root",
        root.toString());
    assertEquals(0, r.exitCode(), r.out() + r.err());
    Entry models = new PipelineRunsTable(SharedSpark.get(), root).latestTaskStates("isolated", FIRST_DAY)
        .get("models");
    assertEquals("isolated", models.mode());
    assertEquals(State.SUCCESS, models.state());
    // the child's own output, as its log shows: another JVM ran the command
    String log = Files.readString(Path.of(java.net.URI.create(models.logPath())));
    assertTrue(log.startsWith("$ kiln models list --data-root "), log);
    assertTrue(log.strip().endsWith("exit 0"), log);
  }

  @Test
  void aTaskPastItsTimeoutIsCancelledWithItsSparkJobs() throws Exception {
    DataRoot root = DataRoot.of(tmp.resolve("timeout").toString());
    Path spec = tmp.resolve("slow.yaml");
    Files.writeString(spec, """
        pipeline: slow
        schedule: null
        start_date: 2026-03-01
        tasks:
          - {id: forever, args: [sql, "SELECT sum(id) FROM range(1000000000000)"], timeout: 5s}
          - {id: after, args: [models, list], depends_on: [forever]}
        """);
    SparkSession spark = SharedSpark.get();
    long start = System.nanoTime();
    Cli.Result r = Cli.run("pipeline", "run", spec.toString(), "--date", "2026-03-01", "--data-root", root.toString());
    double seconds = (System.nanoTime() - start) / 1e9;
    assertEquals(4, r.exitCode(), r.out() + r.err());
    String out = r.out().replaceAll(" +", " ");
    assertTrue(out.contains("forever failed in") && out.contains("(timed out after 5s)"), out);
    assertTrue(out.contains("after upstream failed: upstream task forever failed"), out);
    assertTrue(seconds < 120, "the timed-out task was not stopped: " + seconds + " s");
    // its Spark jobs were cancelled, not left running on the shared context
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (spark.sparkContext().statusTracker().getActiveJobIds().length > 0 && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    assertEquals(0, spark.sparkContext().statusTracker().getActiveJobIds().length);
    Entry forever = new PipelineRunsTable(spark, root).latestTaskStates("slow", FIRST_DAY).get("forever");
    assertEquals(State.FAILED, forever.state());
    assertEquals(null, forever.exitCode());
    assertEquals("timed out after 5s", forever.message());
  }

  private static Process kiln(List<String> args, Path log) {
    return ChildJvm.start(ChildJvm.classpath(), List.of("-Xmx2g", "-Dspark.master=local[2]",
        "-Dspark.ui.enabled=false", "-Dspark.sql.shuffle.partitions=4"), "dev.kiln.cli.KilnCli", args,
        Map.of("KILN_PII_SALT", SALT), log);
  }

  private static List<String> concat(List<String> a, String... more) {
    return java.util.stream.Stream.concat(a.stream(), java.util.Arrays.stream(more)).toList();
  }

  private static void copyDir(Path from, Path to) {
    try {
      Files.createDirectories(to.getParent());
      Path staging = to.resolveSibling("." + to.getFileName() + ".tmp");
      Files.createDirectories(staging);
      try (var files = Files.list(from)) {
        for (Path f : files.toList()) {
          Files.copy(f, staging.resolve(f.getFileName()));
        }
      }
      Files.move(staging, to); // the day's files appear at once
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
