package dev.kiln.monitor;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.explode;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.min;
import static org.apache.spark.sql.functions.struct;
import static org.apache.spark.sql.functions.udf;
import static org.apache.spark.sql.functions.when;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.api.java.UDF2;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.types.DataTypes;

/**
 * Binned distributions of features, computed the same way for the baseline and the current data so the two compare
 * bin for bin. One pass per dataset: every row is unpivoted into (feature, value) pairs, each numeric value is put in
 * the interval of its feature's cut points (the union of the bin edges and the KS grid), and the pairs are counted
 * per (feature, interval) and per (feature, category). Only those counts reach the driver; bins and the cumulative
 * counts at the grid points are sums of intervals.
 */
final class Distributions {
  private Distributions() {}

  /**
   * A numeric feature's bins, closed on the right: {@code (-inf, e0], (e0, e1], ..., (ek, +inf)} — the outer two
   * catch values outside the baseline's range; {@code grid}: the points the KS distance is measured at.
   */
  record NumericBins(String column, double[] edges, double[] grid) {
    int bins() {
      return edges.length + 1;
    }

    /** The sorted union of edges and grid: interval j holds the values in (cut[j-1], cut[j]]. */
    double[] cuts() {
      return java.util.stream.DoubleStream.concat(Arrays.stream(edges), Arrays.stream(grid)).distinct().sorted()
          .toArray();
    }

    /** Bin labels for charts: {@code ≤ e0}, {@code (a, b]}, ..., {@code > ek}. */
    List<String> labels() {
      List<String> out = new ArrayList<>();
      out.add("≤ " + fmt(edges[0]));
      for (int i = 1; i < edges.length; i++) {
        out.add("(" + fmt(edges[i - 1]) + ", " + fmt(edges[i]) + "]");
      }
      out.add("> " + fmt(edges[edges.length - 1]));
      return out;
    }

    private static String fmt(double v) {
      return v == Math.rint(v) && Math.abs(v) < 1e9 ? String.valueOf((long) v)
          : String.format(java.util.Locale.ROOT, "%.3g", v);
    }
  }

  record Numeric(long nonNull, long nulls, long[] bins, long[] atOrBelow, Double min, Double max) {}

  record Categorical(long nonNull, long nulls, Map<String, Long> counts) {}

  record Both(Map<String, Numeric> numeric, Map<String, Categorical> categorical, long rows) {}

  /** The distributions of {@code numeric} and {@code categorical} columns of {@code rows}, in one pass. */
  static Both of(Dataset<Row> rows, List<NumericBins> numeric, List<String> categorical) {
    Map<String, double[]> cuts = new HashMap<>();
    numeric.forEach(n -> cuts.put(n.column(), n.cuts()));
    UserDefinedFunction interval = udf((UDF2<String, Double, Integer>) (feature, value) -> {
      if (value == null || value.isNaN()) {
        return -1; // missing
      }
      double[] c = cuts.get(feature);
      int i = Arrays.binarySearch(c, value);
      return i >= 0 ? i : -i - 1; // a value equal to cut j belongs to (cut[j-1], cut[j]]
    }, DataTypes.IntegerType);
    List<Column> pairs = new ArrayList<>();
    for (NumericBins n : numeric) {
      pairs.add(struct(lit(n.column()).as("f"), col("`" + n.column() + "`").cast(DataTypes.DoubleType).as("x"),
          lit(null).cast(DataTypes.StringType).as("s")));
    }
    for (String c : categorical) {
      pairs.add(struct(lit(c).as("f"), lit(null).cast(DataTypes.DoubleType).as("x"),
          col("`" + c + "`").cast(DataTypes.StringType).as("s")));
    }
    pairs.add(struct(lit("").as("f"), lit(null).cast(DataTypes.DoubleType).as("x"),
        lit(null).cast(DataTypes.StringType).as("s"))); // one per row: the row count
    Dataset<Row> long_ = rows.select(explode(org.apache.spark.sql.functions.array(pairs.toArray(Column[]::new)))
        .as("p")).select(col("p.f").as("f"), col("p.x").as("x"), col("p.s").as("s"));
    List<Row> cells = long_.groupBy(col("f"), when(col("s").isNull(), interval.apply(col("f"), col("x")))
            .as("j"), col("s"))
        .agg(count(lit(1)).as("n"), min(col("x")).as("lo"), max(col("x")).as("hi")).collectAsList();

    Map<String, long[]> intervals = new HashMap<>();
    Map<String, long[]> nulls = new HashMap<>();
    Map<String, double[]> ranges = new HashMap<>();
    Map<String, Map<String, Long>> categories = new LinkedHashMap<>();
    long total = 0;
    for (Row r : cells) {
      String f = r.getString(0);
      long n = r.getLong(3);
      if (f.isEmpty()) {
        total += n;
      } else if (cuts.containsKey(f)) {
        int j = r.getInt(1);
        if (j < 0) {
          nulls.computeIfAbsent(f, k -> new long[1])[0] += n;
          continue;
        }
        intervals.computeIfAbsent(f, k -> new long[cuts.get(k).length + 1])[j] += n;
        double[] range = ranges.computeIfAbsent(f, k -> new double[] {Double.MAX_VALUE, -Double.MAX_VALUE});
        range[0] = Math.min(range[0], r.getDouble(4));
        range[1] = Math.max(range[1], r.getDouble(5));
      } else if (r.isNullAt(2)) {
        nulls.computeIfAbsent(f, k -> new long[1])[0] += n;
      } else {
        categories.computeIfAbsent(f, k -> new HashMap<>()).merge(r.getString(2), n, Long::sum);
      }
    }
    Map<String, Numeric> outNumeric = new LinkedHashMap<>();
    for (NumericBins b : numeric) {
      double[] c = cuts.get(b.column());
      long[] counts = intervals.getOrDefault(b.column(), new long[c.length + 1]);
      long[] bins = new long[b.bins()];
      for (int j = 0; j < counts.length; j++) {
        // interval j's values are <= c[j] (or above every cut): its bin is the number of edges below that bound
        double upper = j < c.length ? c[j] : Double.POSITIVE_INFINITY;
        int bin = 0;
        while (bin < b.edges().length && b.edges()[bin] < upper) {
          bin++;
        }
        bins[bin] += counts[j];
      }
      long[] atOrBelow = new long[b.grid().length];
      for (int g = 0; g < atOrBelow.length; g++) {
        int last = Arrays.binarySearch(c, b.grid()[g]);
        for (int j = 0; j <= last; j++) {
          atOrBelow[g] += counts[j];
        }
      }
      long nonNull = Arrays.stream(counts).sum();
      double[] range = ranges.get(b.column());
      outNumeric.put(b.column(), new Numeric(nonNull, nulls.getOrDefault(b.column(), new long[1])[0], bins,
          atOrBelow, range == null ? null : range[0], range == null ? null : range[1]));
    }
    Map<String, Categorical> outCategorical = new LinkedHashMap<>();
    for (String c : categorical) {
      Map<String, Long> counts = new LinkedHashMap<>();
      categories.getOrDefault(c, Map.of()).entrySet().stream()
          .sorted(Map.Entry.<String, Long>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
          .forEach(e -> counts.put(e.getKey(), e.getValue()));
      outCategorical.put(c, new Categorical(counts.values().stream().mapToLong(Long::longValue).sum(),
          nulls.getOrDefault(c, new long[1])[0], counts));
    }
    return new Both(outNumeric, outCategorical, total);
  }
}
