package dev.kiln.registry;

import static org.apache.spark.sql.functions.col;

import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.TableRef;
import java.sql.Timestamp;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * {@code meta.runs}: one row per training run — what was trained (model type, parameters, seed), on what (trainset,
 * feature table and source table with their Delta versions, feature-set version), by what (git commit, library
 * versions, cores), how it did (metrics on the held-out test split), and where its artifacts are. Rows are appended
 * as Delta idempotent writes keyed by the run id.
 */
public final class RunsTable {
  public static final TableRef TABLE = TableRef.meta("runs");
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
      .add("artifacts", DataTypes.StringType, true);

  /** One run, as stored. */
  public record Run(String runId, String modelType, Map<String, String> params, Map<String, Double> metrics,
                    long seed, String trainsetId, String featureTable, long featureTableVersion,
                    int featureSetVersion, String sourceTable, long sourceVersion, long trainRows,
                    String gitCommit, Map<String, String> libraryVersions, int cores, Timestamp startedAt,
                    Timestamp endedAt, double durationS, String artifacts) {
    Row toRow() {
      return RowFactory.create(runId, modelType, scala(params), scala(metrics), seed, trainsetId, featureTable,
          featureTableVersion, featureSetVersion, sourceTable, sourceVersion, trainRows, gitCommit,
          scala(libraryVersions), cores, startedAt, endedAt, durationS, artifacts);
    }

    static Run fromRow(Row r) {
      return new Run(r.getString(0), r.getString(1), r.getJavaMap(2), r.getJavaMap(3), r.getLong(4),
          r.getString(5), r.getString(6), r.getLong(7), r.getInt(8), r.getString(9), r.getLong(10), r.getLong(11),
          r.getString(12), r.getJavaMap(13), r.getInt(14), r.getTimestamp(15), r.getTimestamp(16), r.getDouble(17),
          r.getString(18));
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

  public void append(Run run) {
    DeltaTables.appendOnce(spark, path, TABLE, SCHEMA, List.of(run.toRow()), "kiln-run:" + run.runId(), 0, "train",
        Map.of("run_id", run.runId()));
  }

  /** All runs, newest first (empty when none was recorded yet). */
  public List<Run> list() {
    if (!DeltaTables.exists(spark, path)) {
      return List.of();
    }
    return all().orderBy(col("started_at").desc()).collectAsList().stream().map(Run::fromRow).toList();
  }

  public Run get(String runId) {
    if (!DeltaTables.exists(spark, path)) {
      throw new KilnUserException("no run '" + runId + "' (no runs recorded yet)");
    }
    List<Row> rows = all().where(col("run_id").equalTo(runId)).collectAsList();
    if (rows.isEmpty()) {
      throw new KilnUserException("no run '" + runId + "' in " + TABLE);
    }
    return Run.fromRow(rows.get(0));
  }

  private Dataset<Row> all() {
    return spark.read().format("delta").load(path);
  }
}
