package dev.kiln.monitor;

import com.amazon.deequ.analyzers.Analyzer;
import com.amazon.deequ.analyzers.AnalyzerOptions;
import com.amazon.deequ.analyzers.Completeness;
import com.amazon.deequ.analyzers.Compliance;
import com.amazon.deequ.analyzers.CountDistinct;
import com.amazon.deequ.analyzers.Maximum;
import com.amazon.deequ.analyzers.Minimum;
import com.amazon.deequ.analyzers.Size;
import com.amazon.deequ.analyzers.Uniqueness;
import com.amazon.deequ.analyzers.runners.AnalysisRunner;
import com.amazon.deequ.analyzers.runners.AnalyzerContext;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Option;
import scala.collection.JavaConverters;
import scala.util.Failure;
import scala.util.Try;

/**
 * Data-quality metrics of a scoring batch for {@code kiln monitor}, measured with AWS Deequ: row count, null rates,
 * duplicate keys, numeric values outside the baseline's range and categorical values the baseline never saw.
 *
 * <p>All analyzers go into one Deequ {@link AnalysisRunner} run. Deequ computes every scan analyzer (Size,
 * Completeness, Compliance, Minimum, Maximum) as one {@code agg(...)} over the data, and the key column's
 * Uniqueness and CountDistinct from one shared frequency table (a group-by on the key plus a count of its non-null
 * rows), so the number of Spark jobs does not grow with the number of columns. Only the metrics reach the driver.
 *
 * <p>Deequ reports ratios; the counts in {@link Metric#detail()} are recovered from them by multiplying with the
 * (exact) denominator and rounding, which is exact for any realistic row count (below 2^52).
 */
public final class QualityChecks {
  private static final Logger LOG = LoggerFactory.getLogger(QualityChecks.class);

  /**
   * Categorical columns whose baseline knew more values than this get no {@code unknown_value_rate}: the check
   * becomes one SQL {@code NOT IN} list, and a column with that many values is more an identifier than a category.
   */
  public static final int MAX_KNOWN_VALUES = 10_000;

  /**
   * What to check.
   *
   * @param keyColumn     the column that should identify a row (null: no duplicate check)
   * @param columns       columns whose null rate is measured
   * @param numericRanges numeric columns with the baseline's {@code [min, max]}
   * @param knownValues   categorical columns with the values the baseline knew (compared as strings)
   */
  public record Spec(String keyColumn, List<String> columns, Map<String, double[]> numericRanges,
                     Map<String, Set<String>> knownValues) {
    public Spec {
      columns = columns == null ? List.of() : List.copyOf(new LinkedHashSet<>(columns));
      Map<String, double[]> ranges = new LinkedHashMap<>();
      if (numericRanges != null) {
        numericRanges.forEach((column, range) -> {
          if (range == null || range.length != 2 || Double.isNaN(range[0]) || Double.isNaN(range[1])
              || range[0] > range[1]) {
            throw new IllegalArgumentException("numeric range of " + column + " must be [min, max] with min <= max");
          }
          ranges.put(column, range.clone());
        });
      }
      numericRanges = Collections.unmodifiableMap(ranges);
      Map<String, Set<String>> known = new LinkedHashMap<>();
      if (knownValues != null) {
        knownValues.forEach((column, values) -> {
          Set<String> copy = new TreeSet<>();  // sorted: a deterministic SQL predicate
          for (String v : Objects.requireNonNull(values, "known values of " + column)) {
            if (v != null) {
              copy.add(v);
            }
          }
          known.put(column, Collections.unmodifiableSet(copy));
        });
      }
      knownValues = Collections.unmodifiableMap(known);
    }
  }

  /**
   * One measured metric; thresholds are applied by the caller.
   *
   * @param name   {@code rows}, {@code null_rate}, {@code duplicate_key_rate}, {@code out_of_range_rate} or
   *               {@code unknown_value_rate}
   * @param column the column measured, {@code *} for {@code rows}
   * @param value  the row count for {@code rows}, a share in [0, 1] for the rates
   * @param detail a short plain-English account, e.g. {@code 3 of 1,000 non-null values outside [0.5, 812.0]}
   */
  public record Metric(String name, String column, double value, String detail) {}

