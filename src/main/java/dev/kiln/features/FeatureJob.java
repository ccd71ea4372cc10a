package dev.kiln.features;

import static org.apache.spark.sql.functions.broadcast;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.min;

import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.StageTimes;
import dev.kiln.common.TableRef;
import io.delta.exceptions.DeltaConcurrentModificationException;
import io.delta.tables.DeltaTable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.spark.SparkThrowable;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Computes a feature set from a source table into the Delta table {@code features.<name>}, keyed by the event key.
 *
 * <p>The first run (and {@code --full}, a new spec version, or a source table that was rewritten rather than
 * appended to) computes every row and replaces the table in one commit. Later runs are incremental: only source rows
 * not yet in the feature table are read as new, and the rows they affect (see {@link PointInTimeAggregates}) are
 * merged in one commit, so the table always equals a full recompute of the source version it records. The
 * feature-set name, version, definition hash and definitions are table properties; each commit's metadata names the
 * source table and version it reflects.
 */
public final class FeatureJob {
  private static final Logger LOG = LoggerFactory.getLogger(FeatureJob.class);
  static final String PROP_NAME = "kiln.feature_set.name";
  static final String PROP_VERSION = "kiln.feature_set.version";
  static final String PROP_HASH = "kiln.feature_set.hash";
  static final String PROP_SPEC = "kiln.feature_set.spec";
  private static final String IS_NEW = "_is_new";

  private final FeatureConfig config;
  private final FeatureSetSpec spec;

  /** Reads and checks the spec before any Spark work. */
  public FeatureJob(FeatureConfig config) {
    this.config = config;
    this.spec = FeatureSetSpec.load(config.specFile());
  }

  public FeatureSetSpec spec() {
    return spec;
  }

  public FeatureResult run(SparkSession spark) {
    StageTimes stages = new StageTimes();
    DataRoot root = config.dataRoot();
    TableRef sourceRef = TableRef.parse(config.sourceTable()
        .orElse(spec.sourceTable() == null ? "bronze.events" : spec.sourceTable()), "bronze");
    TableRef featureRef = new TableRef("features", spec.name());
    String sourcePath = root.table(sourceRef);
    String featurePath = root.table(featureRef);
    if (!DeltaTables.exists(spark, sourcePath)) {
      throw new KilnUserException("source table " + sourceRef + " does not exist (" + sourcePath
          + "); ingest data first");
    }
    DeltaTables.requireDeltaOrAbsent(spark, featurePath, featureRef);
    long sourceVersion = DeltaTables.latestVersion(spark, sourcePath).orElseThrow();
    Dataset<Row> source = spark.read().format("delta").option("versionAsOf", sourceVersion).load(sourcePath);
    FeatureColumns columns = new FeatureColumns(spec, config.specFile().toString(), source.schema(), sourceRef);

    Plan plan = plan(spark, featurePath, featureRef, sourcePath, sourceVersion);
    stages.lap("plan");
    LOG.info("features {} v{} from {} version {}: {} ({})", featureRef, spec.version(), sourceRef, sourceVersion,
        plan.mode(), plan.reason());
    Map<String, Object> lineage = new LinkedHashMap<>();
    lineage.put("feature_set", spec.name());
    lineage.put("feature_set_version", spec.version());
    lineage.put("feature_set_hash", spec.definitionHash());
    lineage.put("spec", spec.toJson());
    lineage.put("source_table", sourceRef.toString());
    lineage.put("source_version", sourceVersion);
    lineage.put("mode", plan.mode());
    String commitMeta = DeltaTables.commitMetadata("features", lineage);

    Dataset<Row> events = columns.events(source);
    long newRows = 0;
    long updatedRows = 0;
    try {
      // the point-in-time windows run inside the write (before it, one small profiling job per entity column)
      if (plan.mode().equals("full")) {
        newRows = writeFull(spark, events, columns, featurePath, commitMeta);
        stages.lap("windows and write (full)");
      } else if (plan.mode().equals("incremental")) {
        long[] counts = writeIncremental(spark, events, columns, sourcePath, plan.processed(), sourceVersion,
            featurePath, commitMeta, stages);
        newRows = counts[0];
        updatedRows = counts[1];
        stages.lap("windows and merge (incremental)");
      }
    } catch (DeltaConcurrentModificationException e) {
      throw new KilnUserException("another run changed " + featureRef + " while this one was computing ("
          + e.getClass().getSimpleName() + "); nothing was written by this run, re-run it");
    }
    boolean nothingNew = plan.mode().equals("incremental") && newRows == 0;
    String mode = nothingNew ? "up-to-date" : plan.mode();
    // The durable state (feature set and source version processed) goes into the table properties right after the
    // data: the commit history it is also in gets cleaned up (see FeatureTableState).
    recordState(spark, featurePath, sourceRef.toString(), sourceVersion);
    stages.lap("record state");
    long tableVersion = DeltaTables.latestVersion(spark, featurePath).orElseThrow();
    Dataset<Row> table = spark.read().format("delta").option("versionAsOf", tableVersion).load(featurePath);
    long tableRows = table.count();
    stages.lap("count rows");
    boolean statsWritten = false;
    if (config.stats()) {
      statsWritten = new FeatureStats(spark, root).writeIfAbsent(spec, featureRef, tableVersion, table);
      stages.lap("statistics");
    }
    double seconds = stages.elapsed();
    LOG.info("features {}: {} new, {} updated rows; version {} has {} rows ({} s)", featureRef, newRows,
        updatedRows, tableVersion, tableRows, String.format("%.1f", seconds));
    return new FeatureResult(featureRef.toString(), featurePath, spec.name(), spec.version(), mode,
        nothingNew ? "no new rows in " + sourceRef : plan.reason(), sourceRef.toString(),
        sourceVersion, newRows, updatedRows, tableVersion, tableRows, statsWritten, seconds, stages.seconds(),
        stages.peakHeapMib());
  }

