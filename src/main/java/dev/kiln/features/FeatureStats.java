package dev.kiln.features;

import static org.apache.spark.sql.functions.avg;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.floor;
import static org.apache.spark.sql.functions.least;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.min;
import static org.apache.spark.sql.functions.percentile_approx;
import static org.apache.spark.sql.functions.stddev_samp;
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
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Per-column statistics of a feature table version, kept in {@code meta.feature_stats} as the baseline that
 * monitoring compares new data against: count, nulls, mean, std, min, max, quantiles and a histogram with fixed
 * equal-width bins (edges stored with the counts) for numeric columns; distinct count and the top categories with
 * their frequencies for categorical ones. Computed with a few distributed aggregations; only the aggregates reach
 * the driver.
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
    List<Column> pass2 = new ArrayList<>();
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
      Column bin = least(floor(v.minus(lo).divide(width)), lit(BINS - 1));
      for (int b = 0; b < BINS; b++) {
        pass2.add(sum(when(bin.equalTo(b), 1L).otherwise(0L)));
      }
    }
    Row hist = pass2.isEmpty() ? null
        : table.agg(pass2.get(0), pass2.subList(1, pass2.size()).toArray(Column[]::new)).first();

    Timestamp now = Timestamp.from(Instant.now());
    List<Row> out = new ArrayList<>();
    for (int n = 0; n < numeric.size(); n++) {
      int base = n * 7;
      List<Long> counts = new ArrayList<>();
      for (int b = 0; b < BINS; b++) {
        counts.add(hist.getLong(n * BINS + b));
      }
      out.add(RowFactory.create(spec.name(), spec.version(), tableVersion, numeric.get(n), "numeric",
          summary.getLong(base), summary.getLong(base + 1), nullable(summary, base + 2),
          nullable(summary, base + 3), nullable(summary, base + 4), nullable(summary, base + 5),
          boxed(QUANTILES), summary.isNullAt(base + 6) ? null : summary.getList(base + 6),
          boxed(edges.get(n)), counts, null, null, now, BuildInfo.gitCommit()));
    }
    int catBase = numeric.size() * 7;
    for (int n = 0; n < categorical.size(); n++) {
      String c = categorical.get(n);
      List<Row> top = new ArrayList<>();
      for (Row r : table.where(col(c).isNotNull()).groupBy(col(c)).count()
          .orderBy(col("count").desc(), col(c).asc()).limit(TOP_K).collectAsList()) {
        top.add(RowFactory.create(String.valueOf(r.get(0)), r.getLong(1)));
      }
      int base = catBase + n * 3;
      out.add(RowFactory.create(spec.name(), spec.version(), tableVersion, c, "categorical",
          summary.getLong(base), summary.getLong(base + 1), null, null, null, null, null, null, null, null,
          summary.getLong(base + 2), top, now, BuildInfo.gitCommit()));
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