  private QualityChecks() {}

  /**
   * Measures {@code current} against {@code spec} in one Deequ run. The result lists {@code rows} first, then
   * {@code null_rate} per column of {@link Spec#columns()}, {@code duplicate_key_rate}, {@code out_of_range_rate}
   * per numeric column and {@code unknown_value_rate} per categorical column, in the spec's order.
   *
   * <p>A rate is left out where it is undefined: every rate when there are no rows; the duplicate, range and
   * unknown-value rate of a column that is null in every row (its {@code null_rate}, if asked for, says so); the
   * unknown-value rate of a column with more than {@link #MAX_KNOWN_VALUES} known values.
   *
   * @throws IllegalStateException when Deequ reports a metric as a failure (e.g. a column that is not there, a
   *                               numeric range on a non-numeric column), with Deequ's message
   */
  public static List<Metric> measure(Dataset<Row> current, Spec spec) {
    Plan plan = Plan.of(spec);
    AnalyzerContext context = run(current, plan);

    long rows = Math.round(value(context, plan.size));
    List<Metric> out = new ArrayList<>();
    out.add(new Metric("rows", "*", rows, count(rows) + (rows == 1 ? " row" : " rows")));
    if (rows == 0) {
      return out;  // every rate would divide by zero; Deequ reports them as failures ("Empty state")
    }

    Map<String, Long> nonNull = new LinkedHashMap<>();
    for (Map.Entry<String, Completeness> e : plan.completeness.entrySet()) {
      nonNull.put(e.getKey(), Math.round(value(context, e.getValue()) * rows));
    }
    for (String column : spec.columns()) {
      long nulls = rows - nonNull.get(column);
      out.add(new Metric("null_rate", column, (double) nulls / rows,
          count(nulls) + " of " + count(rows) + " rows null"));
    }

    if (plan.uniqueness != null && nonNull.get(spec.keyColumn()) > 0) {
      // Uniqueness is Deequ's share of the non-null keys' rows whose key occurs exactly once (null keys are
      // excluded from numerator and denominator), so duplicate_key_rate = 1 - Uniqueness = the share of rows with
      // a non-null key whose key occurs in at least one other row. CountDistinct, from the same frequency table,
      // only feeds the detail (how many distinct keys repeat).
      long keyed = nonNull.get(spec.keyColumn());
      long unique = Math.round(value(context, plan.uniqueness) * keyed);
      long distinct = Math.round(value(context, plan.distinct));
      long duplicated = keyed - unique;
      long repeatedKeys = distinct - unique;
      out.add(new Metric("duplicate_key_rate", spec.keyColumn(), (double) duplicated / keyed,
          count(duplicated) + " of " + count(keyed) + " rows with a key share it with another row ("
              + count(repeatedKeys) + (repeatedKeys == 1 ? " key" : " keys") + " repeated)"));
    }

    for (Map.Entry<String, Compliance> e : plan.outOfRange.entrySet()) {
      String column = e.getKey();
      long denominator = nonNull.get(column);
      if (denominator == 0) {
        continue;
      }
      // Minimum first: its precondition gives the clearer failure for a non-numeric column (Deequ's "Expected type
      // of column ... to be one of ..."); the Compliance alone would just see nulls where strings fail the cast.
      double min = value(context, plan.minimum.get(column));
      double max = value(context, plan.maximum.get(column));
      double share = value(context, e.getValue());
      double[] range = spec.numericRanges().get(column);
      out.add(new Metric("out_of_range_rate", column, share,
          count(Math.round(share * denominator)) + " of " + count(denominator) + " non-null values outside ["
              + range[0] + ", " + range[1] + "] (seen " + min + " to " + max + ")"));
    }

    for (Map.Entry<String, Compliance> e : plan.unknown.entrySet()) {
      String column = e.getKey();
      long denominator = nonNull.get(column);
      if (denominator == 0) {
        continue;
      }
      double share = value(context, e.getValue());
      int known = spec.knownValues().get(column).size();
      out.add(new Metric("unknown_value_rate", column, share,
          count(Math.round(share * denominator)) + " of " + count(denominator) + " non-null values not among the "
              + count(known) + " known " + (known == 1 ? "value" : "values")));
    }
    return out;
  }

