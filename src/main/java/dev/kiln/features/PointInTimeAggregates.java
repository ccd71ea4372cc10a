package dev.kiln.features;

import static org.apache.spark.sql.functions.coalesce;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.desc;
import static org.apache.spark.sql.functions.explode;
import static org.apache.spark.sql.functions.expr;
import static org.apache.spark.sql.functions.grouping;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.min;
import static org.apache.spark.sql.functions.not;
import static org.apache.spark.sql.functions.sequence;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.when;

import java.util.ArrayList;
import java.util.List;
import java.util.function.ToLongFunction;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.expressions.WindowSpec;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
 * <p><b>Full recompute and skew.</b> The plain plan is one window pass per entity, {@code partitionBy(entity)}: all
 * rows of one entity value form one window partition, sorted and buffered by one task. One small aggregation job
 * first profiles the entity column ({@link #profile}: a rollup giving the row count, the null-entity rows, and the
 * largest values with their time ranges). A value is <em>hot</em> when it has at least
 * {@link SkewPolicy#minHotRows} rows and at least {@code 1 / (2 × parallelism)} of the non-null rows; the rows of hot
 * values, and the null-entity rows when they are as many, are taken out of the plain pass:
 * <ul>
 *   <li>Null-entity rows get null aggregates (typed as the plain pass's) without any window: the plain pass put them
 *   all in one partition only to null them.
 *   <li>A hot value is aggregated per time slice, in one linear pass over each slice's rows in time order
 *   ({@link SliceSweep}; Spark's bounded range frames recompute a frame's sum over all its rows for every row, n × w
 *   for a value with n rows and w of them in a window): {@code slice = floor((t - origin) / B)},
 *   {@code start(s) = origin + s·B}, with {@code B ≥ W} (W: the entity's longest bounded window) chosen so that the
 *   value splits into several slices, and {@code k = ceil(W / B)} context slices (so 1; 0 when every aggregate is
 *   all-history). Partition {@code (entity, s)} holds slice {@code s}'s own rows (the only ones emitted), copies of the rows of
 *   slices {@code s-k .. s-1}, and — when an aggregate is all-history — one summary row (key and other columns null)
 *   at {@code start(s-k) - 1µs} carrying the count, labeled count, clicks and latest time of all the value's rows in
 *   slices before {@code s-k} (per-slice totals, summed over earlier slices by a window over the few slices).
 *   Exact: an emitted row at {@code t} in slice {@code s} has {@code t - W ≥ start(s) - kB = start(s-k)}, so every
 *   event in {@code [t-W, t)} is in slices {@code s-k .. s}, all present; the summary row ({@code ts < start(s-k) ≤
 *   t-W}) is outside every bounded frame and inside every all-history frame, as are all the rows it stands for. The
 *   aggregates are integer sums and a max, so the result equals the plain window's exactly (PointInTimeSkewTest). Ties share a
 *   microsecond, hence a slice.
 * </ul>
 * The branches are unioned by name. With neither hot values nor many nulls the plan is the plain pass alone. Why
 * the threshold also for nulls: the branches filter the input, and for the second entity of a feature set that
 * input is the first entity's windowed rows, which each branch computes again (Spark reuses the shuffle, not the
 * sort and window). That is worth it only to break up a partition this large; a few nulls stay in the plain pass.
 *
 * <p><b>Incremental.</b> When only some rows are new, an entity's rows from its earliest new event {@code m} on are
 * recomputed (late events change later rows too). Those rows need the entity's events since {@code m - W} (W: the
 * longest bounded window) in full, and for all-history aggregates only a summary of what came before: one synthetic
 * row at {@code m - W - 1µs} carrying the earlier events' count, clicks and latest time. Bounded windows never reach
 * back to it, all-history frames include it, so the result equals a full recompute exactly (integer sums; the
 * latest earlier time is a max). This path still partitions by entity alone: a hot value's rows since its earliest
 * new event go to one task.
 */
final class PointInTimeAggregates {
  private static final Logger LOG = LoggerFactory.getLogger(PointInTimeAggregates.class);
  static final String WEIGHT = "_w";
  /** 1 for an event whose label is known: CTRs count only those (a scoring input's events have no label yet). */
  static final String LABELED = "_labeled";
  static final String CLICKS = "_clicks";
  static final String PREVIOUS = "_prev_us";
  static final String EMIT = "_emit";
  /** A hot value's time slice: part of its window partition key. */
  static final String SLICE = "_slice";
  private static final String FROM = "_from_us";
  private static final String COPY = "_copy";
  private static final String ORIGIN = "_origin_us";
  private static final String WIDTH = "_slice_us";
  /** At most this many slices per hot value, whatever its share. */
  static final int MAX_SLICES = 1024;

  /**
   * When a full recompute windows an entity value by time slices.
   *
   * @param minHotRows     a value with fewer rows is never hot, fewer null-entity rows are never taken out of the
   *                       window (small inputs keep the plain plan; {@code Long.MAX_VALUE}: no profiling job)
   * @param maxHotEntities at most this many values per entity column are hot, the largest (0: never)
   * @param minSlices      a hot value is cut into at least this many slices, as far as {@code B ≥ W} allows
   */
  record SkewPolicy(long minHotRows, int maxHotEntities, int minSlices) {
    static final SkewPolicy DEFAULT = new SkewPolicy(100_000, 32, 4);
    /** The plain plan alone, without a profiling job. */
    static final SkewPolicy OFF = new SkewPolicy(Long.MAX_VALUE, 0, 4);

    SkewPolicy {
      if (minHotRows < 1 || maxHotEntities < 0 || minSlices < 1) {
        throw new IllegalArgumentException("bad skew policy " + minHotRows + ", " + maxHotEntities + ", " + minSlices);
      }
    }
  }

  /** A hot entity value, its rows, and its slice grid: slice {@code s} starts at {@code origin + s × width}. */
  record HotEntity(Object value, long rows, long originMicros, long widthMicros, long slices) {}

  /**
   * What the profiling job found in an entity column: rows, rows with a null entity, the row count from which a
   * value is hot, and the hot values (largest first).
   */
  record Profile(long rows, long nullRows, long hotRows, List<HotEntity> hot) {
    /** Whether the null-entity rows are taken out of the window: when they are as many as a hot value's. */
    boolean splitNulls() {
      return nullRows > 0 && nullRows >= hotRows;
    }
  }

  private final FeatureSetSpec spec;
  private final SkewPolicy skew;

  PointInTimeAggregates(FeatureSetSpec spec) {
    this(spec, SkewPolicy.DEFAULT);
  }

  PointInTimeAggregates(FeatureSetSpec spec, SkewPolicy skew) {
    this.spec = spec;
    this.skew = skew;
  }

  List<FeatureSetSpec.Aggregate> aggregatesOf(String entity) {
    return spec.aggregates().stream().filter(a -> a.entity().equals(entity)).toList();
  }

  /** The longest bounded window of the entity's aggregates (0 when all are all-history). */
  long longestWindowMicros(String entity) {
    return aggregatesOf(entity).stream().mapToLong(a -> a.windowMicros().orElse(0L)).max().orElse(0L);
  }

  /** k = ceil(W / B): slices are at least the longest bounded window wide, so 1, or 0 when all are all-history. */
  private long contextSlices(String entity) {
    return longestWindowMicros(entity) > 0 ? 1 : 0;
  }

  private boolean anyAllHistory(String entity) {
    return aggregatesOf(entity).stream().anyMatch(a -> a.windowMicros().isEmpty());
  }

  /**
   * Full recompute: adds the entity's aggregate columns to every row of {@code rows} (rows with a null entity get
   * nulls). Runs one aggregation job now ({@link #profile}); the windows run when the result is.
   */
  Dataset<Row> addTo(Dataset<Row> rows, String entity) {
    Profile profile = profile(rows, entity);
    if (!profile.splitNulls() && profile.hot().isEmpty()) {
      return plain(rows, entity);
    }
    Column known = col(entity).isNotNull();
    Object[] hotValues = profile.hot().stream().map(HotEntity::value).toArray();
    Column notHot = hotValues.length == 0 ? lit(true) : not(col(entity).isin(hotValues));
    // Without a null branch the plain pass keeps the null rows (and nulls them, as it always did), so every row is
    // in exactly one branch whatever the profile said.
    Dataset<Row> normal = plain(rows.where(profile.splitNulls() ? known.and(notHot) : col(entity).isNull()
        .or(notHot)), entity);
    Dataset<Row> out = normal;
    if (hotValues.length > 0) {
      out = out.unionByName(sliced(rows.where(col(entity).isin(hotValues)), entity, profile.hot()));
      LOG.info("{}: {} hot value(s) with {} of {} rows aggregated per time slice ({} slices)", entity,
          hotValues.length, profile.hot().stream().mapToLong(HotEntity::rows).sum(), profile.rows(),
          profile.hot().stream().mapToLong(HotEntity::slices).sum());
    }
    if (profile.splitNulls()) {
      out = out.unionByName(withNullAggregates(rows.where(col(entity).isNull()), entity, normal.schema()));
    }
    return out;
  }

  /**
   * The one job that profiles an entity column for {@link #addTo}: a rollup gives the grand total (rows, non-null
   * rows) and the largest values with their row counts and time ranges, largest first.
   */
  Profile profile(Dataset<Row> rows, String entity) {
    if (skew.minHotRows() == Long.MAX_VALUE) {
      return new Profile(0, 0, Long.MAX_VALUE, List.of());
    }
    String ts = FeatureColumns.TS_MICROS;
    List<Row> top = rows.rollup(col(entity))
        .agg(grouping(col(entity)).as("_total"), count(lit(1)).as("_rows"), count(col(entity)).as("_n"),
            min(ts).as("_min"), max(ts).as("_max"))
        // the grand total has the most non-null rows (ties: an entity holding them all), so it sorts first
        .orderBy(desc("_n"), desc("_total"))
        .limit(skew.maxHotEntities() + 1)
        .collectAsList();
    Row total = top.stream().filter(r -> r.getByte(r.fieldIndex("_total")) == 1).findFirst().orElse(null);
    if (total == null) { // no rows at all
      return new Profile(0, 0, skew.minHotRows(), List.of());
    }
    long all = total.getLong(total.fieldIndex("_rows"));
    long nonNull = total.getLong(total.fieldIndex("_n"));
    int parallelism = rows.sparkSession().sparkContext().defaultParallelism();
    long share = Math.max(1, nonNull / (2L * parallelism)); // rows per task if the work were spread evenly
    long threshold = Math.max(skew.minHotRows(), share);
    long window = longestWindowMicros(entity);
    long context = contextSlices(entity);
    List<HotEntity> hot = new ArrayList<>();
    for (Row r : top) {
      long n = r.getLong(r.fieldIndex("_n"));
      if (r.isNullAt(0) || n < threshold) { // the grand total, the null value, or not hot
        continue;
      }
      long origin = r.getLong(r.fieldIndex("_min"));
      long span = r.getLong(r.fieldIndex("_max")) - origin + 1;
      // a partition holds its slice and k earlier ones: aim for (k + 1) slices' rows ≈ one task's share
      long pieces = Math.min(MAX_SLICES, Math.max(skew.minSlices(), ceilDiv((context + 1) * n, share)));
      long width = Math.max(Math.max(window, 1), ceilDiv(span, pieces));
      hot.add(new HotEntity(r.get(0), n, origin, width, ceilDiv(span, width)));
    }
    return new Profile(all, all - nonNull, threshold, hot);
  }

  /** Today's plan and the reference: every row in one window pass partitioned by the entity. */
  Dataset<Row> plain(Dataset<Row> rows, String entity) {
    Dataset<Row> out = weighted(rows);
    for (FeatureSetSpec.Aggregate a : aggregatesOf(entity)) {
      out = withAggregate(out, a);
    }
    return out.drop(WEIGHT, LABELED, CLICKS, PREVIOUS);
  }

  /** The hot values' rows, windowed per (entity, time slice); see the class comment. */
  private Dataset<Row> sliced(Dataset<Row> hotRows, String entity, List<HotEntity> hot) {
    String ts = FeatureColumns.TS_MICROS;
    long context = contextSlices(entity);
    Dataset<Row> located = hotRows
        .withColumn(ORIGIN, perValue(entity, hot, HotEntity::originMicros))
        .withColumn(WIDTH, perValue(entity, hot, HotEntity::widthMicros))
        // floor((t - origin) / width) in exact integer arithmetic, also below the origin
        .withColumn(SLICE, expr(String.format("((`%1$s` - `%2$s`) - pmod(`%1$s` - `%2$s`, `%3$s`)) div `%3$s`", ts,
            ORIGIN, WIDTH)));
    // each row in its own slice (emitted) and as context in the next k slices (not emitted)
    Dataset<Row> rows = weighted(located.drop(ORIGIN, WIDTH));
    rows = context == 0 ? rows.withColumn(EMIT, lit(true)) : rows
        .withColumn(COPY, explode(sequence(lit(0L), lit(context))))
        .withColumn(SLICE, col(SLICE).plus(col(COPY)))
        .withColumn(EMIT, col(COPY).equalTo(0L))
        .drop(COPY);
    if (anyAllHistory(entity)) {
      Dataset<Row> totals = located.groupBy(col(entity), col(SLICE), col(ORIGIN), col(WIDTH)).agg(
          count(lit(1)).as(WEIGHT), sum(labeled()).as(LABELED),
          coalesce(sum(col(spec.label()).cast(DataTypes.LongType)), lit(0L)).as(CLICKS), max(col(ts)).as(PREVIOUS));
      // per value a handful of slices: the one partition per value here is small
      WindowSpec older = Window.partitionBy(col(entity)).orderBy(col(SLICE))
          .rangeBetween(Window.unboundedPreceding(), -(context + 1));
      Dataset<Row> summary = totals.select(col(entity), col(SLICE),
              col(ORIGIN).plus(col(SLICE).minus(context).multiply(col(WIDTH))).minus(1L).as(ts),
              coalesce(sum(WEIGHT).over(older), lit(0L)).as(WEIGHT),
              coalesce(sum(LABELED).over(older), lit(0L)).as(LABELED),
              coalesce(sum(CLICKS).over(older), lit(0L)).as(CLICKS),
              max(PREVIOUS).over(older).as(PREVIOUS), lit(false).as(EMIT))
          .where(col(WEIGHT).gt(0L));
      rows = rows.unionByName(summary, true); // the key and every other column null
    }
    // one linear pass per (entity, slice), rows in time order: Spark's bounded range frames would redo each frame's
    // sum over all its rows for every row, n x w for a value with n rows and w in a window (see SliceSweep)
    List<FeatureSetSpec.Aggregate> aggregates = aggregatesOf(entity);
    StructType in = rows.schema();
    StructType out = in;
    for (FeatureSetSpec.Aggregate a : aggregates) {
      for (String c : a.outputColumns()) {
        out = out.add(c, a.function().equals("time_since_previous") ? DataTypes.DoubleType : DataTypes.LongType, true);
      }
    }
    SliceSweep sweep = new SliceSweep(in.fieldIndex(entity), in.fieldIndex(SLICE), in.fieldIndex(ts),
        in.fieldIndex(WEIGHT), in.fieldIndex(LABELED), in.fieldIndex(CLICKS), in.fieldIndex(PREVIOUS),
        in.fieldIndex(EMIT), aggregates.stream().map(FeatureSetSpec.Aggregate::function).toArray(String[]::new),
        aggregates.stream().mapToLong(a -> a.windowMicros().orElse(0L)).toArray());
    return rows.repartition(col(entity), col(SLICE))
        .sortWithinPartitions(col(entity), col(SLICE), col(ts))
        .mapPartitions(sweep, Encoders.row(out))
        .drop(WEIGHT, LABELED, CLICKS, PREVIOUS, SLICE, EMIT);
  }

  private static Column perValue(String entity, List<HotEntity> hot, ToLongFunction<HotEntity> f) {
    Column out = null;
    for (HotEntity h : hot) {
      Column is = col(entity).equalTo(lit(h.value()));
      out = out == null ? when(is, lit(f.applyAsLong(h))) : out.when(is, lit(f.applyAsLong(h)));
    }
    return out;
  }

  /** Null aggregates, typed as {@code computed} (a plain pass's schema) has them, without a window. */
  private Dataset<Row> withNullAggregates(Dataset<Row> rows, String entity, StructType computed) {
    Dataset<Row> out = rows;
    for (FeatureSetSpec.Aggregate a : aggregatesOf(entity)) {
      for (String c : a.outputColumns()) {
        out = out.withColumn(c, lit(null).cast(computed.apply(c).dataType()));
      }
    }
    return out;
  }

  private Dataset<Row> weighted(Dataset<Row> rows) {
    return rows
        .withColumn(WEIGHT, lit(1L))
        .withColumn(LABELED, labeled())
        .withColumn(CLICKS, col(spec.label()).cast(DataTypes.LongType))
        .withColumn(PREVIOUS, col(FeatureColumns.TS_MICROS));
  }

  private static long ceilDiv(long a, long b) {
    return -Math.floorDiv(-a, b);
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
    if (anyAllHistory(entity)) {
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
