package dev.kiln.ingest;

import dev.kiln.common.BuildInfo;
import dev.kiln.common.DeltaTables;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * {@code meta.ingest_log}: the journal that makes ingestion exactly-once per source file.
 *
 * <p>A batch is written as {@code started} (its file list, before any data) and then {@code committed} (its counts
 * and the table versions it produced, after the data). A batch that is started but not committed was interrupted:
 * the next run resumes it with the same batch number and files, and Delta's idempotent writes ({@code txnAppId},
 * {@code txnVersion}) skip whatever part of it already committed. Files of committed batches are never read again.
 */
final class IngestLog {
  static final String STARTED = "started";
  static final String COMMITTED = "committed";

  // Nested fields are nullable: Delta supports no NOT NULL constraints inside arrays or maps.
  private static final StructType FILE = new StructType()
      .add("path", DataTypes.StringType, true)
      .add("size", DataTypes.LongType, true)
      .add("modified_at", DataTypes.TimestampType, true);

  static final StructType SCHEMA = new StructType()
      .add("table", DataTypes.StringType, false)
      .add("batch_id", DataTypes.StringType, false)
      .add("batch_seq", DataTypes.LongType, false)
      .add("status", DataTypes.StringType, false)
      .add("logged_at", DataTypes.TimestampType, false)
      .add("format", DataTypes.StringType, false)
      .add("schema_name", DataTypes.StringType, false)
      .add("files", DataTypes.createArrayType(FILE, true), false)
      .add("read", DataTypes.LongType, true)
      .add("accepted", DataTypes.LongType, true)
      .add("quarantined", DataTypes.LongType, true)
      .add("duplicates", DataTypes.LongType, true)
      .add("reasons", DataTypes.createMapType(DataTypes.StringType, DataTypes.LongType, true), true)
      .add("bronze_version", DataTypes.LongType, true)
      .add("quarantine_version", DataTypes.LongType, true)
      .add("git_commit", DataTypes.StringType, true)
      .add("library_versions", DataTypes.createMapType(DataTypes.StringType, DataTypes.StringType, true), true);

  /** A planned batch: its number (the Delta {@code txnVersion}), id and files. */
  record Batch(long seq, String id, List<SourceFile> files) {}

  /** What the log says about one table: files already ingested, an interrupted batch, the next batch number. */
  record State(Set<String> committedFiles, Optional<Batch> interrupted, long nextSeq) {
    /** A log with no entries: nothing ingested, nothing interrupted, batch 1 next (what {@link #state} reads). */
    static final State EMPTY = new State(Set.of(), Optional.empty(), 1);
  }

  private final SparkSession spark;
  private final String path;

  IngestLog(SparkSession spark, String path) {
    this.spark = spark;
    this.path = path;
  }

  static String batchId(String table, long seq) {
    return String.format("%s-%06d", table, seq);
  }

  /** Reads the log (which the ingest job creates, empty, before planning). */
  State state(String table) {
    // The log holds one or two small rows per batch: reading it on the driver is cheap.
    List<Row> rows = spark.read().format("delta").load(path)
        .where(org.apache.spark.sql.functions.col("table").equalTo(table))
        .select("batch_seq", "status", "files").collectAsList();
    Set<String> committedFiles = new HashSet<>();
    Set<Long> committedSeqs = new HashSet<>();
    Map<Long, List<SourceFile>> started = new HashMap<>();
    long maxSeq = 0;
    for (Row r : rows) {
      long seq = r.getLong(0);
      maxSeq = Math.max(maxSeq, seq);
      List<SourceFile> files = new ArrayList<>();
      for (Row f : r.<Row>getList(2)) {
        files.add(new SourceFile(f.getString(0), f.getLong(1), f.getTimestamp(2).getTime()));
      }
      if (COMMITTED.equals(r.getString(1))) {
        committedSeqs.add(seq);
        files.forEach(f -> committedFiles.add(f.identity()));
      } else {
        started.put(seq, files);
      }
    }
    Optional<Batch> interrupted = started.entrySet().stream()
        .filter(e -> !committedSeqs.contains(e.getKey()))
        .min(Map.Entry.comparingByKey())
        .map(e -> new Batch(e.getKey(), batchId(table, e.getKey()), e.getValue()));
    return new State(committedFiles, interrupted, maxSeq + 1);
  }

  /**
   * Claims batch number {@code batch.seq()} for {@code batch.files()}. Log entries are written as Delta idempotent
   * writes ({@code txnAppId} per source table, {@code txnVersion} 2·seq for started, 2·seq+1 for committed): two runs
   * can't both record a start for one batch number. A run that lost the race — its write conflicted, or was skipped
   * because another run had already claimed the number for other files — fails here, before writing any data.
   */
  void started(String table, Batch batch, SourceFormat format, String schemaName) {
    append(table, 2 * batch.seq(), RowFactory.create(table, batch.id(), batch.seq(), STARTED,
        Timestamp.from(Instant.now()), format.cliName(), schemaName, files(batch), null, null, null, null, null,
        null, null, BuildInfo.gitCommit(), BuildInfo.libraryVersions()));
    Set<String> mine = new HashSet<>();
    batch.files().forEach(f -> mine.add(f.identity()));
    List<Row> claimed = spark.read().format("delta").load(path)
        .where(org.apache.spark.sql.functions.col("table").equalTo(table)
            .and(org.apache.spark.sql.functions.col("batch_seq").equalTo(batch.seq()))
            .and(org.apache.spark.sql.functions.col("status").equalTo(STARTED)))
        .select("files").collectAsList();
    for (Row r : claimed) {
      Set<String> theirs = new HashSet<>();
      for (Row f : r.<Row>getList(0)) {
        theirs.add(new SourceFile(f.getString(0), f.getLong(1), f.getTimestamp(2).getTime()).identity());
      }
      if (!theirs.equals(mine)) {
        throw new ConcurrentIngestException(table, batch.id());
      }
    }
  }

  /** Another ingest into the same table claimed the same batch number first. */
  static final class ConcurrentIngestException extends dev.kiln.common.KilnUserException {
    ConcurrentIngestException(String table, String batchId) {
      super("another ingest into bronze." + table + " is running and claimed batch " + batchId
          + " first; nothing was written by this run: re-run it when the other has finished");
    }
  }

  void committed(String table, Batch batch, SourceFormat format, String schemaName, BatchResult result) {
    append(table, 2 * batch.seq() + 1, RowFactory.create(table, batch.id(), batch.seq(), COMMITTED, Timestamp.from(Instant.now()),
        format.cliName(), schemaName, files(batch), result.read(), result.accepted(), result.quarantined(),
        result.duplicates(), result.reasons(),
        result.bronzeVersion(), result.quarantineVersion(), BuildInfo.gitCommit(),
        BuildInfo.libraryVersions()));
  }

  private static Row[] files(Batch batch) {
    return batch.files().stream()
        .map(f -> RowFactory.create(f.path(), f.size(), new Timestamp(f.modifiedAtMillis())))
        .toArray(Row[]::new);
  }

  private void append(String table, long txnVersion, Row row) {
    try {
      spark.createDataFrame(List.of(row), SCHEMA).coalesce(1).write().format("delta").mode("append")
          .option("txnAppId", "kiln-ingest-log:" + table).option("txnVersion", txnVersion)
          .option("userMetadata", DeltaTables.commitMetadata("ingest", Map.of("log_entry", row.getString(3),
              "batch", row.getString(1))))
          .save(path);
    } catch (io.delta.exceptions.DeltaConcurrentModificationException e) {
      throw new ConcurrentIngestException(table, row.getString(1));
    }
  }
}
