package dev.kiln.monitor;

import static org.apache.spark.sql.functions.col;

import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.TableRef;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * {@code meta.monitoring}: one row per measured value of each {@code kiln monitor} run (drift per feature, score drift,
 * quality checks, model quality, and the verdict), appended in one idempotent commit per run.
 */
public final class MonitoringTable {
  public static final TableRef TABLE = TableRef.meta("monitoring");
  public static final StructType SCHEMA = new StructType()
      .add("monitor_id", DataTypes.StringType, false)
      .add("monitored_at", DataTypes.TimestampType, false)
      .add("model_name", DataTypes.StringType, false)
      .add("model_version", DataTypes.IntegerType, false)
      .add("run_id", DataTypes.StringType, true)
      .add("current_table", DataTypes.StringType, true)
      .add("current_version", DataTypes.LongType, true)
      .add("batch_id", DataTypes.StringType, true)
      .add("window_from", DataTypes.TimestampType, true)
      .add("window_to", DataTypes.TimestampType, true)
      .add("kind", DataTypes.StringType, false) // drift, score_drift, quality, model_quality, verdict
      .add("subject", DataTypes.StringType, true) // feature, column or day
      .add("metric", DataTypes.StringType, false)
      .add("value", DataTypes.DoubleType, true)
      .add("threshold", DataTypes.DoubleType, true)
      .add("status", DataTypes.StringType, false)
      .add("detail", DataTypes.StringType, true);

  /** The fields every row of one monitoring run shares. */
  record RunKey(String monitorId, Timestamp at, String model, int version, String runId, String table,
                long tableVersion, String batchId, Timestamp from, Timestamp to) {
    Row row(String kind, String subject, String metric, Double value, Double threshold, MonitorReport.Status status,
            String detail) {
      return RowFactory.create(monitorId, at, model, version, runId, table, tableVersion, batchId, from, to, kind,
          subject, metric, value, threshold, status.id(), detail);
    }
  }

  private final SparkSession spark;
  private final String path;

  MonitoringTable(SparkSession spark, DataRoot root) {
    this.spark = spark;
    this.path = root.table(TABLE);
  }

  void append(String monitorId, List<Row> rows, Map<String, ?> lineage) {
    DeltaTables.appendOnce(spark, path, TABLE, SCHEMA, rows, "kiln-monitor:" + monitorId, 0, "monitor", lineage);
  }

  /** The row count of the latest earlier monitoring run of this model on this table (for the row-count change). */
  Optional<Long> previousRows(String model, String table) {
    if (!DeltaTables.exists(spark, path)) {
      return Optional.empty();
    }
    List<Row> rows = new ArrayList<>(spark.read().format("delta").load(path)
        .where(col("model_name").equalTo(model).and(col("current_table").equalTo(table))
            .and(col("kind").equalTo("quality")).and(col("metric").equalTo("rows")))
        .orderBy(col("monitored_at").desc()).select("value").limit(1).collectAsList());
    return rows.isEmpty() || rows.get(0).isNullAt(0) ? Optional.empty()
        : Optional.of((long) rows.get(0).getDouble(0));
  }
}
