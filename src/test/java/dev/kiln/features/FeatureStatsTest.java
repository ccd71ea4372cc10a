package dev.kiln.features;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.DataRoot;
import dev.kiln.testing.SharedSpark;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Histogram bins and top categories, counted in one aggregation for all columns, against counts done by hand. */
class FeatureStatsTest {
  private final SparkSession spark = SharedSpark.get();

  private static final StructType ROWS = new StructType()
      .add("label", DataTypes.IntegerType)
      .add("price_log", DataTypes.DoubleType)
      .add("device", DataTypes.StringType)
      .add("country", DataTypes.StringType);

  private static final FeatureSetSpec SPEC = new FeatureSetSpec("t", 1, null, null, "event_id", "timestamp",
      "label", null, List.of(), List.of(new FeatureSetSpec.Categorical("device", "onehot"),
          new FeatureSetSpec.Categorical("country", "onehot")),
      List.of(new FeatureSetSpec.Numeric("price_log", "price", "log1p", null, "median", "none")), List.of());

  @Test
  void binsAndTopValuesCountEveryNonNullRow(@TempDir Path dir) {
    // 30 countries with 1..30 rows each (more than TOP_K), 3 devices with ties, prices 0..99 and a few nulls
    List<Row> rows = new ArrayList<>();
    int i = 0;
    for (int country = 1; country <= 30; country++) {
      for (int k = 0; k < country; k++, i++) {
        String device = i % 7 == 0 ? null : List.of("mobile", "desktop", "tablet").get(i % 3);
        Double price = i % 11 == 0 ? null : (double) (i % 100);
        rows.add(RowFactory.create(i % 2, price, device, String.format("c%02d", country)));
      }
    }
    var table = spark.createDataFrame(rows, ROWS);
    List<Row> stats = new FeatureStats(spark, DataRoot.of(dir.toString())).compute(SPEC, 0, table);
    Map<String, Row> byFeature = stats.stream().collect(Collectors.toMap(r -> r.getString(3), r -> r));

    Row price = byFeature.get("price_log");
    List<Long> counts = field(price, "hist_counts");
    long[] expected = new long[FeatureStats.BINS];
    for (Row r : rows) {
      if (!r.isNullAt(1)) {
        expected[Math.min((int) Math.floor(r.getDouble(1) / (99.0 / FeatureStats.BINS)), FeatureStats.BINS - 1)]++;
      }
    }
    assertEquals(java.util.Arrays.stream(expected).boxed().toList(), counts);

    // top values: largest counts first, ties by value, at most TOP_K of them
    List<Row> countries = field(byFeature.get("country"), "top_values");
    assertEquals(FeatureStats.TOP_K, countries.size());
    for (int k = 0; k < FeatureStats.TOP_K; k++) {
      assertEquals(String.format("c%02d", 30 - k), countries.get(k).getString(0));
      assertEquals(30L - k, countries.get(k).getLong(1));
    }
    Map<String, Long> devices = new TreeMap<>();
    rows.stream().filter(r -> !r.isNullAt(2)).forEach(r -> devices.merge(r.getString(2), 1L, Long::sum));
    assertEquals(30L, (long) field(byFeature.get("country"), "distinct"));
    assertEquals(3L, (long) field(byFeature.get("device"), "distinct"));
    List<Row> top = field(byFeature.get("device"), "top_values");
    assertEquals(devices.entrySet().stream()
            .sorted(Map.Entry.<String, Long>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
            .map(e -> e.getKey() + "=" + e.getValue()).toList(),
        top.stream().map(r -> r.getString(0) + "=" + r.getLong(1)).toList());
  }

  /**
   * Moments, bins and distinct counts are exact; quantiles are sketched over a deterministic sample of the rows
   * (chosen by the event key's hash) once the table has more rows than the sample size.
   */
  @Test
  void quantilesOfALargeTableComeFromASampleAndEverythingElseFromAllRows(@TempDir Path dir) {
    FeatureSetSpec spec = new FeatureSetSpec("t", 1, null, null, "event_id", "timestamp", "label", null, List.of(),
        List.of(new FeatureSetSpec.Categorical("device", "onehot")),
        List.of(new FeatureSetSpec.Numeric("price_log", "price", "log1p", null, "median", "none")), List.of());
    long n = 40_000;
    var table = spark.range(n).selectExpr("concat('ev', id) AS event_id", "CAST(id % 2 AS INT) AS label",
        "CAST((id * 7919) % 10000 AS DOUBLE) AS price_log", "CONCAT('d', id % 37) AS device");
    FeatureStats stats = new FeatureStats(spark, DataRoot.of(dir.toString()));
    List<Row> sampled = stats.compute(spec, 0, table, 2_000);
    Row price = feature(sampled, "price_log");
    assertEquals(n, (long) field(price, "count"));
    assertEquals(4999.5, field(price, "mean"), 1e-9);
    assertEquals(9999.0, field(price, "max"), 0.0);
    assertEquals(n, ((List<Long>) field(price, "hist_counts")).stream().mapToLong(Long::longValue).sum());
    List<Double> quantiles = field(price, "quantiles");
    List<Double> exact = field(feature(stats.compute(spec, 0, table, n), "price_log"), "quantiles");
    for (int q = 0; q < FeatureStats.QUANTILES.length; q++) {
      // the values are uniform on 0..9999: a quantile's value is its rank; 2,000 rows put it within ~3% of rank
      assertEquals(FeatureStats.QUANTILES[q] * 10_000, quantiles.get(q), 300.0, "quantile " + q);
      assertEquals(FeatureStats.QUANTILES[q] * 10_000, exact.get(q), 10.0, "quantile " + q);
    }
    assertTrue(!quantiles.equals(exact), "the sample's quantiles are the whole table's: no sample was taken");
    assertEquals(quantiles, field(feature(stats.compute(spec, 0, table, 2_000), "price_log"), "quantiles"),
        "same sample");
    assertEquals(37L, (long) field(feature(sampled, "device"), "distinct"));
  }

  /** The stats row of one feature. */
  private static Row feature(List<Row> stats, String name) {
    return stats.stream().filter(r -> r.getString(3).equals(name)).findFirst().orElseThrow();
  }

  /** A field of a stats row by its name in {@link FeatureStats#SCHEMA} (the computed rows carry no schema). */
  @SuppressWarnings("unchecked")
  private static <T> T field(Row row, String name) {
    return (T) row.get(FeatureStats.SCHEMA.fieldIndex(name));
  }

  /**
   * The moments of many columns are computed in passes small enough for whole-stage code generation (Spark turns it
   * off above 100 output fields, and a partial aggregation outputs its buffers), with the same values as one pass.
   */
  @Test
  void momentsOfManyColumnsAreComputedInCodeGeneratedPasses() {
    StructType schema = new StructType();
    List<Object> values = new ArrayList<>();
    List<org.apache.spark.sql.Column> moments = new ArrayList<>();
    for (int c = 0; c < 16; c++) {
      schema = schema.add("x" + c, DataTypes.DoubleType);
      org.apache.spark.sql.Column v = org.apache.spark.sql.functions.col("x" + c);
      moments.addAll(List.of(org.apache.spark.sql.functions.count(v), org.apache.spark.sql.functions.sum(v),
          org.apache.spark.sql.functions.avg(v), org.apache.spark.sql.functions.stddev_samp(v),
          org.apache.spark.sql.functions.min(v), org.apache.spark.sql.functions.max(v)));
    }
    List<Row> rows = new ArrayList<>();
    for (int r = 0; r < 200; r++) {
      Object[] row = new Object[16];
      for (int c = 0; c < 16; c++) {
        row[c] = (r * 7 + c * 13) % 101 / 4.0;
      }
      rows.add(RowFactory.create(row));
    }
    var table = spark.createDataFrame(rows, schema);
    Row onePass = table.agg(moments.get(0), moments.subList(1, moments.size())
        .toArray(org.apache.spark.sql.Column[]::new)).first();
    assertEquals(onePass, FeatureStats.aggregateInChunks(table, moments));

    String adaptive = spark.conf().get("spark.sql.adaptive.enabled");
    spark.conf().set("spark.sql.adaptive.enabled", "false"); // so that the plan shows its code-generated stages
    try {
      assertTrue(uncompiledAggregates(table.agg(moments.get(0), moments.subList(1, moments.size())
          .toArray(org.apache.spark.sql.Column[]::new))) > 0, "the one pass is over the limit (else no test)");
      for (int from = 0; from < moments.size(); from += FeatureStats.AGGREGATES_PER_PASS) {
        List<org.apache.spark.sql.Column> chunk = moments.subList(from,
            Math.min(moments.size(), from + FeatureStats.AGGREGATES_PER_PASS));
        assertEquals(0, uncompiledAggregates(table.agg(chunk.get(0), chunk.subList(1, chunk.size())
            .toArray(org.apache.spark.sql.Column[]::new))), "pass from aggregate " + from);
      }
    } finally {
      spark.conf().set("spark.sql.adaptive.enabled", adaptive);
    }
  }

  /** Aggregation operators of the plan outside a whole-stage code-generated stage (those print without "*(n)"). */
  private static long uncompiledAggregates(org.apache.spark.sql.Dataset<Row> ds) {
    return ds.queryExecution().executedPlan().toString().lines()
        .map(l -> l.replaceFirst("^[\\s:+-]*", ""))
        .filter(l -> l.contains("HashAggregate") && !l.startsWith("*("))
        .count();
  }
}
