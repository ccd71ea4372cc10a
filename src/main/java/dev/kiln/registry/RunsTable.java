package dev.kiln.registry;

import static org.apache.spark.sql.functions.col;

import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.TableRef;
import java.sql.Timestamp;
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
 * {@code meta.runs}: one entry per training run — what was trained (model type, parameters, seed), on what (trainset,
 * feature table and source table with their Delta versions, feature-set version), by what (git commit, library
 * versions, cores), how it did (metrics on the held-out test split), and where its artifacts are.
 *
 * <p>A run is recorded like MLflow records one: a {@code running} row when it starts, then one row with its end state,
 * {@code finished} (metrics, artifacts) or {@code failed} (the error; its partial artifacts removed). The table stays
 * append-only: both rows are Delta idempotent writes keyed by the run id ({@code txnAppId = kiln-run:<id>},
 * {@code txnVersion} 0 for the start, 1 for the end), so a replay adds nothing and a run can end only once. Readers
 * see each run in its latest state. A run left {@code running} after its process is gone was killed before it could
 * record its end. Only a {@code finished} run has a model: the registry refuses the others. Rows written before the
 * status existed (no {@code status}) are finished runs.
 */
public final class RunsTable {
  public static final TableRef TABLE = TableRef.meta("runs");
  public static final String RUNNING = "running";
  public static final String FINISHED = "finished";
  public static final String FAILED = "failed";
  public static final StructType SCHEMA = new StructType()
      .add("run_id", DataTypes.StringType, true)
      .add("model_type", DataTypes.StringType, true)
      .add("params", DataTypes.createMapType(DataTypes.StringType, DataTypes.StringType), true)
      .add("metrics", DataTypes.createMapType(DataTypes.StringType, DataTypes.DoubleType), true)
      .add("seed", DataTypes.LongType, true)
      .add("trainset_id", DataTypes.StringType, true)
      .add("feature_table", DataTypes.StringType, true)
      .add("feature_table_version", DataTypes.LongType, true)
      .add("feature_set_version", DataTypes.IntegerType, true)
      .add("source_table", DataTypes.StringType, true)
      .add("source_version", DataTypes.LongType, true)
      .add("train_rows", DataTypes.LongType, true)
      .add("git_commit", DataTypes.StringType, true)
      .add("library_versions", DataTypes.createMapType(DataTypes.StringType, DataTypes.StringType), true)
      .add("cores", DataTypes.IntegerType, true)
      .add("started_at", DataTypes.TimestampType, true)
      .add("ended_at", DataTypes.TimestampType, true)
      .add("duration_s", DataTypes.DoubleType, true)
      .add("artifacts", DataTypes.StringType, true)
      // added with failed-run tracking; older tables gain them on their next write (null = finished)
      .add("status", DataTypes.StringType, true)
      .add("error", DataTypes.StringType, true);
  private static final List<String> ADDED_COLUMNS = List.of("status", "error");

  /**
   * One run, as stored. {@code endedAt}, {@code durationS} are null while it runs; {@code metrics} are empty unless it
   * finished; {@code artifacts} is null when a failed run's partial artifacts were removed; {@code error} is the
   * failure in one line.
   */
  public record Run(String runId, String modelType, Map<String, String> params, Map<String, Double> metrics,
                    long seed, String trainsetId, String featureTable, long featureTableVersion,
                    int featureSetVersion, String sourceTable, long sourceVersion, long trainRows,
                    String gitCommit, Map<String, String> libraryVersions, int cores, Timestamp startedAt,
                    Timestamp endedAt, Double durationS, String artifacts, String status, String error) {

    /** A finished run (its end state recorded in one row). */
    public Run(String runId, String modelType, Map<String, String> params, Map<String, Double> metrics, long seed,
               String trainsetId, String featureTable, long featureTableVersion, int featureSetVersion,
               String sourceTable, long sourceVersion, long trainRows, String gitCommit,
               Map<String, String> libraryVersions, int cores, Timestamp startedAt, Timestamp endedAt,
               Double durationS, String artifacts) {
      this(runId, modelType, params, metrics, seed, trainsetId, featureTable, featureTableVersion, featureSetVersion,
          sourceTable, sourceVersion, trainRows, gitCommit, libraryVersions, cores, startedAt, endedAt, durationS,
          artifacts, FINISHED, null);
    }

    /** Finished (or recorded before runs had a status): the only state with a model to register or score. */
    public boolean finished() {
      return status == null || FINISHED.equals(status);
    }

    public boolean failed() {
      return FAILED.equals(status);
    }

    /** This run ended: {@code status} at {@code ended}, with these metrics, artifacts and error. */
    public Run ended(String endStatus, Map<String, Double> endMetrics, java.time.Instant ended, String endArtifacts,
                     String endError) {
      return new Run(runId, modelType, params, endMetrics, seed, trainsetId, featureTable, featureTableVersion,
          featureSetVersion, sourceTable, sourceVersion, trainRows, gitCommit, libraryVersions, cores, startedAt,
          Timestamp.from(ended), (ended.toEpochMilli() - startedAt.getTime()) / 1000.0, endArtifacts, endStatus,
          endError);
    }

    Row toRow() {
      return RowFactory.create(runId, modelType, scala(params), scala(metrics), seed, trainsetId, featureTable,
          featureTableVersion, featureSetVersion, sourceTable, sourceVersion, trainRows, gitCommit,
          scala(libraryVersions), cores, startedAt, endedAt, durationS, artifacts, status, error);
    }

    static Run fromRow(Row r) {
      return new Run(r.getString(0), r.getString(1), r.getJavaMap(2),
          r.isNullAt(3) ? Map.of() : r.getJavaMap(3), r.getLong(4),
          r.getString(5), r.getString(6), r.getLong(7), r.getInt(8), r.getString(9), r.getLong(10), r.getLong(11),
          r.getString(12), r.getJavaMap(13), r.getInt(14), r.getTimestamp(15), r.getTimestamp(16),
          r.isNullAt(17) ? null : r.getDouble(17), r.getString(18), r.isNullAt(19) ? FINISHED : r.getString(19),
          r.getString(20));
    }

    private static <K, V> scala.collection.Map<K, V> scala(Map<K, V> m) {
      return scala.collection.JavaConverters.mapAsScalaMapConverter(m).asScala();
    }
  }

