package dev.kiln.pipeline;

import static org.apache.spark.sql.functions.col;

import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.TableRef;
import java.sql.Date;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * {@code meta.pipeline_runs}: an append-only log of pipeline and task state changes, one row per change (a run
 * started or ended; a task attempt succeeded or failed; a task was skipped or not run because an upstream failed). The latest row of a task for a (pipeline, logical date) is its
 * state, which is what a re-run resumes from. Rows are blind appends, which Delta never rejects as conflicting, so
 * concurrent tasks (and a scheduler next to a manual run) can record at the same time. Rows with no task are the
 * run itself.
 */
public final class PipelineRunsTable {
  public static final TableRef TABLE = TableRef.meta("pipeline_runs");
  public static final StructType SCHEMA = new StructType()
      .add("pipeline", DataTypes.StringType, false)
      .add("logical_date", DataTypes.DateType, false)
      .add("run_id", DataTypes.StringType, false)
      .add("task", DataTypes.StringType, true) // null: the pipeline run itself
      .add("attempt", DataTypes.IntegerType, true)
      .add("state", DataTypes.StringType, false)
      .add("exit_code", DataTypes.IntegerType, true)
      .add("started_at", DataTypes.TimestampType, true)
      .add("ended_at", DataTypes.TimestampType, true)
      .add("duration_s", DataTypes.DoubleType, true)
      .add("message", DataTypes.StringType, true)
      .add("args", DataTypes.createArrayType(DataTypes.StringType), true)
      .add("log_path", DataTypes.StringType, true)
      .add("mode", DataTypes.StringType, true)
      .add("spec_hash", DataTypes.StringType, true)
      .add("recorded_at", DataTypes.TimestampType, false);

  /** A task's (or, with no task, the run's) state; only runs are recorded as running. */
  public enum State {
    RUNNING, SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED;

    public String id() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }

    static State of(String id) {
      return valueOf(id.toUpperCase(java.util.Locale.ROOT));
    }
  }

  /** One state change. */
  public record Entry(String pipeline, LocalDate logicalDate, String runId, Optional<String> task, Integer attempt,
                      State state, Integer exitCode, Instant startedAt, Instant endedAt, Double durationS,
                      String message, List<String> args, String logPath, String mode, String specHash,
                      Instant recordedAt) {
    Row row() {
      return RowFactory.create(pipeline, Date.valueOf(logicalDate), runId, task.orElse(null), attempt, state.id(),
          exitCode, ts(startedAt), ts(endedAt), durationS, message,
          args == null ? null : args.toArray(String[]::new), logPath, mode,
          specHash, ts(recordedAt));
    }

    static Entry of(Row r) {
      List<String> args = r.isNullAt(11) ? null : r.<String>getList(11);
      return new Entry(r.getString(0), r.getDate(1).toLocalDate(), r.getString(2), Optional.ofNullable(r.getString(3)),
          r.isNullAt(4) ? null : r.getInt(4), State.of(r.getString(5)), r.isNullAt(6) ? null : r.getInt(6),
          instant(r.getTimestamp(7)), instant(r.getTimestamp(8)), r.isNullAt(9) ? null : r.getDouble(9),
          r.getString(10), args, r.getString(12), r.getString(13), r.getString(14), instant(r.getTimestamp(15)));
    }

    private static Timestamp ts(Instant i) {
      return i == null ? null : Timestamp.from(i);
    }

    private static Instant instant(Timestamp t) {
      return t == null ? null : t.toInstant();
    }
  }

  private final SparkSession spark;
  private final String path;

  public PipelineRunsTable(SparkSession spark, DataRoot root) {
    this.spark = spark;
    this.path = root.table(TABLE);
  }

  /**
   * Appends state changes in one commit (nothing for an empty list). Checkpoints every 50 commits instead of Delta's
   * 10: the table is small and written often, and a checkpoint is a Spark job of its own.
   */
  public synchronized void record(List<Entry> entries) {
    if (entries.isEmpty()) {
      return;
    }
    Entry first = entries.get(0);
    DeltaTables.requireDeltaOrAbsent(spark, path, TABLE);
    DeltaTables.createIfAbsent(spark, path, SCHEMA, Optional.empty(), Map.of("delta.checkpointInterval", "50"),
        DeltaTables.commitMetadata("pipeline", Map.of("action", "create table")));
    spark.createDataFrame(entries.stream().map(Entry::row).toList(), SCHEMA).coalesce(1).write().format("delta")
        .mode("append")
        .option("userMetadata", DeltaTables.commitMetadata("pipeline", Map.of("pipeline", first.pipeline(),
            "logical_date", first.logicalDate().toString(), "run_id", first.runId(), "changes",
            entries.stream().map(e -> e.task().orElse("(run)") + ":" + e.state().id()).toList())))
        .save(path);
  }

  /** The latest entry of each task of (pipeline, date), by task id; empty when it never ran. */
  public Map<String, Entry> latestTaskStates(String pipeline, LocalDate date) {
    Map<String, Entry> latest = new LinkedHashMap<>();
    for (Entry e : latest(pipeline, Optional.of(date), true)) {
      latest.put(e.task().orElseThrow(), e);
    }
    return latest;
  }

  /** The latest entry of each run of {@code pipeline} (the run rows), newest logical date first. */
  public List<Entry> runs(String pipeline) {
    return latest(pipeline, Optional.empty(), false);
  }

  /** The latest run entry of (pipeline, date). */
  public Optional<Entry> run(String pipeline, LocalDate date) {
    return latest(pipeline, Optional.of(date), false).stream().findFirst();
  }

  /** Every entry of (pipeline, date), oldest first (for status and tests). */
  public List<Entry> history(String pipeline, LocalDate date) {
    if (!DeltaTables.exists(spark, path)) {
      return List.of();
    }
    List<Entry> out = new ArrayList<>();
    for (Row r : read(pipeline, Optional.of(date)).orderBy(col("recorded_at"), col("attempt")).collectAsList()) {
      out.add(Entry.of(r));
    }
    return out;
  }

  private List<Entry> latest(String pipeline, Optional<LocalDate> date, boolean tasks) {
    if (!DeltaTables.exists(spark, path)) {
      return List.of();
    }
    Dataset<Row> rows = read(pipeline, date).where(tasks ? col("task").isNotNull() : col("task").isNull());
    var byKey = Window.partitionBy(col("logical_date"), col("task"))
        .orderBy(col("recorded_at").desc(), col("attempt").desc_nulls_last());
    List<Entry> out = new ArrayList<>();
    for (Row r : rows.withColumn("_n", functions.row_number().over(byKey)).where(col("_n").equalTo(1)).drop("_n")
        .orderBy(col("logical_date").desc(), col("started_at")).collectAsList()) {
      out.add(Entry.of(r));
    }
    return out;
  }

  private Dataset<Row> read(String pipeline, Optional<LocalDate> date) {
    Dataset<Row> rows = spark.read().format("delta").load(path).where(col("pipeline").equalTo(pipeline));
    return date.map(d -> rows.where(col("logical_date").equalTo(functions.lit(Date.valueOf(d))))).orElse(rows);
  }
}