  /** What the run does; {@code processed} is the source version the table reflects (-1 when none). */
  private record Plan(String mode, String reason, long processed) {
    Plan(String mode, String reason) {
      this(mode, reason, -1);
    }
  }

  /**
   * Decides between a full recompute, an incremental merge and nothing to do ({@code up-to-date}: the source
   * version was processed already), checking the spec against the table first.
   */
  private Plan plan(SparkSession spark, String featurePath, TableRef featureRef, String sourcePath,
                    long sourceVersion) {
    if (!DeltaTables.exists(spark, featurePath)) {
      return new Plan("full", "first run");
    }
    Optional<FeatureTableState> state = FeatureTableState.at(spark, featurePath, Optional.empty());
    if (state.isEmpty()) {
      return new Plan("full", "no features commit in the table's history");
    }
    FeatureTableState current = state.get();
    String where = " (" + config.specFile() + ")";
    if (!spec.name().equals(current.featureSet())) {
      throw new KilnUserException(featureRef + " holds feature set '" + current.featureSet() + "', not '"
          + spec.name() + "'" + where);
    }
    if (current.featureSetVersion() > spec.version()) {
      throw new KilnUserException("feature set " + spec.name() + " version " + spec.version() + " is older than "
          + "version " + current.featureSetVersion() + " already in " + featureRef + where);
    }
    if (current.featureSetVersion() == spec.version() && !spec.definitionHash().equals(current.hash())) {
      throw new KilnUserException("feature set " + spec.name() + " version " + spec.version() + " already exists in "
          + featureRef + " with different definitions (hash " + current.hash() + ", spec has "
          + spec.definitionHash() + "); bump 'version' to change features" + where);
    }
    if (current.featureSetVersion() < spec.version()) {
      return new Plan("full", "feature set version " + current.featureSetVersion() + " -> " + spec.version());
    }
    if (config.full()) {
      return new Plan("full", "--full");
    }
    long processed = current.sourceVersion();
    if (processed > sourceVersion) {
      return new Plan("full", "source version " + sourceVersion + " is older than the " + processed + " processed");
    }
    if (processed == sourceVersion) {
      return new Plan("up-to-date", "source version " + sourceVersion + " already processed");
    }
    Optional<String> rewrite = firstRewrite(spark, sourcePath, processed, sourceVersion);
    if (rewrite.isPresent()) {
      return new Plan("full", "source was rewritten since version " + processed + " (" + rewrite.get() + ")");
    }
    return new Plan("incremental", "source version " + processed + " -> " + sourceVersion, processed);
  }