  /** The Deequ run behind {@link #measure}: its raw AnalyzerContext, for tests. */
  static AnalyzerContext analyze(Dataset<Row> current, Spec spec) {
    return run(current, Plan.of(spec));
  }

  private static AnalyzerContext run(Dataset<Row> current, Plan plan) {
    // Java sees Analyzer[S, +M] as invariant: erase to the Analyzer<?, Metric<?>> that addAnalyzers takes.
    List<Analyzer<?, com.amazon.deequ.metrics.Metric<?>>> analyzers = new ArrayList<>();
    for (Analyzer<?, ?> a : plan.all()) {
      analyzers.add(erase(a));
    }
    return AnalysisRunner.onData(current)
        .addAnalyzers(JavaConverters.asScalaBuffer(analyzers).toList())
        .run();
  }

  /** Deequ's numeric result for one analyzer; a Failure becomes an IllegalStateException with Deequ's message. */
  private static double value(AnalyzerContext context, Analyzer<?, ?> analyzer) {
    Option<com.amazon.deequ.metrics.Metric<?>> metric = context.metric(erase(analyzer));
    if (metric.isEmpty()) {
      throw new IllegalStateException("Deequ returned no metric for " + analyzer);
    }
    Try<?> value = metric.get().value();
    if (value.isFailure()) {
      Throwable cause = ((Failure<?>) value).exception();
      throw new IllegalStateException(metric.get().name() + " of " + metric.get().instance() + " failed: "
          + cause.getMessage(), cause);
    }
    return ((Number) value.get()).doubleValue();
  }

  @SuppressWarnings("unchecked")
  private static Analyzer<?, com.amazon.deequ.metrics.Metric<?>> erase(Analyzer<?, ?> analyzer) {
    return (Analyzer<?, com.amazon.deequ.metrics.Metric<?>>) analyzer;
  }

