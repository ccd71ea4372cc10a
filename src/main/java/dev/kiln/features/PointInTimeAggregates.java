package dev.kiln.features;

import static org.apache.spark.sql.functions.coalesce;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.min;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.when;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.expressions.WindowSpec;
import org.apache.spark.sql.types.DataTypes;

/**
 * Per-entity aggregates that see only the past.
 *
 * <p><b>Point in time.</b> A row at event time {@code t} aggregates the entity's events with event time in
 * {@code [t - window, t)} — strictly earlier. Its own label, and every event at the same microsecond (ties), are
 * excluded; ties are thus resolved the same way whatever order the rows arrive in, and changing anything at or after
 * {@code t} cannot change the row's features. Windows are Spark range frames over epoch microseconds:
 * {@code rangeBetween(-window, -1)}. A CTR counts only earlier events whose label is known: events being scored have
 * none yet, and counting them as shown-but-not-clicked would bias every later row's CTR down.
 *
 * <p><b>Incremental.</b> When only some rows are new, an entity's rows from its earliest new event {@code m} on are
 * recomputed (late events change later rows too). Those rows need the entity's events since {@code m - W} (W: the
 * longest bounded window) in full, and for all-history aggregates only a summary of what came before: one synthetic
 * row at {@code m - W - 1µs} carrying the earlier events' count, clicks and latest time. Bounded windows never reach
 * back to it, all-history frames include it, so the result equals a full recompute exactly (integer sums; the
 * latest earlier time is a max).
 */
final class PointInTimeAggregates {
  static final String WEIGHT = "_w";
  /** 1 for an event whose label is known: CTRs count only those (a scoring input's events have no label yet). */
  static final String LABELED = "_labeled";
  static final String CLICKS = "_clicks";
  static final String PREVIOUS = "_prev_us";
  static final String EMIT = "_emit";
  private static final String FROM = "_from_us";

  private final FeatureSetSpec spec;

  PointInTimeAggregates(FeatureSetSpec spec) {
    this.spec = spec;
  }

  List<FeatureSetSpec.Aggregate> aggregatesOf(String entity) {
    return spec.aggregates().stream().filter(a -> a.entity().equals(entity)).toList();
  }

  /** The longest bounded window of the entity's aggregates (0 when all are all-history). */
  long longestWindowMicros(String entity) {
    return aggregatesOf(entity).stream().mapToLong(a -> a.windowMicros().orElse(0L)).max().orElse(0L);
  }

  /** Full recompute: adds the entity's aggregate columns to every row of {@code rows} (rows with a null entity get nulls). */
  Dataset<Row> addTo(Dataset<Row> rows, String entity) {
    Dataset<Row> weighted = rows
        .withColumn(WEIGHT, lit(1L))
        .withColumn(LABELED, labeled())
        .withColumn(CLICKS, col(spec.label()).cast(DataTypes.LongType))
        .withColumn(PREVIOUS, col(FeatureColumns.TS_MICROS));
    Dataset<Row> out = weighted;
    for (FeatureSetSpec.Aggregate a : aggregatesOf(entity)) {
      out = withAggregate(out, a);
    }
    return out.drop(WEIGHT, LABELED, CLICKS, PREVIOUS);
  }

  /**
   * Incremental: the entity's aggregate columns (with the event key) for every row the new rows affect — the new rows
   * themselves and the entity's later rows. {@code events} is the whole source at the version being processed.
   */
  Dataset<Row> affectedRows(Dataset<Row> events, Dataset<Row> fresh, String entity) {
    String key = spec.eventKey();
    String ts = FeatureColumns.TS_MICROS;
    long window = longestWindowMicros(entity);
    Dataset<Row> from = fresh.where(col(entity).isNotNull()).groupBy(entity).agg(min(ts).as(FROM));
    Dataset<Row> history = events.where(col(entity).isNotNull())
        .select(col(key), col(entity), col(ts), col(spec.label()))
        .join(from, entity);
    Column cutoff = col(FROM).minus(window);
    Dataset<Row> recent = history.where(col(ts).geq(cutoff)).select(
        col(key), col(entity), col(ts), lit(1L).as(WEIGHT), labeled().as(LABELED),
        col(spec.label()).cast(DataTypes.LongType).as(CLICKS),
        col(ts).as(PREVIOUS), col(ts).geq(col(FROM)).as(EMIT));
    Dataset<Row> rows = recent;
    if (aggregatesOf(entity).stream().anyMatch(a -> a.windowMicros().isEmpty())) {
      Dataset<Row> summary = history.where(col(ts).lt(cutoff)).groupBy(col(entity), col(FROM)).agg(
          count(lit(1)).as(WEIGHT), sum(labeled()).as(LABELED),
          coalesce(sum(col(spec.label()).cast(DataTypes.LongType)), lit(0L)).as(CLICKS),
          max(col(ts)).as(PREVIOUS));
      rows = rows.unionByName(summary.select(
          lit(null).cast(recent.schema().apply(key).dataType()).as(key), col(entity),
          col(FROM).minus(window + 1).as(ts), col(WEIGHT), col(LABELED), col(CLICKS), col(PREVIOUS),
          lit(false).as(EMIT)));
    }
    for (FeatureSetSpec.Aggregate a : aggregatesOf(entity)) {
      rows = withAggregate(rows, a);
    }
    List<Column> out = new ArrayList<>();
    out.add(col(key));
    aggregatesOf(entity).forEach(a -> a.outputColumns().forEach(c -> out.add(col(c))));
    return rows.where(col(EMIT)).select(out.toArray(Column[]::new));
  }

  private Column labeled() {
    return when(col(spec.label()).isNull(), 0L).otherwise(1L);
  }

  private Dataset<Row> withAggregate(Dataset<Row> rows, FeatureSetSpec.Aggregate a) {
    WindowSpec byTime = Window.partitionBy(a.entity()).orderBy(FeatureColumns.TS_MICROS);
    WindowSpec frame = a.windowMicros()
        .map(w -> byTime.rangeBetween(-w, -1))
        .orElseGet(() -> byTime.rangeBetween(Window.unboundedPreceding(), -1));
    Column known = col(a.entity()).isNotNull();
    return switch (a.function()) {
      case "count" -> rows.withColumn(a.name(),
          when(known, coalesce(sum(WEIGHT).over(frame), lit(0L))));
      case "ctr" -> rows
          .withColumn(a.ctrEventsColumn(), when(known, coalesce(sum(LABELED).over(frame), lit(0L))))
          .withColumn(a.ctrClicksColumn(), when(known, coalesce(sum(CLICKS).over(frame), lit(0L))));
      default -> rows.withColumn(a.name(), when(known,
          col(FeatureColumns.TS_MICROS).minus(max(PREVIOUS).over(frame)).cast(DataTypes.DoubleType).divide(1e6)));
    };
  }
}