  private static final Set<String> NO_DATA_CHANGE = Set.of("OPTIMIZE", "VACUUM START", "VACUUM END",
      "SET TBLPROPERTIES", "CREATE TABLE", "ADD COLUMNS", "CHANGE COLUMN", "UPGRADE PROTOCOL");

  /** The first commit after {@code from} that did more than append rows, e.g. a DELETE, UPDATE or overwrite. */
  private static Optional<String> firstRewrite(SparkSession spark, String sourcePath, long from, long to) {
    List<DeltaTables.Commit> commits = DeltaTables.commits(spark, sourcePath, Optional.empty()).stream()
        .filter(c -> c.version() > from && c.version() <= to)
        .sorted(java.util.Comparator.comparingLong(DeltaTables.Commit::version)).toList();
    if (commits.size() != to - from) {
      // Delta cleaned up log entries since the processed version: what happened there is unknown, so recompute.
      return Optional.of("its log since version " + from + " was cleaned up");
    }
    for (DeltaTables.Commit c : commits) {
      String op = c.operation();
      Map<String, String> params = c.parameters();
      boolean append = (op.equals("WRITE") || op.equals("STREAMING UPDATE"))
          && String.valueOf(params.getOrDefault("mode", params.get("outputMode"))).equals("Append");
      if (!append && !NO_DATA_CHANGE.contains(op)) {
        return Optional.of(op + " at version " + c.version());
      }
    }
    return Optional.empty();
  }

  private long writeFull(SparkSession spark, Dataset<Row> events, FeatureColumns columns, String featurePath,
                         String commitMeta) {
    List<Column> select = new ArrayList<>(columns.rowFeatures());
    select.add(col(FeatureColumns.TS_MICROS));
    Dataset<Row> rows = events.select(select.toArray(Column[]::new));
    PointInTimeAggregates aggregates = new PointInTimeAggregates(spec);
    for (String entity : spec.entities()) {
      rows = aggregates.addTo(rows, entity);
    }
    Dataset<Row> table = rows.select(columns.tableColumns().stream().map(c -> col(c)).toArray(Column[]::new));
    // Empty table first, as ingest does: a first run killed during its overwrite then leaves a Delta table (no
    // features commit: the next run recomputes), not a directory of loose Parquet files that no run would accept.
    // (Nearly) unique per row: Parquet dictionaries for the event key and time cost write time and save nothing.
    DeltaTables.createIfAbsent(spark, featurePath, table.schema(), Optional.of(FeatureColumns.EVENT_DATE),
        DeltaTables.withoutDictionary(List.of(spec.eventKey(), spec.eventTime())),
        DeltaTables.commitMetadata("features", Map.of("action", "create table")));
    // The V2 writer's REPLACE TABLE AS SELECT fails on path tables (delta-io/delta#4671): overwrite instead. The
    // feature-set identity travels in the commit metadata, atomically with the data.
    table.write().format("delta").mode("overwrite").option("overwriteSchema", "true")
        .option("userMetadata", commitMeta)
        .partitionBy(FeatureColumns.EVENT_DATE).save(featurePath);
    return metric(lastOperationMetrics(spark, featurePath), "numOutputRows");
  }

  /** The source rows not yet in the feature table, cached, with how they were found. */
  private record NewRows(Dataset<Row> rows, long count, String foundBy) {}