  private final SparkSession spark;
  private final String path;

  public RunsTable(SparkSession spark, DataRoot root) {
    this.spark = spark;
    this.path = root.table(TABLE);
  }

  /**
   * Records a run's state: {@code running} as its start, any other status as its end. Each is written at most once
   * per run (a second end, say a failure reported after the finish was committed, is skipped by Delta).
   */
  public void record(Run run) {
    prepare();
    boolean start = RUNNING.equals(run.status());
    DeltaTables.appendOnce(spark, path, TABLE, SCHEMA, List.of(run.toRow()), "kiln-run:" + run.runId(),
        start ? 0 : 1, "train", Map.of("run_id", run.runId(), "status", String.valueOf(run.status())));
  }

  /** Records a finished run in one row (its end state). */
  public void append(Run run) {
    record(run);
  }

  /**
   * Creates the table, or adds the columns a table written by an older Kiln lacks (one metadata commit). Trials that
   * start side by side call this first, so they don't race on the schema change.
   */
  public void prepare() {
    DeltaTables.requireDeltaOrAbsent(spark, path, TABLE);
    DeltaTables.createIfAbsent(spark, path, SCHEMA, java.util.Optional.empty(),
        DeltaTables.commitMetadata("train", Map.of("action", "create table")));
    java.util.Set<String> have = java.util.Set.of(all0().schema().fieldNames());
    List<String> missing = ADDED_COLUMNS.stream().filter(c -> !have.contains(c)).toList();
    if (!missing.isEmpty()) {
      String columns = String.join(", ", missing.stream().map(c -> "`" + c + "` STRING").toList());
      try {
        DeltaTables.withCommitMetadata(spark, DeltaTables.commitMetadata("train", Map.of("action",
            "add columns " + missing)), session -> session.sql("ALTER TABLE delta.`" + path + "` ADD COLUMNS ("
            + columns + ")"));
      } catch (RuntimeException e) {
        // another writer added them first
        java.util.Set<String> now = java.util.Set.of(all0().schema().fieldNames());
        if (!now.containsAll(missing)) {
          throw e;
        }
      }
    }
  }

  /** All runs, each in its latest state, newest first (empty when none was recorded yet). */
  public List<Run> list() {
    if (!DeltaTables.exists(spark, path)) {
      return List.of();
    }
    return latest(all().orderBy(col("started_at").desc()).collectAsList());
  }

  /** One run in its latest state ({@code running}, {@code finished} or {@code failed}). */
  public Run get(String runId) {
    if (!DeltaTables.exists(spark, path)) {
      throw new KilnUserException("no run '" + runId + "' (no runs recorded yet)");
    }
    List<Run> runs = latest(all().where(col("run_id").equalTo(runId)).collectAsList());
    if (runs.isEmpty()) {
      throw new KilnUserException("no run '" + runId + "' in " + TABLE);
    }
    return runs.get(0);
  }

  /** A run's rows reduced to its latest state: an end row wins over the start row. Keeps the rows' order. */
  private static List<Run> latest(List<Row> rows) {
    Map<String, Run> byId = new java.util.LinkedHashMap<>();
    for (Row row : rows) {
      Run run = Run.fromRow(row);
      byId.merge(run.runId(), run, (a, b) -> RUNNING.equals(a.status()) ? b : a);
    }
    return List.copyOf(byId.values());
  }

  /** Every row in {@link #SCHEMA}'s columns; columns an older table lacks read as null. */
  private Dataset<Row> all() {
    Dataset<Row> rows = all0();
    java.util.Set<String> have = java.util.Set.of(rows.schema().fieldNames());
    return rows.select(java.util.Arrays.stream(SCHEMA.fields()).map(f -> have.contains(f.name()) ? col(f.name())
        : org.apache.spark.sql.functions.lit(null).cast(f.dataType()).as(f.name())).toArray(Column[]::new));
  }

  private Dataset<Row> all0() {
    return spark.read().format("delta").load(path);
  }
}
