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
import static org.apache.spark.sql.functions.row_number;
import static org.apache.spark.sql.functions.stddev_samp;
import static org.apache.spark.sql.functions.struct;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.when;

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
 * their frequencies for categorical ones. Computed with two distributed aggregations (moments and quantiles, then
 * bin and category counts, which need the first one's min and max); only the aggregates reach the driver.
 */
public final class FeatureStats {
  public static final TableRef TABLE = TableRef.meta("feature_stats");
  static final double[] QUANTILES = {0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99};
  static final int BINS = 20;
  static final int TOP_K = 20;

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
    List<String> numeric = numericColumns(spec);
    List<String> categorical = categoricalColumns(spec);
    Column[] pass1 = new Column[numeric.size() * 7 + categorical.size() * 3];
    int i = 0;
    Column quantileProbs = lit(QUANTILES);
    for (String c : numeric) {
      Column v = col(c).cast(DataTypes.DoubleType);
      pass1[i++] = count(v);
      pass1[i++] = sum(when(v.isNull(), 1).otherwise(0));
      pass1[i++] = avg(v);
      pass1[i++] = stddev_samp(v);
      pass1[i++] = min(v);
      pass1[i++] = max(v);
      pass1[i++] = percentile_approx(v, quantileProbs, lit(10_000));
    }
    for (String c : categorical) {
      pass1[i++] = count(col(c));
      pass1[i++] = sum(when(col(c).isNull(), 1).otherwise(0));
      pass1[i++] = org.apache.spark.sql.functions.approx_count_distinct(col(c));
    }
    Row summary = table.agg(pass1[0], Arrays.copyOfRange(pass1, 1, pass1.length)).first();

    // fixed equal-width bins between each column's min and max; the edges are stored with the counts
    List<double[]> edges = new ArrayList<>();
    List<Column> keys = new ArrayList<>();
    for (int n = 0; n < numeric.size(); n++) {
      int base = n * 7;
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
    Map<Integer, Map<String, Long>> counts = keyCounts(table, keys, numeric.size());

    Timestamp now = Timestamp.from(Instant.now());
    List<Row> out = new ArrayList<>();
    for (int n = 0; n < numeric.size(); n++) {
      int base = n * 7;
      Map<String, Long> bins = counts.getOrDefault(n, Map.of());
      List<Long> binCounts = new ArrayList<>();
      for (int b = 0; b < BINS; b++) {
        binCounts.add(bins.getOrDefault(String.valueOf(b), 0L));
      }
      out.add(RowFactory.create(spec.name(), spec.version(), tableVersion, numeric.get(n), "numeric",
          summary.getLong(base), summary.getLong(base + 1), nullable(summary, base + 2),
          nullable(summary, base + 3), nullable(summary, base + 4), nullable(summary, base + 5),
          boxed(QUANTILES), summary.isNullAt(base + 6) ? null : summary.getList(base + 6),
          boxed(edges.get(n)), binCounts, null, null, now, BuildInfo.gitCommit()));
    }
    int catBase = numeric.size() * 7;
    for (int n = 0; n < categorical.size(); n++) {
      List<Row> top = new ArrayList<>();
      counts.getOrDefault(numeric.size() + n, Map.of())
          .forEach((value, count) -> top.add(RowFactory.create(value, count)));
      int base = catBase + n * 3;
      out.add(RowFactory.create(spec.name(), spec.version(), tableVersion, categorical.get(n), "categorical",
          summary.getLong(base), summary.getLong(base + 1), null, null, null, null, null, null, null, null,
          summary.getLong(base + 2), top, now, BuildInfo.gitCommit()));
    }
    return out;
  }

  private static Column columnKey(int column, Column key) {
    return struct(lit(column).as("c"), key.cast(DataTypes.StringType).as("k"));
  }

  /**
   * Row counts per (column, key) for every column in one scan and one aggregation: each row becomes one
   * (column, key) pair per column (its histogram bin for numeric columns, its value for categorical ones; nulls
   * dropped), counted by a hash aggregation that combines map-side, so only a few hundred groups are shuffled per
   * task where a sum per bin and a group-by per category cost a scan and an aggregation each.
   * Columns from {@code firstTopK} on keep only their {@link #TOP_K} largest counts (ties by value), in that order,
   * so a column with millions of values never reaches the driver.
   */
  private static Map<Integer, Map<String, Long>> keyCounts(Dataset<Row> table, List<Column> keys, int firstTopK) {
    Dataset<Row> grouped = table.select(explode(array(keys.toArray(Column[]::new))).as("x"))
        .select(col("x.c").as("c"), col("x.k").as("k"))
        .where(col("k").isNotNull())
        .groupBy("c", "k").count();
    Column rank = row_number().over(Window.partitionBy("c").orderBy(col("count").desc(), col("k").asc()));
    List<Row> rows = grouped.withColumn("rank", rank)
        .where(col("c").lt(firstTopK).or(col("rank").leq(TOP_K)))
        .orderBy("c", "rank").collectAsList();
    Map<Integer, Map<String, Long>> out = new HashMap<>();
    for (Row r : rows) {
      out.computeIfAbsent(r.getInt(0), c -> new LinkedHashMap<>()).put(r.getString(1), r.getLong(2));
    }
    return out;
  }

  private static Double nullable(Row r, int i) {
    return r.isNullAt(i) ? null : r.getDouble(i);
  }

  private static List<Double> boxed(double[] values) {
    return Arrays.stream(values).boxed().toList();
  }
}