  /** The analyzers for one spec. Deequ rejects duplicate analyzers, so each column's Completeness appears once. */
  private record Plan(Size size, Map<String, Completeness> completeness, Uniqueness uniqueness,
                      CountDistinct distinct, Map<String, Compliance> outOfRange, Map<String, Minimum> minimum,
                      Map<String, Maximum> maximum, Map<String, Compliance> unknown) {

    static Plan of(Spec spec) {
      Option<String> noFilter = Option.empty();
      Option<AnalyzerOptions> defaults = Option.empty();
      Map<String, Completeness> completeness = new LinkedHashMap<>();
      Set<String> measured = new LinkedHashSet<>(spec.columns());
      if (spec.keyColumn() != null) {
        measured.add(spec.keyColumn());
      }
      measured.addAll(spec.numericRanges().keySet());
      measured.addAll(spec.knownValues().keySet());
      for (String column : measured) {
        completeness.put(column, new Completeness(column, noFilter, defaults));
      }

      Uniqueness uniqueness = null;
      CountDistinct distinct = null;
      if (spec.keyColumn() != null) {
        scala.collection.Seq<String> key = JavaConverters.asScalaBuffer(List.of(spec.keyColumn())).toList();
        uniqueness = new Uniqueness(key, noFilter, defaults);
        distinct = new CountDistinct(key);
      }

      Map<String, Compliance> outOfRange = new LinkedHashMap<>();
      Map<String, Minimum> minimum = new LinkedHashMap<>();
      Map<String, Maximum> maximum = new LinkedHashMap<>();
      spec.numericRanges().forEach((column, range) -> {
        String c = quoteIdentifier(column);
        String predicate = "NOT (" + c + " BETWEEN " + doubleLiteral(range[0]) + " AND " + doubleLiteral(range[1])
            + ")";
        outOfRange.put(column, compliance("out_of_range_rate(" + column + ")", predicate, column));
        minimum.put(column, new Minimum(column, noFilter, defaults));
        maximum.put(column, new Maximum(column, noFilter, defaults));
      });

      Map<String, Compliance> unknown = new LinkedHashMap<>();
      spec.knownValues().forEach((column, values) -> {
        if (values.size() > MAX_KNOWN_VALUES) {
          LOG.warn("no unknown_value_rate for {}: the baseline knew {} values (more than {})", column,
              values.size(), MAX_KNOWN_VALUES);
          return;
        }
        String predicate;
        if (values.isEmpty()) {
          predicate = "TRUE";  // no value is known, so every non-null value is unknown
        } else {
          StringBuilder in = new StringBuilder("CAST(").append(quoteIdentifier(column)).append(" AS STRING) NOT IN (");
          String sep = "";
          for (String v : values) {
            in.append(sep).append(stringLiteral(v));
            sep = ", ";
          }
          predicate = in.append(')').toString();
        }
        unknown.put(column, compliance("unknown_value_rate(" + column + ")", predicate, column));
      });

      return new Plan(new Size(noFilter), completeness, uniqueness, distinct, outOfRange, minimum, maximum,
          unknown);
    }

    /** Share of the column's non-null values for which {@code predicate} holds. */
    private static Compliance compliance(String instance, String predicate, String column) {
      // where: only non-null values count, in the numerator and in the denominator (Deequ sums the where clause).
      // columns: Deequ's precondition, so a missing column fails as "Input data does not include column ...".
      return new Compliance(instance, predicate, Option.apply(quoteIdentifier(column) + " IS NOT NULL"),
          JavaConverters.asScalaBuffer(List.of(column)).toList(), Option.empty());
    }

    List<Analyzer<?, ?>> all() {
      List<Analyzer<?, ?>> all = new ArrayList<>();
      all.add(size);
      all.addAll(completeness.values());
      if (uniqueness != null) {
        all.add(uniqueness);
        all.add(distinct);
      }
      all.addAll(outOfRange.values());
      all.addAll(minimum.values());
      all.addAll(maximum.values());
      all.addAll(unknown.values());
      return all;
    }
  }

  /** A column name for a SQL expression: in backticks, any backtick in it doubled. */
  static String quoteIdentifier(String column) {
    return "`" + column.replace("`", "``") + "`";
  }

  /**
   * A SQL string literal for {@code value}. Plain values are quoted as they are; a value with a quote, a backslash
   * or a control character goes in as UTF-8 hex, {@code CAST(X'..' AS STRING)}, which reads the same whatever the
   * parser's escaping settings ({@code spark.sql.parser.escapedStringLiterals}). Spark folds the cast to a constant.
   */
  static String stringLiteral(String value) {
    boolean plain = value.chars().noneMatch(ch -> ch == '\'' || ch == '\\' || Character.isISOControl(ch));
    if (plain) {
      return "'" + value + "'";
    }
    return "CAST(X'" + HexFormat.of().withUpperCase().formatHex(value.getBytes(StandardCharsets.UTF_8))
        + "' AS STRING)";
  }

  /** A SQL DOUBLE literal: {@code 0.5D}, {@code 1.0E-5D}; infinities as a cast. */
  static String doubleLiteral(double d) {
    if (Double.isInfinite(d)) {
      return d > 0 ? "CAST('Infinity' AS DOUBLE)" : "CAST('-Infinity' AS DOUBLE)";
    }
    return "(" + d + "D)";  // parenthesised: -0.5D is unary minus on 0.5D
  }

  private static String count(long n) {
    return String.format(Locale.ROOT, "%,d", n);
  }
}
