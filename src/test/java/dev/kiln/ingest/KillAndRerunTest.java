package dev.kiln.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kiln.common.DataRoot;
import dev.kiln.generate.EventGenerator;
import dev.kiln.generate.GenerateConfig;
import dev.kiln.generate.GenerateResult;
import dev.kiln.testing.ChildJvm;
import dev.kiln.testing.DeltaLogFiles;
import dev.kiln.testing.KillPoints;
import dev.kiln.testing.SharedSpark;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills real {@code kiln ingest} child processes (SIGKILL, no shutdown hooks) at each point of one batch — after its
 * {@code started} journal entry, while its bronze files exist before the bronze commit, after the bronze commit
 * before {@code committed} — re-runs, and checks the result is exactly what one clean run gives. Each child is
 * stopped at its point by {@link dev.kiln.testing.PausingLogStore} and the data root is checked to be in that state
 * before the kill; every point must be hit.
 */
class KillAndRerunTest {
  private static final String SALT = "kill-test-salt-99";
  private static final String BATCH = "events-000001";

  @TempDir
  Path tmp;

  private final SparkSession spark = SharedSpark.get();

  @Test
  void killedAtEveryPointOfABatchThenARerunEqualsOneCleanRun() throws Exception {
    Path src = tmp.resolve("src");
    GenerateResult truth = new EventGenerator(new GenerateConfig(20_000, src, 11, 0.01, 2)).generate();
    Path saltFile = tmp.resolve("salt");
    Files.writeString(saltFile, SALT);
    Path killedRoot = tmp.resolve("killed");
    Path bronze = killedRoot.resolve("tables/bronze/events");
    Path quarantine = killedRoot.resolve("tables/quarantine/events");
    Path log = killedRoot.resolve("tables/meta/ingest_log");

    // Each point's state is one the earlier kills left the batch in, so each child has exactly that left to do.
    List<KillPoints.Point> points = List.of(
        new KillPoints.Point("after the batch was journaled as started, before any of its data",
            "after tables/meta/ingest_log log_entry=started batch=" + BATCH,
            root -> KillPoints.expect(
                one(log, "log_entry", "started") && none(log, "log_entry", "committed"), "no started entry alone",
                none(quarantine, "batch", BATCH) && none(bronze, "batch", BATCH), "data of the batch committed")),
        new KillPoints.Point("while the batch's bronze data files exist, before its bronze commit",
            "before tables/bronze/events adds batch=" + BATCH,
            root -> KillPoints.expect(
                !DeltaLogFiles.uncommittedDataFiles(bronze).isEmpty(), "no uncommitted bronze files",
                none(bronze, "batch", BATCH), "the bronze commit of the batch exists",
                none(log, "log_entry", "committed"), "the batch is marked committed")),
        new KillPoints.Point("after the batch's bronze commit, before it is marked committed",
            "after tables/bronze/events adds batch=" + BATCH,
            root -> KillPoints.expect(
                one(bronze, "batch", BATCH), "no bronze commit of the batch",
                one(quarantine, "batch", BATCH), "no quarantine commit of the batch",
                none(log, "log_entry", "committed"), "the batch is marked committed")));

    List<String> cli = List.of("ingest", "--source", src.toString(), "--table", "events",
        "--data-root", killedRoot.toString(), "--pii-salt-file", saltFile.toString(), "--json");
    List<KillPoints.Outcome> outcomes = KillPoints.killAtEach(points, killedRoot, cli, tmp, Duration.ofSeconds(240));
    assertEquals(KillPoints.names(points), KillPoints.hit(outcomes), KillPoints.report(outcomes));

    Path finalLog = tmp.resolve("final.log");
    Process last = ChildJvm.start(ChildJvm.classpath(), KillPoints.childJvmArgs(), "dev.kiln.cli.KilnCli", cli,
        Map.of(), finalLog);
    assertEquals(0, ChildJvm.await(last, Duration.ofSeconds(240), () -> read(finalLog)), read(finalLog));

    DataRoot clean = DataRoot.of(tmp.resolve("clean").toString());
    IngestResult cleanResult = ingest(clean, src);
    assertEquals(truth.expectedAccepted(), cleanResult.accepted());

    DataRoot killed = DataRoot.of(killedRoot.toString());
    assertSameRows(table(clean, "bronze").drop("_ingested_at"), table(killed, "bronze").drop("_ingested_at"));
    assertSameRows(table(clean, "quarantine").drop("ingested_at"), table(killed, "quarantine").drop("ingested_at"));

    Dataset<Row> journal = spark.read().format("delta").load(killed.resolve("tables/meta/ingest_log"));
    assertEquals(1, journal.where("status = 'committed'").count(), "exactly one committed batch");
    Row committed = journal.where("status = 'committed'").first();
    assertEquals(BATCH, committed.<String>getAs("batch_id"));
    assertEquals(truth.linesWritten(), (long) committed.<Long>getAs("read"));
    assertEquals(truth.expectedAccepted(), (long) committed.<Long>getAs("accepted"));
    assertEquals(truth.expectedDuplicates(), (long) committed.<Long>getAs("duplicates"));
    assertEquals(cleanResult.quarantined(), (long) committed.<Long>getAs("quarantined"));

    // and once more: nothing new
    IngestResult again = ingest(killed, src);
    assertEquals(0, again.read());
    assertEquals(2, again.filesAlreadyIngested());
  }

  private IngestResult ingest(DataRoot root, Path src) {
    return new IngestJob(new IngestConfig(root, src.toString(), SourceFormat.CSV, "events",
        Path.of("conf/schemas/events.yaml"), Optional.of(SALT.getBytes(StandardCharsets.UTF_8)))).run(spark);
  }


  private static boolean one(Path table, String key, String value) {
    return DeltaLogFiles.commitsWith(table, key, value, "batch", BATCH).size() == 1;
  }

  private static boolean none(Path table, String key, String value) {
    return DeltaLogFiles.commitsWith(table, key, value, "batch", BATCH).isEmpty();
  }

  private Dataset<Row> table(DataRoot root, String layer) {
    return spark.read().format("delta").load(root.resolve("tables/" + layer + "/events"));
  }

  private static void assertSameRows(Dataset<Row> expected, Dataset<Row> actual) {
    assertEquals(expected.count(), actual.count());
    assertEquals(0, expected.exceptAll(actual).count());
    assertEquals(0, actual.exceptAll(expected).count());
  }

  private static String read(Path log) {
    try {
      return Files.readString(log);
    } catch (java.io.IOException e) {
      return "(no log)";
    }
  }
}