  /**
   * The source rows not yet in the feature table. When the source records a change data feed (Kiln's bronze tables
   * do), they are the rows appended since the processed version {@code from} (the plan checked that every commit
   * since appended rows), less any key the table holds already (normally none: a killed run's MERGE, or a source
   * that repeats keys); else, or when a version in the range recorded no changes, every source key is compared with
   * every key of the table.
   */
  private NewRows newRows(SparkSession spark, String sourcePath, long from, long to, Dataset<Row> events,
                          FeatureColumns columns, String featurePath) {
    String key = spec.eventKey();
    Dataset<Row> existing = spark.read().format("delta").load(featurePath).select(key);
    if ("true".equalsIgnoreCase(DeltaTables.properties(spark, sourcePath).get(DeltaTables.CHANGE_DATA_FEED))) {
      Dataset<Row> fresh = null;
      try { // Delta checks the range when the query is planned (here by persist)
        Dataset<Row> appended = columns.events(spark.read().format("delta").option("readChangeFeed", "true")
            .option("startingVersion", from + 1).option("endingVersion", to).load(sourcePath)
            .where(col("_change_type").equalTo("insert")));
        Dataset<Row> known = existing.join(broadcast(appended.select(key)), new String[] {key}, "left_semi");
        fresh = appended.join(known, new String[] {key}, "left_anti").persist(StorageLevel.MEMORY_AND_DISK());
        return new NewRows(fresh, fresh.count(), "change data feed");
      } catch (Exception e) { // Delta's AnalysisException is a checked exception, thrown unchecked from Scala
        if (fresh != null) {
          fresh.unpersist();
        }
        if (!missingChangeData(e)) {
          throw e;
        }
        LOG.info("{} recorded no changes for some version from {} to {}: finding new rows by key", sourcePath,
            from + 1, to);
      }
    }
    Dataset<Row> fresh = events.join(existing, new String[] {key}, "left_anti")
        .persist(StorageLevel.MEMORY_AND_DISK());
    return new NewRows(fresh, fresh.count(), "by key");
  }

