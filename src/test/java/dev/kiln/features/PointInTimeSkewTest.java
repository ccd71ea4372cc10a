package dev.kiln.features;

import static org.apache.spark.sql.functions.col;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.features.PointInTimeAggregates.HotEntity;
import dev.kiln.features.PointInTimeAggregates.Profile;
import dev.kiln.features.PointInTimeAggregates.SkewPolicy;
import dev.kiln.testing.SharedSpark;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.Union;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The full recompute's skew handling ({@link PointInTimeAggregates#addTo}) gives exactly the rows of the plain plan
 * (one window partition per entity value, {@link PointInTimeAggregates#plain}): with hot values aggregated per time
 * slice by {@link SliceSweep} (forced with {@code minHotRows = 1}), and with null-entity rows kept out of the window.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PointInTimeSkewTest {
  private static final long HOUR = 3_600_000_000L;
  private static final long T0 = Instant.parse("2026-01-05T00:00:00Z").getEpochSecond() * 1_000_000L;
  /** Slicing forced: every value with a quarter of the rows (the share, at parallelism 2) is hot; 8 slices wanted. */
  private static final SkewPolicy FORCED = new SkewPolicy(1, 8, 8);

  @TempDir
  static Path tmp;

  private final SparkSession spark = SharedSpark.get();
  private Dataset<Row> events;
  private long nullUsers;

  private static final StructType EVENTS = new StructType()
      .add("event_id", DataTypes.StringType)
      .add("user_id", DataTypes.StringType)
      .add("item_id", DataTypes.StringType)
      .add(FeatureColumns.TS_MICROS, DataTypes.LongType)
      .add("label", DataTypes.IntegerType);

  /**
   * 412 events over six days on an hour grid (half exactly on the hour, so many share a microsecond): u_hot has ~30%
   * of them, ~30% have no user, ten other users the rest; i_hot has ~35%, 5% no item, six other items the rest; 15%
   * of the labels are unknown. u_hot also has pairs of events exactly at 0h, 24h, ... 120h: with its slices 24h wide
   * from its first event, those are slice starts, whose 24h frames begin exactly at the previous slice's start.
   */
  @BeforeAll
  void writeEvents() {
    Random rnd = new Random(14);
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < 400; i++) {
      double u = rnd.nextDouble();
      String user = u < 0.30 ? "u_hot" : u < 0.60 ? null : String.format("u%02d", rnd.nextInt(10));
      double it = rnd.nextDouble();
      String item = it < 0.35 ? "i_hot" : it < 0.40 ? null : String.format("i%02d", rnd.nextInt(6));
      long at = T0 + rnd.nextInt(144) * HOUR + (rnd.nextBoolean() ? 0 : rnd.nextInt(3_600) * 1_000_000L);
      rows.add(event(i, user, item, at, rnd));
    }
    for (int day = 0; day <= 5; day++) {
      for (int tie = 0; tie < 2; tie++) {
        rows.add(event(rows.size(), "u_hot", tie == 0 ? "i_hot" : "i01", T0 + day * 24 * HOUR, rnd));
      }
    }
    String path = tmp.resolve("events").toString();
    spark.createDataFrame(rows, EVENTS).write().parquet(path);
    events = spark.read().parquet(path); // a file scan: the optimizer cannot fold the plan into local rows
    nullUsers = rows.stream().filter(r -> r.isNullAt(1)).count();
  }

  private static Row event(int i, String user, String item, long at, Random rnd) {
    double l = rnd.nextDouble();
    return RowFactory.create(String.format("e%04d", i), user, item, at, l < 0.15 ? null : l < 0.35 ? 1 : 0);
  }

  private static FeatureSetSpec spec(String... aggregates) {
    List<FeatureSetSpec.Aggregate> list = Arrays.stream(aggregates).map(a -> {
      String[] f = a.split(" ");
      return new FeatureSetSpec.Aggregate(f[0], f[1], f[2], f[3], null);
    }).toList();
    return new FeatureSetSpec("skew", 1, null, "bronze.events", "event_id", "timestamp", "label", null, null, null,
        null, list);
  }

  private static final FeatureSetSpec BOUNDED_AND_ALL = spec(
      "u1h user_id count 1h", "u24h user_id count 24h", "since user_id time_since_previous all",
      "uctr user_id ctr all", "i24h item_id count 24h", "ictr item_id ctr all");
  private static final FeatureSetSpec ALL_HISTORY = spec(
      "since user_id time_since_previous all", "uctr user_id ctr all");

  @Test
  void hotValuesWindowedBySliceGiveTheSameRowsAsOneWindowPerValue() {
    PointInTimeAggregates forced = new PointInTimeAggregates(BOUNDED_AND_ALL, FORCED);
    Profile users = forced.profile(events, "user_id");
    assertEquals(List.of("u_hot"), users.hot().stream().map(HotEntity::value).toList());
    assertEquals(nullUsers, users.nullRows());
    HotEntity hot = users.hot().get(0);
    assertEquals(24 * HOUR, hot.widthMicros(), "B = max(W, span / 8) = W: slice starts are 24h apart");
    assertEquals(T0, hot.originMicros());
    assertTrue(hot.slices() >= 5, "slices beyond the first k + 1 have a summary row: " + hot.slices());
    assertEquals(List.of("i_hot"), forced.profile(events, "item_id").hot().stream().map(HotEntity::value).toList());

    Dataset<Row> reference = forced.plain(forced.plain(events, "user_id"), "item_id");
    Dataset<Row> sliced = forced.addTo(forced.addTo(events, "user_id"), "item_id");
    assertSameRows(reference, sliced);
    // the hot values go through the linear sweep per (entity, slice), not through window functions
    assertTrue(sweptPartitions(sliced).containsAll(List.of("user_id, _slice", "item_id, _slice")),
        sweptPartitions(sliced).toString());
    assertFalse(windowPartitions(sliced).stream().anyMatch(p -> p.contains(PointInTimeAggregates.SLICE)));

    // default policy on small data: nothing is hot, only the null rows are taken out of the windows
    PointInTimeAggregates defaults = new PointInTimeAggregates(BOUNDED_AND_ALL);
    assertTrue(defaults.profile(events, "user_id").hot().isEmpty());
    Dataset<Row> unsliced = defaults.addTo(defaults.addTo(events, "user_id"), "item_id");
    assertSameRows(reference, unsliced);
    assertFalse(windowPartitions(unsliced).stream().anyMatch(p -> p.contains(PointInTimeAggregates.SLICE)));

    // not trivially equal: the hot user's rows see long histories and full 24h windows
    Dataset<Row> hotRows = reference.where(col("user_id").equalTo("u_hot"));
    assertTrue(hotRows.where(col("uctr_events").gt(80)).count() > 10);
    assertTrue(hotRows.where(col("u24h").gt(15)).count() > 10);
    assertTrue(hotRows.where(col("since").equalTo(0.0)).count() == 0, "ties see neither each other nor themselves");
  }

  @Test
  void allHistoryAggregatesAloneSliceWithoutContextSlices() {
    PointInTimeAggregates forced = new PointInTimeAggregates(ALL_HISTORY, FORCED);
    HotEntity hot = forced.profile(events, "user_id").hot().get(0);
    assertEquals("u_hot", hot.value());
    assertTrue(hot.widthMicros() < 24 * HOUR && hot.slices() == 8, "k = 0: B = span / 8, not W: " + hot);
    Dataset<Row> sliced = forced.addTo(events, "user_id");
    assertSameRows(forced.plain(events, "user_id"), sliced);
    assertEquals(List.of("user_id, _slice"), sweptPartitions(sliced));
  }

  @Test
  void nullEntityRowsGetNullAggregatesWithoutAWindow() {
    // nothing hot, but the users' null rows are as many as a hot value would have (a quarter of the non-null ones)
    PointInTimeAggregates nullsOnly = new PointInTimeAggregates(BOUNDED_AND_ALL, new SkewPolicy(1, 0, 8));
    Profile users = nullsOnly.profile(events, "user_id");
    assertTrue(users.hot().isEmpty() && users.splitNulls(), users.toString());
    Dataset<Row> out = nullsOnly.addTo(events, "user_id");
    assertSameRows(nullsOnly.plain(events, "user_id"), out);
    assertEquals(nullUsers, out.where(col("user_id").isNull().and(col("u24h").isNull())
        .and(col("uctr_events").isNull()).and(col("since").isNull())).count());

    List<LogicalPlan> branches = unionChildren(out.queryExecution().optimizedPlan());
    assertEquals(2, branches.size(), out.queryExecution().optimizedPlan().treeString());
    List<LogicalPlan> nullBranches = branches.stream()
        .filter(b -> b.treeString().contains("isnull(user_id")).toList();
    assertEquals(1, nullBranches.size(), out.queryExecution().optimizedPlan().treeString());
    assertFalse(nullBranches.get(0).treeString().contains("Window ["), nullBranches.get(0).treeString());
    assertTrue(branches.stream().filter(b -> b != nullBranches.get(0))
        .allMatch(b -> b.treeString().contains("Window [") && b.treeString().contains("isnotnull(user_id")));
    // the executed plan too: one window operator, over the non-null rows only
    String executed = out.queryExecution().executedPlan().toString();
    assertEquals(1, Pattern.compile("Window \\[").matcher(executed).results().count(), executed);

    // a few nulls (5% of the items) stay in the plain pass: no branches, the plain plan as it was
    Profile items = nullsOnly.profile(events, "item_id");
    assertTrue(items.nullRows() > 0 && !items.splitNulls(), items.toString());
    Dataset<Row> plainItems = nullsOnly.addTo(events, "item_id");
    assertTrue(unionChildren(plainItems.queryExecution().optimizedPlan()).isEmpty());
    assertSameRows(nullsOnly.plain(events, "item_id"), plainItems);
  }

  /** Same schema (types and nullability) and the same rows, value for value. */
  private static void assertSameRows(Dataset<Row> expected, Dataset<Row> actual) {
    assertEquals(expected.schema(), actual.schema());
    Column[] cols = Arrays.stream(expected.columns()).map(c -> col(c)).toArray(Column[]::new);
    List<Row> want = expected.select(cols).orderBy("event_id").collectAsList();
    List<Row> got = actual.select(cols).orderBy("event_id").collectAsList();
    assertEquals(want.size(), got.size());
    List<String> differences = new ArrayList<>();
    for (int i = 0; i < want.size(); i++) {
      if (!want.get(i).equals(got.get(i))) {
        differences.add("want " + want.get(i) + "\n got " + got.get(i));
      }
    }
    assertTrue(differences.isEmpty(), differences.size() + " rows differ, e.g.\n"
        + String.join("\n", differences.subList(0, Math.min(5, differences.size()))));
  }

  private static final Pattern WINDOW = Pattern.compile("Window \\[.*\\], \\[([^\\[\\]]*)\\], \\[[^\\[\\]]*\\]$",
      Pattern.MULTILINE);

  private static final Pattern SWEPT = Pattern.compile("RepartitionByExpression \\[([^\\[\\]]*)\\]");

  /** The keys the optimized plan repartitions by (the hot values' sweeps), expression ids removed. */
  private static List<String> sweptPartitions(Dataset<Row> ds) {
    return keys(SWEPT, ds);
  }

  /** The partition keys of the optimized plan's windows, expression ids removed: {@code user_id, _slice}. */
  private static List<String> windowPartitions(Dataset<Row> ds) {
    return keys(WINDOW, ds);
  }

  private static List<String> keys(Pattern pattern, Dataset<Row> ds) {
    Matcher m = pattern.matcher(ds.queryExecution().optimizedPlan().treeString());
    List<String> out = new ArrayList<>();
    while (m.find()) {
      out.add(m.group(1).replaceAll("#\\d+L?", ""));
    }
    return out;
  }

  private static List<LogicalPlan> unionChildren(LogicalPlan plan) {
    if (plan instanceof Union) {
      List<LogicalPlan> out = new ArrayList<>();
      for (int i = 0; i < plan.children().size(); i++) {
        out.add(plan.children().apply(i));
      }
      return out;
    }
    for (int i = 0; i < plan.children().size(); i++) {
      List<LogicalPlan> found = unionChildren(plan.children().apply(i));
      if (!found.isEmpty()) {
        return found;
      }
    }
    return List.of();
  }
}
