package dev.kiln.features;

import static org.apache.spark.sql.functions.col;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.DataRoot;
import dev.kiln.testing.GeneratedEvents;
import dev.kiln.testing.SharedSpark;
import io.delta.tables.DeltaTable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PointInTimeTest {
  static final Path SPEC = Path.of("conf/features/clicks.yaml");

  @TempDir
  Path tmp;

  private final SparkSession spark = SharedSpark.get();

  private FeatureResult features(DataRoot root, Path spec) {
    return new FeatureJob(new FeatureConfig(root, spec, Optional.empty(), false, false)).run(spark);
  }

  private Dataset<Row> table(DataRoot root, String name, long version) {
    return spark.read().format("delta").option("versionAsOf", version).load(root.resolve("tables/" + name));
  }

  @Test
  void changingOrDeletingEventsAfterTLeavesEveryFeatureAtOrBeforeTUnchanged() {
    DataRoot root = GeneratedEvents.ingested(spark, tmp, 6_000, 3);
    FeatureResult before = features(root, SPEC);

    // t: an event time shared by the rows we look at; from t on, flip every label (the rows at t included: their
    // own labels must not leak into their features) and delete a third of the later events
    String bronze = root.resolve("tables/bronze/events");
    Timestamp t = spark.read().format("delta").load(bronze).orderBy("timestamp").select("timestamp")
        .offset(3_000).first().getTimestamp(0);
    DeltaTable events = DeltaTable.forPath(spark, bronze);
    events.updateExpr("timestamp >= '" + t + "'", Map.of("label", "1 - label"));
    events.delete(col("timestamp").gt(t).and(col("event_id").endsWith("0").or(col("event_id").endsWith("3"))
        .or(col("event_id").endsWith("6"))));
    FeatureResult after = features(root, SPEC);
    assertEquals("full", after.mode(), "a DELETE in the source forces a full recompute: " + after.reason());

    List<String> featureColumns = new FeatureColumns(FeatureSetSpec.load(SPEC), SPEC.toString(),
        spark.read().format("delta").load(bronze).schema(), dev.kiln.common.TableRef.parse("bronze.events", "bronze"))
        .tableColumns().stream().filter(c -> !c.equals("label")).toList();
    Column[] cols = featureColumns.stream().map(c -> col(c)).toArray(Column[]::new);
    Dataset<Row> early1 = table(root, "features/clicks", before.tableVersion()).where(col("timestamp").leq(t))
        .select(cols);
    Dataset<Row> early2 = table(root, "features/clicks", after.tableVersion()).where(col("timestamp").leq(t))
        .select(cols);
    assertTrue(early1.count() > 2_500);
    assertEquals(early1.count(), early2.count());
    assertEquals(0, early1.exceptAll(early2).count());
    assertEquals(0, early2.exceptAll(early1).count());

    // the change is real: later rows' click-through features did move
    Dataset<Row> late1 = table(root, "features/clicks", before.tableVersion()).where(col("timestamp").gt(t))
        .select(cols);
    Dataset<Row> late2 = table(root, "features/clicks", after.tableVersion()).where(col("timestamp").gt(t))
        .select(cols);
    assertTrue(late2.exceptAll(late1).count() > 500);
  }

  private static final StructType TINY = new StructType()
      .add("event_id", DataTypes.StringType, false)
      .add("user_id", DataTypes.StringType, true)
      .add("item_id", DataTypes.StringType, true)
      .add("timestamp", DataTypes.TimestampType, false)
      .add("label", DataTypes.IntegerType, false);

  private static Row event(String id, String user, String item, String at, int label) {
    return RowFactory.create(id, user, item, Timestamp.from(Instant.parse(at)), label);
  }

  private Path tinySpec(String aggregates) throws IOException {
    Path spec = tmp.resolve("tiny.yaml");
    Files.writeString(spec, String.join("\n", "name: tiny", "version: 1", "source_table: bronze.tiny",
        "event_key: event_id", "event_time: timestamp", "label: label", "time_features: [hour]",
        "aggregates:", aggregates));
    return spec;
  }

  @Test
  void tiesAtTheSameInstantSeeNeitherEachOtherNorThemselves() throws IOException {
    DataRoot root = DataRoot.of(tmp.resolve("tiny").toString());
    spark.createDataFrame(List.of(
            event("e1", "u1", "i1", "2026-01-01T10:00:00Z", 1),
            event("e2", "u1", "i1", "2026-01-01T10:00:00Z", 1), // tie with e1
            event("e3", "u1", "i2", "2026-01-01T10:00:01Z", 0),
            event("e4", "u1", "i2", "2026-01-01T11:00:01Z", 1), // exactly 1h after e3: e3 is in [t-1h, t)
            event("e5", null, "i2", "2026-01-01T12:00:00Z", 1)), TINY)
        .write().format("delta").save(root.resolve("tables/bronze/tiny"));
    Path spec = tinySpec(String.join("\n",
        "  - {name: u1h, entity: user_id, function: count, window: 1h}",
        "  - {name: uctr, entity: user_id, function: ctr}",
        "  - {name: since, entity: user_id, function: time_since_previous}",
        "  - {name: ictr, entity: item_id, function: ctr}"));
    features(root, spec);
    Map<String, Row> rows = new java.util.HashMap<>();
    table(root, "features/tiny", 1).collectAsList().forEach(r -> rows.put(r.getAs("event_id"), r));

    for (String tie : List.of("e1", "e2")) {
      assertEquals(0L, (long) rows.get(tie).<Long>getAs("uctr_events"), tie);
      assertEquals(0L, (long) rows.get(tie).<Long>getAs("u1h"), tie);
      assertNull(rows.get(tie).getAs("since"), tie);
    }
    assertEquals(2L, (long) rows.get("e3").<Long>getAs("uctr_events"));
    assertEquals(2L, (long) rows.get("e3").<Long>getAs("uctr_clicks"));
    assertEquals(2L, (long) rows.get("e3").<Long>getAs("u1h"));
    assertEquals(1.0, rows.get("e3").<Double>getAs("since"));
    assertEquals(1L, (long) rows.get("e4").<Long>getAs("u1h"), "window is [t - 1h, t): e3, exactly 1h earlier, is in");
    assertEquals(3L, (long) rows.get("e4").<Long>getAs("uctr_events"));
    assertEquals(2L, (long) rows.get("e4").<Long>getAs("uctr_clicks"));
    assertEquals(3600.0, rows.get("e4").<Double>getAs("since"));
    assertEquals(1L, (long) rows.get("e4").<Long>getAs("ictr_events"), "item i2: only e3 is earlier");
    assertNull(rows.get("e5").getAs("uctr_events"), "no user: no user aggregates");
    assertEquals(2L, (long) rows.get("e5").<Long>getAs("ictr_events"));
  }
}
