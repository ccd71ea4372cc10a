package dev.kiln.features;

import static org.apache.spark.sql.functions.col;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.DataRoot;
import dev.kiln.testing.GeneratedEvents;
import dev.kiln.testing.SharedSpark;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three batches of generated events (in time order, with late events that cross batch boundaries) are ingested one
 * by one, with {@code kiln features} after each; then a {@code --full} recompute. Trainsets are built in between.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class IncrementalFeaturesTest {
  static final Path SPEC = Path.of("conf/features/clicks.yaml");

  @TempDir
  static Path tmp;

  private final SparkSession spark = SharedSpark.get();
  private DataRoot root;
  private final List<FeatureResult> runs = new ArrayList<>();
  private FeatureResult full;
  private TrainsetManifest early;
  private TrainsetJob.Result rebuilt;
  private long versionBeforeFull;

  @BeforeAll
  void ingestThreeBatchesWithFeaturesAfterEach() {
    Path src = GeneratedEvents.generate(tmp, 9_000, 11, 3);
    root = DataRoot.of(tmp.resolve("root").toString());
    for (int b = 0; b < 3; b++) {
      GeneratedEvents.ingest(spark, root, src.resolve("events-0000" + b + ".csv").toString());
      runs.add(features(false, false));
      if (b == 1) {
        early = trainset(TrainsetConfig.Split.RANDOM, Optional.empty()).manifest();
      }
    }
    versionBeforeFull = runs.get(2).tableVersion();
    rebuilt = trainset(TrainsetConfig.Split.RANDOM, Optional.of(early.id()));
    full = features(true, true);
  }

  private FeatureResult features(boolean fullRecompute, boolean stats) {
    return features(root, fullRecompute, stats);
  }

  private FeatureResult features(DataRoot at, boolean fullRecompute, boolean stats) {
    return new FeatureJob(new FeatureConfig(at, SPEC, Optional.empty(), fullRecompute, stats)).run(spark);
  }

  private TrainsetJob.Result trainset(TrainsetConfig.Split split, Optional<String> asOf) {
    return new TrainsetJob(new TrainsetConfig(root, "clicks", Optional.empty(), split, 0.2, 0.1, 42,
        Optional.empty(), Optional.empty(), asOf)).run(spark);
  }

  private Dataset<Row> features(long version) {
    return spark.read().format("delta").option("versionAsOf", version).load(root.resolve("tables/features/clicks"));
  }

  @Test
  void incrementalRunsProcessOnlyNewRowsAndTheRowsLateEventsAffect() {
    assertEquals("full", runs.get(0).mode());
    assertEquals("incremental", runs.get(1).mode());
    assertEquals("incremental", runs.get(2).mode());
    long bronze = spark.read().format("delta").load(root.resolve("tables/bronze/events")).count();
    assertEquals(bronze, runs.get(0).newRows() + runs.get(1).newRows() + runs.get(2).newRows());
    assertEquals(bronze, runs.get(2).tableRows());
    long updated = runs.get(1).updatedRows() + runs.get(2).updatedRows();
    assertTrue(updated > 0, "late events crossing batches must update earlier rows");
    assertTrue(updated < bronze / 10, "only affected rows are recomputed, not the table: " + updated);
    // bronze tables record their changes: the incremental runs read only the appended rows
    for (FeatureResult r : runs.subList(1, 3)) {
      assertTrue(r.stageSeconds().containsKey("find new rows (change data feed)"), r.stageSeconds().toString());
    }
  }

  @Test
  void withoutChangeDataForEveryNewVersionNewRowsAreFoundByKeyAndStillEqualAFullRecompute() {
    Path src = GeneratedEvents.generate(tmp.resolve("no-cdf"), 9_000, 11, 3);
    DataRoot other = DataRoot.of(tmp.resolve("no-cdf-root").toString());
    String bronze = other.resolve("tables/bronze/events");
    GeneratedEvents.ingest(spark, other, src.resolve("events-00000.csv").toString());
    features(other, false, false);
    // a version appended while the table recorded no changes (as in tables from before Kiln enabled the feed)
    spark.sql("ALTER TABLE delta.`" + bronze + "` SET TBLPROPERTIES (delta.enableChangeDataFeed = false)");
    GeneratedEvents.ingest(spark, other, src.resolve("events-00001.csv").toString());
    spark.sql("ALTER TABLE delta.`" + bronze + "` SET TBLPROPERTIES (delta.enableChangeDataFeed = true)");
    GeneratedEvents.ingest(spark, other, src.resolve("events-00002.csv").toString());

    FeatureResult incremental = features(other, false, false);
    assertEquals("incremental", incremental.mode());
    assertTrue(incremental.stageSeconds().containsKey("find new rows (by key)"),
        incremental.stageSeconds().toString());
    assertTrue(incremental.updatedRows() > 0, "late events crossing batches must update earlier rows");
    FeatureResult recomputed = features(other, true, false);
    Dataset<Row> a = spark.read().format("delta").option("versionAsOf", incremental.tableVersion())
        .load(other.resolve("tables/features/clicks"));
    Dataset<Row> b = spark.read().format("delta").option("versionAsOf", recomputed.tableVersion())
        .load(other.resolve("tables/features/clicks"));
    assertEquals(spark.read().format("delta").load(bronze).count(), a.count());
    assertEquals(0, a.exceptAll(b).count());
    assertEquals(0, b.exceptAll(a).count());
  }

  @Test
  void aTrainsetRecordsTheStatisticsOfTheVersionItIsBuiltFrom() {
    FeatureStats stats = new FeatureStats(spark, root);
    assertEquals(runs.get(1).tableVersion(), early.featureTableVersion());
    assertTrue(stats.read("clicks", early.featureTableVersion()).count() > 0, "the trainset's version has them");
    assertEquals(0, stats.read("clicks", runs.get(0).tableVersion()).count(), "no trainset, no statistics");
    assertFalse(runs.get(1).statsWritten(), "kiln features computes none unless asked");
  }

  @Test
  void threeIncrementalBatchesEqualOneFullRecomputeValueForValue() {
    assertEquals("full", full.mode());
    Dataset<Row> incremental = features(versionBeforeFull);
    Dataset<Row> recomputed = features(full.tableVersion());
    assertEquals(incremental.count(), recomputed.count());
    assertEquals(0, incremental.exceptAll(recomputed).count());
    assertEquals(0, recomputed.exceptAll(incremental).count());
    // and the aggregates are not trivially empty
    assertTrue(recomputed.where(col("user_ctr_events").gt(5)).count() > 1000);
    assertTrue(recomputed.where(col("item_events_24h").gt(0)).count() > 1000);
  }

  @Test
  void rerunWithoutNewDataChangesNothing() {
    long before = features(full.tableVersion()).count();
    FeatureResult again = features(false, false);
    assertEquals("up-to-date", again.mode());
    assertEquals(0, again.newRows());
    assertEquals(full.tableVersion(), again.tableVersion());
    assertEquals(before, again.tableRows());
  }

  @Test
  void trainsetRebuiltAsOfItsVersionsAfterMoreDataHasIdenticalRows() {
    assertEquals(Optional.of(true), rebuilt.identicalToOriginal());
    assertEquals(early.rows(), rebuilt.manifest().rows());
    Dataset<Row> a = spark.read().format("delta").load(early.dataPath());
    Dataset<Row> b = spark.read().format("delta").load(rebuilt.manifest().dataPath());
    assertEquals(0, a.exceptAll(b).count());
    assertEquals(0, b.exceptAll(a).count());
    // the feature table has since grown and had rows updated: the rebuild did not read the latest version
    assertTrue(runs.get(2).tableRows() > a.count());
    assertEquals(runs.get(1).tableRows(), a.count());
    // the split is the seed workflow's: about 20% test, 10% validation
    double test = early.rows().get("test") / (double) a.count();
    assertTrue(test > 0.17 && test < 0.23, "test share " + test);
    // same request again: same id, nothing rebuilt
    TrainsetJob.Result same = new TrainsetJob(new TrainsetConfig(root, "clicks", Optional.of(
        early.featureTableVersion()), TrainsetConfig.Split.RANDOM, 0.2, 0.1, 42, Optional.empty(), Optional.empty(),
        Optional.empty())).run(spark);
    assertTrue(same.reused());
    assertEquals(early.id(), same.manifest().id());
  }

  @Test
  void timeSplitPutsTheLatestEventsInTest() {
    TrainsetManifest m = trainset(TrainsetConfig.Split.TIME, Optional.empty()).manifest();
    Dataset<Row> rows = spark.read().format("delta").load(m.dataPath());
    Row trainMax = rows.where(col("split").equalTo("train")).agg(org.apache.spark.sql.functions.max("timestamp"))
        .first();
    Row testMin = rows.where(col("split").equalTo("test")).agg(org.apache.spark.sql.functions.min("timestamp"))
        .first();
    assertTrue(trainMax.getTimestamp(0).before(testMin.getTimestamp(0)));
    assertEquals(m.rows().get("test"), rows.where(col("split").equalTo("test")).count());
    assertEquals("time", m.split().method());
    assertFalse(m.split().testFrom().isEmpty());
  }

  @Test
  void statisticsDescribeEachTableVersion() {
    Dataset<Row> stats = new FeatureStats(spark, root).read("clicks", full.tableVersion());
    long rows = full.tableRows();
    Row price = stats.where(col("feature").equalTo("price_log")).first();
    assertEquals(rows, price.<Long>getAs("count") + price.<Long>getAs("nulls"));
    long histogram = price.<Long>getList(price.fieldIndex("hist_counts")).stream().mapToLong(Long::longValue).sum();
    assertEquals(price.<Long>getAs("count"), histogram);
    assertEquals(FeatureStats.BINS + 1, price.getList(price.fieldIndex("hist_edges")).size());
    Row since = stats.where(col("feature").equalTo("user_secs_since_prev")).first();
    assertTrue(since.<Long>getAs("nulls") > 0, "first events of each user have no previous event");
    Row device = stats.where(col("feature").equalTo("device")).first();
    assertEquals("categorical", device.getAs("kind"));
    List<Row> top = device.getList(device.fieldIndex("top_values"));
    assertEquals(3, top.size());
    assertEquals(rows, top.stream().mapToLong(r -> r.getLong(1)).sum());
    Row label = stats.where(col("feature").equalTo("label")).first();
    double rate = label.getAs("mean");
    assertTrue(rate > 0.05 && rate < 0.5, "click rate " + rate);
    // one stats row per feature per version
    assertTrue(full.statsWritten());
    assertEquals(stats.count(), stats.select("feature").distinct().count());
  }
}
