package dev.kiln.features;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.DataRoot;
import dev.kiln.common.KilnUserException;
import dev.kiln.testing.GeneratedEvents;
import dev.kiln.testing.SharedSpark;
import io.delta.tables.DeltaTable;
import java.io.File;
import java.nio.file.Path;
import java.util.Optional;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Delta drops log entries after {@code delta.logRetentionDuration} and VACUUM deletes old files: feature runs must stay
 * incremental and correct once the history that wrote the table is gone, and a trainset rebuild of a version that
 * can no longer be read fails with one line.
 */
class FeatureStateWithoutHistoryTest {
  @TempDir
  Path tmp;

  private final SparkSession spark = SharedSpark.get();

  @Test
  void incrementalRunsStayIncrementalAndCorrectAfterTheLogIsCleanedUp() throws Exception {
    Path src = GeneratedEvents.generate(tmp, 1_500, 7, 3);
    DataRoot root = DataRoot.of(tmp.resolve("root").toString());
    String path = root.resolve("tables/features/clicks");
    GeneratedEvents.ingest(spark, root, src.resolve("events-00000.csv").toString());
    assertEquals("full", features(root, false).mode());
    GeneratedEvents.ingest(spark, root, src.resolve("events-00001.csv").toString());
    assertEquals("incremental", features(root, false).mode());
    TrainsetManifest early = trainset(root, Optional.empty()).manifest();

    cleanUpLog(path);
    Dataset<Row> history = DeltaTable.forPath(spark, path).history();
    assertEquals(0, history.where("userMetadata LIKE '%source_version%'").count(),
        "the log cleanup must have removed every features data commit: " + history.collectAsList());

    GeneratedEvents.ingest(spark, root, src.resolve("events-00002.csv").toString());
    FeatureResult third = features(root, false);
    assertEquals("incremental", third.mode(), third.reason());
    assertTrue(third.newRows() > 0);
    FeatureResult again = features(root, false);
    assertEquals("up-to-date", again.mode(), again.reason());
    FeatureResult full = features(root, true);
    Dataset<Row> incremental = spark.read().format("delta").option("versionAsOf", third.tableVersion()).load(path);
    Dataset<Row> recomputed = spark.read().format("delta").option("versionAsOf", full.tableVersion()).load(path);
    assertEquals(recomputed.count(), incremental.count());
    assertEquals(0, incremental.exceptAll(recomputed).count());
    assertEquals(0, recomputed.exceptAll(incremental).count());

    // the early trainset's feature version is gone from the log: a rebuild says so in one line
    KilnUserException e = assertThrows(KilnUserException.class, () -> trainset(root, Optional.of(early.id())));
    assertTrue(e.getMessage().contains("version " + early.featureTableVersion()), e.getMessage());
    assertTrue(e.getMessage().contains(early.id() + " itself is intact"), e.getMessage());
    assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    assertTrue(spark.read().format("delta").load(early.dataPath()).count() > 0);
  }

  @Test
  void rebuildOfAVacuumedFeatureVersionFailsWithOneLine() throws Exception {
    Path src = GeneratedEvents.generate(tmp, 1_000, 9, 2);
    DataRoot root = DataRoot.of(tmp.resolve("root").toString());
    String path = root.resolve("tables/features/clicks");
    GeneratedEvents.ingest(spark, root, src.resolve("events-00000.csv").toString());
    features(root, false);
    TrainsetManifest early = trainset(root, Optional.empty()).manifest();
    GeneratedEvents.ingest(spark, root, src.resolve("events-00001.csv").toString());
    features(root, true); // rewrites every file: the early version's files become removable
    SparkSession own = spark.newSession();
    own.conf().set("spark.databricks.delta.retentionDurationCheck.enabled", "false");
    DeltaTable.forPath(own, path).vacuum(0);

    KilnUserException e = assertThrows(KilnUserException.class, () -> trainset(root, Optional.of(early.id())));
    assertTrue(e.getMessage().contains("deleted by VACUUM"), e.getMessage());
    assertTrue(e.getMessage().contains(early.id() + " itself is intact"), e.getMessage());
    assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    assertTrue(spark.read().format("delta").load(early.dataPath()).count() > 0);
  }

  /**
   * Makes Delta delete the table's log entries: a zero retention, every existing log file dated three days back (Delta
   * keeps files until the day after they expire), and a commit whose checkpoint triggers the cleanup.
   */
  private void cleanUpLog(String path) {
    spark.sql("ALTER TABLE delta.`" + path + "` SET TBLPROPERTIES ('delta.logRetentionDuration' = 'interval 0 "
        + "seconds', 'delta.checkpointInterval' = '1')");
    long old = System.currentTimeMillis() - 3 * 24 * 3600_000L;
    File[] logs = new File(java.net.URI.create(path + "/_delta_log").getPath()).listFiles();
    for (File f : logs) {
      if (f.isFile()) {
        assertTrue(f.setLastModified(old), f.toString());
      }
    }
    spark.sql("ALTER TABLE delta.`" + path + "` SET TBLPROPERTIES ('kiln.test.cleanup' = 'yes')");
  }

  private FeatureResult features(DataRoot root, boolean full) {
    return new FeatureJob(new FeatureConfig(root, IncrementalFeaturesTest.SPEC, Optional.empty(), full, false))
        .run(spark);
  }

  private TrainsetJob.Result trainset(DataRoot root, Optional<String> asOf) {
    return new TrainsetJob(new TrainsetConfig(root, "clicks", Optional.empty(), TrainsetConfig.Split.RANDOM, 0.2, 0.1,
        42, Optional.empty(), Optional.empty(), asOf)).run(spark);
  }
}