  /** Delta's error for a change-feed range with a version that recorded no changes (the feed was off then). */
  private static boolean missingChangeData(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SparkThrowable st && "DELTA_MISSING_CHANGE_DATA".equals(st.getErrorClass())) {
        return true;
      }
    }
    return false;
  }

  /** Merges new rows and the rows they affect; returns {new rows, updated rows}. */
  private long[] writeIncremental(SparkSession spark, Dataset<Row> events, FeatureColumns columns, String sourcePath,
                                  long processed, long sourceVersion, String featurePath, String commitMeta,
                                  StageTimes stages) {
    String key = spec.eventKey();
    NewRows found = newRows(spark, sourcePath, processed, sourceVersion, events, columns, featurePath);
    Dataset<Row> fresh = found.rows();
    try {
      long freshCount = found.count();
      stages.lap("find new rows (" + found.foundBy() + ")");
      if (freshCount == 0) {
        return new long[] {0, 0};
      }
      LOG.info("{} new source rows", freshCount);
      PointInTimeAggregates aggregates = new PointInTimeAggregates(spec);
      Dataset<Row> changes = fresh.select(columns.rowFeatures().toArray(Column[]::new)).withColumn(IS_NEW, lit(true));
      for (String entity : spec.entities()) {
        Dataset<Row> affected = aggregates.affectedRows(events, fresh, entity).withColumn(hasFlag(entity), lit(true));
        changes = changes.join(affected, new String[] {key}, "full_outer");
      }
      Map<String, String> update = new LinkedHashMap<>();
      for (String entity : spec.entities()) {
        for (FeatureSetSpec.Aggregate a : aggregates.aggregatesOf(entity)) {
          for (String c : a.outputColumns()) {
            update.put(c, "CASE WHEN s." + hasFlag(entity) + " THEN s." + c + " ELSE t." + c + " END");
          }
        }
      }
      Map<String, String> insert = new LinkedHashMap<>();
      for (String c : columns.tableColumns()) {
        insert.put(c, "s." + c);
      }
      // Every changed row is a new row or a later row of an entity with new rows, so none is older than the earliest
      // new event: the MERGE leaves the partitions before its date alone instead of joining the whole table.
      String condition = "t." + key + " = s." + key + earliestDateCondition(events, fresh);
      Dataset<Row> merged = changes; // computed once: Delta materializes a MERGE source (merge.materializeSource)
      // MERGE takes no commit options: it runs in a private session carrying the metadata.
      DeltaTables.withCommitMetadata(spark, commitMeta, session -> {
        DeltaTable.forPath(session, featurePath).as("t")
            .merge(merged.as("s"), condition)
            .whenMatched("s." + IS_NEW + " IS NULL").updateExpr(update)
            .whenNotMatched("s." + IS_NEW).insertExpr(insert)
            .execute();
        return null;
      });
      Map<String, String> metrics = lastOperationMetrics(spark, featurePath);
      return new long[] {metric(metrics, "numTargetRowsInserted"), metric(metrics, "numTargetRowsUpdated")};
    } finally {
      fresh.unpersist();
    }
  }

  /**
   * {@code " AND (t.event_date >= DATE'...' OR t.event_date IS NULL)"} for the earliest date among the source rows at
   * or after the earliest new event (from the data, not derived from the time: any date rule holds), or nothing.
   */
  private static String earliestDateCondition(Dataset<Row> events, Dataset<Row> fresh) {
    Row first = fresh.agg(min(col(FeatureColumns.TS_MICROS))).first();
    if (first.isNullAt(0)) {
      return "";
    }
    Row date = events.where(col(FeatureColumns.TS_MICROS).geq(first.getLong(0)))
        .agg(min(col(FeatureColumns.EVENT_DATE))).first();
    if (date.isNullAt(0)) {
      return "";
    }
    String column = "t." + FeatureColumns.EVENT_DATE;
    return " AND (" + column + " >= DATE'" + date.get(0) + "' OR " + column + " IS NULL)";
  }

  /**
   * Records the feature-set identity and the source version the table now reflects in the table properties (one
   * metadata commit, only when they differ), after the data commit: state is never ahead of the data.
   */
  private void recordState(SparkSession spark, String featurePath, String sourceTable, long sourceVersion) {
    Map<String, String> wanted = new LinkedHashMap<>();
    wanted.put(PROP_NAME, spec.name());
    wanted.put(PROP_VERSION, String.valueOf(spec.version()));
    wanted.put(PROP_HASH, spec.definitionHash());
    wanted.put(PROP_SPEC, spec.toJson());
    wanted.put(FeatureTableState.PROP_SOURCE_TABLE, sourceTable);
    wanted.put(FeatureTableState.PROP_SOURCE_VERSION, String.valueOf(sourceVersion));
    Map<String, String> props = DeltaTables.properties(spark, featurePath);
    if (wanted.entrySet().stream().allMatch(e -> e.getValue().equals(props.get(e.getKey())))) {
      return;
    }
    String assignments = wanted.entrySet().stream().map(e -> "'" + e.getKey() + "' = '"
        + e.getValue().replace("\\", "\\\\").replace("'", "\\'") + "'").collect(Collectors.joining(", "));
    DeltaTables.withCommitMetadata(spark, DeltaTables.commitMetadata("features", Map.of("action", "properties")),
        session -> session.sql("ALTER TABLE delta.`" + featurePath + "` SET TBLPROPERTIES (" + assignments + ")"));
  }

  private static String hasFlag(String entity) {
    return "_has_" + entity;
  }

  private static Map<String, String> lastOperationMetrics(SparkSession spark, String path) {
    return DeltaTables.commits(spark, path, Optional.of(1)).get(0).metrics();
  }

  private static long metric(Map<String, String> metrics, String name) {
    return Long.parseLong(metrics.getOrDefault(name, "0"));
  }
}
