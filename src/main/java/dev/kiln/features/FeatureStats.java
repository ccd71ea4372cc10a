package dev.kiln.features;

import static org.apache.spark.sql.functions.array;
import static org.apache.spark.sql.functions.avg;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.explode;
import static org.apache.spark.sql.functions.floor;
import static org.apache.spark.sql.functions.least;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.min;
import static org.apache.spark.sql.functions.percentile_approx;
import static org.apache.spark.sql.functions.pmod;
import static org.apache.spark.sql.functions.row_number;
import static org.apache.spark.sql.functions.stddev_samp;
import static org.apache.spark.sql.functions.struct;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.when;
import static org.apache.spark.sql.functions.xxhash64;

import dev.kiln.common.BuildInfo;
import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.TableRef;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Per-column statistics of a feature table version, kept in {@code meta.feature_stats} as the baseline that
 * monitoring compares new data against: count, nulls, mean, std, min, max, quantiles and a histogram with fixed
 * equal-width bins (edges stored with the counts) for numeric columns; distinct count and the top categories with
 * their frequencies for categorical ones. Computed with three distributed aggregations: exact moments, quantile
 * sketches (over a deterministic sample of at most ~{@value #QUANTILE_SAMPLE_ROWS} rows), then bin and category
 * counts, which need the moments' min and max and give exact distinct counts; only the aggregates reach the driver.
 */
public final class FeatureStats {
  public static final TableRef TABLE = TableRef.meta("feature_stats");
  static final double[] QUANTILES = {0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99};
  static final int BINS = 20;
  static final int TOP_K = 20;
  /** Quantiles are sketched over about this many rows at most (a deterministic sample of larger tables). */
  static final long QUANTILE_SAMPLE_ROWS = 100_000;
  /** count, nulls, mean, stddev, min, max: pass 1's aggregates per numeric column, in this order. */
  private static final int NUMERIC_MOMENTS = 6;
  /** Aggregates computed in one pass over the table ({@link #aggregateInChunks}). */
  static final int AGGREGATES_PER_PASS = 60;

  static final StructType VALUE_COUNT = new StructType()
      .add("value", DataTypes.StringType, true)
      .add("count", DataTypes.LongType, true);
  public static final StructType SCHEMA = new StructType()
      .add("feature_set", DataTypes.StringType, true)
      .add("feature_set_version", DataTypes.IntegerType, true)
      .add("table_version", DataTypes.LongType, true)
      .add("feature", DataTypes.StringType, true)
      .add("kind", DataTypes.StringType, true)
      .add("count", DataTypes.LongType, true)
      .add("nulls", DataTypes.LongType, true)
      .add("mean", DataTypes.DoubleType, true)
      .add("stddev", DataTypes.DoubleType, true)
      .add("min", DataTypes.DoubleType, true)
      .add("max", DataTypes.DoubleType, true)
      .add("quantile_probs", DataTypes.createArrayType(DataTypes.DoubleType, true), true)
      .add("quantiles", DataTypes.createArrayType(DataTypes.DoubleType, true), true)
      .add("hist_edges", DataTypes.createArrayType(DataTypes.DoubleType, true), true)
      .add("hist_counts", DataTypes.createArrayType(DataTypes.LongType, true), true)
      .add("distinct", DataTypes.LongType, true)
      .add("top_values", DataTypes.createArrayType(VALUE_COUNT, true), true)
      .add("computed_at", DataTypes.TimestampType, true)
      .add("git_commit", DataTypes.StringType, true);

  private final SparkSession spark;
  private final String path;

  public FeatureStats(SparkSession spark, DataRoot root) {
    this.spark = spark;
    this.path = root.table(TABLE);
  }

  /** Numeric columns of the feature set: label, time features, numeric features, aggregate outputs. */
  static List<String> numericColumns(FeatureSetSpec spec) {
    List<String> out = new ArrayList<>();
    out.add(spec.label());
    out.addAll(spec.timeFeatures());
    spec.numeric().forEach(n -> out.add(n.name()));
    spec.aggregates().forEach(a -> out.addAll(a.outputColumns()));
    return out;
  }

  static List<String> categoricalColumns(FeatureSetSpec spec) {
    return spec.categorical().stream().map(FeatureSetSpec.Categorical::column).toList();
  }

  /**
   * Computes and appends the statistics of {@code table} (the feature table at {@code tableVersion}) unless they
   * are already stored. The append is a Delta idempotent write keyed by the table version.
   */
  public boolean writeIfAbsent(FeatureSetSpec spec, TableRef featureRef, long tableVersion, Dataset<Row> table) {
    if (DeltaTables.exists(spark, path) && read(spec.name(), tableVersion).count() > 0) {
      return false;
    }
    DeltaTables.appendOnce(spark, path, TABLE, SCHEMA, compute(spec, tableVersion, table),
        "kiln-feature-stats:" + featureRef, tableVersion, "features",
        Map.of("action", "stats", "feature_table", featureRef.toString(), "table_version", tableVersion));
    return true;
  }

  /** Stored statistics of one feature-table version. */
  public Dataset<Row> read(String featureSet, long tableVersion) {
    return spark.read().format("delta").load(path)
        .where(col("feature_set").equalTo(featureSet).and(col("table_version").equalTo(tableVersion)));
  }

  List<Row> compute(FeatureSetSpec spec, long tableVersion, Dataset<Row> table) {
    return compute(spec, tableVersion, table, QUANTILE_SAMPLE_ROWS);
  }

  /** {@link #compute} with quantiles sketched over about {@code sampleRows} rows at most. */
  List<Row> compute(FeatureSetSpec spec, long tableVersion, Dataset<Row> table, long sampleRows) {
    List<String> numeric = numericColumns(spec);
    List<String> categorical = categoricalColumns(spec);
    // Pass 1, moments: declarative aggregates only, so Spark generates code for the whole aggregation. A sketch
    // (percentile_approx, approx_count_distinct) in the same aggregation made Spark interpret every function for
    // every row: at 1M feature rows that single pass took 9.3 s of the trainset's 15.7 s of statistics.
    List<Column> moments = new ArrayList<>();
    for (String c : numeric) {
      Column v = col(c).cast(DataTypes.DoubleType);
      moments.addAll(List.of(count(v), sum(when(v.isNull(), 1).otherwise(0)), avg(v), stddev_samp(v), min(v),
          max(v)));
    }
    for (String c : categorical) {
      moments.addAll(List.of(count(col(c)), sum(when(col(c).isNull(), 1).otherwise(0))));
    }
    moments.add(count(lit(1)));
    Row summary = aggregateInChunks(table, moments);
    long rows = summary.getLong(moments.size() - 1);

    // Pass 2, quantiles: a sketch per numeric column over at most ~QUANTILE_SAMPLE_ROWS rows, chosen by a hash of
    // the event key (the same rows every time). They are the grid monitoring compares distributions on: a sample of
    // 100k rows puts each within about 0.3% of rank of the whole table's; sketching every row cost most of a pass.
    Dataset<Row> sample = table;
    if (rows > sampleRows) {
      long perMillion = -Math.floorDiv(-sampleRows * 1_000_000L, rows);
      sample = table.where(pmod(xxhash64(col(spec.eventKey())), lit(1_000_000L)).lt(perMillion));
    }
    Column quantileProbs = lit(QUANTILES);
    Column[] sketches = numeric.stream()
        .map(c -> percentile_approx(col(c).cast(DataTypes.DoubleType), quantileProbs, lit(10_000)))
        .toArray(Column[]::new);
    Row quantiles = sample.agg(sketches[0], Arrays.copyOfRange(sketches, 1, sketches.length)).first();

    // Pass 3: fixed equal-width bins between each column's min and max (the edges are stored with the counts), and
    // the categories' counts, which also give their exact distinct counts
    List<double[]> edges = new ArrayList<>();
    List<Column> keys = new ArrayList<>();
    for (int n = 0; n < numeric.size(); n++) {
      int base = n * NUMERIC_MOMENTS;
      double lo = summary.isNullAt(base + 4) ? 0 : summary.getDouble(base + 4);
      double hi = summary.isNullAt(base + 5) ? 0 : summary.getDouble(base + 5);
      double width = hi > lo ? (hi - lo) / BINS : 1;
      double[] e = new double[BINS + 1];
      for (int b = 0; b <= BINS; b++) {
        e[b] = lo + b * width;
      }
      edges.add(e);
      Column v = col(numeric.get(n)).cast(DataTypes.DoubleType);
      // least() skips nulls: without the guard a null value would land in the top bin
      keys.add(columnKey(n, when(v.isNotNull(), least(floor(v.minus(lo).divide(width)), lit(BINS - 1)))));
    }
    for (int n = 0; n < categorical.size(); n++) {
      keys.add(columnKey(numeric.size() + n, col(categorical.get(n))));
    }
    KeyCounts counts = keyCounts(table, keys, numeric.size());

    Timestamp now = Timestamp.from(Instant.now());
    List<Row> out = new ArrayList<>();
    for (int n = 0; n < numeric.size(); n++) {
      int base = n * NUMERIC_MOMENTS;
      Map<String, Long> bins = counts.counts().getOrDefault(n, Map.of());
      List<Long> binCounts = new ArrayList<>();
      for (int b = 0; b < BINS; b++) {
        binCounts.add(bins.getOrDefault(String.valueOf(b), 0L));
      }
      out.add(RowFactory.create(spec.name(), spec.version(), tableVersion, numeric.get(n), "numeric",
          summary.getLong(base), summary.getLong(base + 1), nullable(summary, base + 2),
          nullable(summary, base + 3), nullable(summary, base + 4), nullable(summary, base + 5),
          boxed(QUANTILES), quantiles.isNullAt(n) ? null : quantiles.getList(n),
          boxed(edges.get(n)), binCounts, null, null, now, BuildInfo.gitCommit()));
    }
    int catBase = numeric.size() * NUMERIC_MOMENTS;
    for (int n = 0; n < categorical.size(); n++) {
      int column = numeric.size() + n;
      List<Row> top = new ArrayList<>();
      counts.counts().getOrDefault(column, Map.of())
          .forEach((value, count) -> top.add(RowFactory.create(value, count)));
      int base = catBase + n * 2;
      out.add(RowFactory.create(spec.name(), spec.version(), tableVersion, categorical.get(n), "categorical",
          summary.getLong(base), summary.getLong(base + 1), null, null, null, null, null, null, null, null,
          counts.distinct().getOrDefault(column, 0L), top, now, BuildInfo.gitCommit()));
    }
    return out;
  }

  /**
   * {@code table.agg(aggregates)} as one row, computed {@value #AGGREGATES_PER_PASS} aggregates per pass. Spark turns
   * off whole-stage code generation for an operator with more than {@code spark.sql.codegen.maxFields} (100) output
   * fields, and a partial aggregation outputs its buffers: 16 numeric columns' moments are ~150 buffer fields, and
   * the one interpreted pass took 3.6 s at 1M rows. 60 aggregates keep the buffers under 100 (at most 1.5 fields per
   * aggregate: avg has 2, stddev 3, the others 1, see {@link #NUMERIC_MOMENTS}); each extra pass is a scan of a few
   * Parquet columns.
   */
  static Row aggregateInChunks(Dataset<Row> table, List<Column> aggregates) {
    List<Object> values = new ArrayList<>();
    for (int from = 0; from < aggregates.size(); from += AGGREGATES_PER_PASS) {
      List<Column> chunk = aggregates.subList(from, Math.min(aggregates.size(), from + AGGREGATES_PER_PASS));
      Row r = table.agg(chunk.get(0), chunk.subList(1, chunk.size()).toArray(Column[]::new)).first();
      for (int i = 0; i < r.size(); i++) {
        values.add(r.get(i));
      }
    }
    return RowFactory.create(values.toArray());
  }

  private static Column columnKey(int column, Column key) {
    return struct(lit(column).as("c"), key.cast(DataTypes.StringType).as("k"));
  }

  /**
   * Row counts per (column, key), largest first, and the number of distinct keys per column.
   * @param counts   column -> key -> rows; columns from {@code firstTopK} on only their {@link #TOP_K} largest
   * @param distinct column -> how many distinct non-null keys it has
   */
  private record KeyCounts(Map<Integer, Map<String, Long>> counts, Map<Integer, Long> distinct) {}

  /**
   * Row counts per (column, key) for every column in one scan and one aggregation: each row becomes one
   * (column, key) pair per column (its histogram bin for numeric columns, its value for categorical ones; nulls
   * dropped), counted by a hash aggregation that combines map-side, so only a few hundred groups are shuffled per
   * task where a sum per bin and a group-by per category cost a scan and an aggregation each.
   * Columns from {@code firstTopK} on keep only their {@link #TOP_K} largest counts (ties by value), in that order,
   * so a column with millions of values never reaches the driver; how many values it has comes along.
   */
  private static KeyCounts keyCounts(Dataset<Row> table, List<Column> keys, int firstTopK) {
    Dataset<Row> grouped = table.select(explode(array(keys.toArray(Column[]::new))).as("x"))
        .select(col("x.c").as("c"), col("x.k").as("k"))
        .where(col("k").isNotNull())
        .groupBy("c", "k").count();
    Column rank = row_number().over(Window.partitionBy("c").orderBy(col("count").desc(), col("k").asc()));
    Column values = count(lit(1)).over(Window.partitionBy("c"));
    List<Row> rows = grouped.withColumn("rank", rank).withColumn("values", values)
        .where(col("c").lt(firstTopK).or(col("rank").leq(TOP_K)))
        .orderBy("c", "rank").collectAsList();
    Map<Integer, Map<String, Long>> counts = new HashMap<>();
    Map<Integer, Long> distinct = new HashMap<>();
    for (Row r : rows) {
      counts.computeIfAbsent(r.getInt(0), c -> new LinkedHashMap<>()).put(r.getString(1), r.getLong(2));
      distinct.put(r.getInt(0), r.getLong(4));
    }
    return new KeyCounts(counts, distinct);
  }

  private static Double nullable(Row r, int i) {
    return r.isNullAt(i) ? null : r.getDouble(i);
  }

  private static List<Double> boxed(double[] values) {
    return Arrays.stream(values).boxed().toList();
  }
}
