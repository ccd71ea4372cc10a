package dev.kiln.ingest;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.posexplode_outer;
import static org.apache.spark.sql.functions.row_number;
import static org.apache.spark.sql.functions.size;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.to_date;
import static org.apache.spark.sql.functions.when;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.SerializableHadoopConf;
import dev.kiln.common.StageTimes;
import dev.kiln.common.TableRef;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.TaskCompletionListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ingests source files into a Delta bronze table, exactly once per file.
 *
 * <p>Per batch: every record is parsed and validated against the schema spec; invalid records go to
 * {@code quarantine.<table>} with their raw text, file, line and reason codes; valid records whose event key was
 * already seen (earlier in the batch, or in the table) are counted as duplicates and dropped; the rest are appended
 * to {@code bronze.<table>}, partitioned by event date, with lineage columns. Both writes carry the batch number as
 * Delta's {@code txnVersion}, and {@link IngestLog} journals the batch, so a run killed at any point and re-run ends
 * with the same tables as one clean run.
 */
public final class IngestJob {
  private static final Logger LOG = LoggerFactory.getLogger(IngestJob.class);
  private static final String VALID = "_valid";
  private static final String DUPLICATE_FILE = "_duplicate_file";
  private static final String DUPLICATE_LINE = "_duplicate_line";
  private static final String IN_TABLE = "_in_table";

  private final IngestConfig config;
  private final SchemaSpec schema;

  /** Checks the config (schema spec, PII salt) before any Spark work starts. */
  public IngestJob(IngestConfig config) {
    this.config = config;
    bronzeRef(config.table());
    this.schema = SchemaSpec.load(config.schemaFile());
    if (schema.hasPii() && config.piiSalt().isEmpty()) {
      throw new KilnUserException("schema " + schema.name() + " declares PII columns but no salt is set"
          + " (set KILN_PII_SALT or KILN_PII_SALT_FILE, or pass --pii-salt-file)");
    }
  }

  public IngestResult run(SparkSession spark) {
    StageTimes stages = new StageTimes();
    TableRef bronzeRef = bronzeRef(config.table());
    TableRef quarantineRef = new TableRef("quarantine", bronzeRef.name());
    TableRef logRef = TableRef.meta("ingest_log");
    DataRoot root = config.dataRoot();
    String bronze = root.table(bronzeRef);
    String quarantine = root.table(quarantineRef);
    String logPath = root.table(logRef);

    // Everything is checked before the first write.
    DeltaTables.requireDeltaOrAbsent(spark, bronze, bronzeRef);
    DeltaTables.requireDeltaOrAbsent(spark, quarantine, quarantineRef);
    DeltaTables.requireDeltaOrAbsent(spark, logPath, logRef);
    if (DeltaTables.exists(spark, bronze)) {
      requireCompatible(spark.read().format("delta").load(bronze).schema(), schema, bronzeRef, bronze);
    }
    List<SourceFile> files = SourceFiles.resolve(config.source(), spark.sparkContext().hadoopConfiguration());
    SourceCheck.check(spark, files, config.format(), schema);
    stages.lap("check source");

    // Empty tables first: a run killed during its first data write then leaves a Delta table (with unreferenced
    // files that VACUUM removes), never a directory of loose Parquet files.
    // a log this run creates is empty, so its state is known without reading it back: that read was the JVM's first
    // Spark query (cold 100k-row first ingest, four interleaved pairs: 30.1 s -> 27.2 s mean without it). A first run
    // started at the same moment may journal batch 1 meanwhile: IngestLog.started then stops this run before any data
    // is written when its files differ, and with the same files both write that batch, as two runs resuming it do.
    boolean newLog = !DeltaTables.exists(spark, logPath);
    String created = DeltaTables.commitMetadata("ingest", Map.of("action", "create table"));
    // The change data feed lets `kiln features` read just the rows appended since its last run. Appends write no
    // extra files for it (Delta reads the added files themselves as inserts). The event key and time are (nearly)
    // unique per row: Parquet dictionaries for them cost a quarter of the write and save nothing.
    Map<String, String> bronzeProperties = new HashMap<>(
        DeltaTables.withoutDictionary(List.of(schema.eventKey(), schema.eventTime())));
    bronzeProperties.put(DeltaTables.CHANGE_DATA_FEED, "true");
    DeltaTables.createIfAbsent(spark, bronze, bronzeSchema(), Optional.of(SchemaSpec.EVENT_DATE), bronzeProperties,
        created);
    DeltaTables.createIfAbsent(spark, quarantine, QUARANTINE_SCHEMA, Optional.empty(), created);
    DeltaTables.createIfAbsent(spark, logPath, IngestLog.SCHEMA, Optional.empty(), created);

    IngestLog log = new IngestLog(spark, logPath);
    IngestLog.State state = newLog ? IngestLog.State.EMPTY : log.state(bronzeRef.name());
    Set<String> interruptedFiles = state.interrupted().map(b -> b.files().stream().map(SourceFile::identity)
        .collect(Collectors.toSet())).orElse(Set.of());
    List<SourceFile> fresh = files.stream()
        .filter(f -> !state.committedFiles().contains(f.identity()) && !interruptedFiles.contains(f.identity()))
        .toList();
    int alreadyIngested = (int) files.stream().filter(f -> state.committedFiles().contains(f.identity())).count();

    stages.lap("prepare tables");
    BatchWriter writer = new BatchWriter(spark, schema, config, bronze, quarantine, bronzeRef.name(), log, stages);
    List<BatchResult> results = new ArrayList<>();
    if (state.interrupted().isPresent()) {
      IngestLog.Batch batch = state.interrupted().get();
      LOG.info("resuming interrupted batch {} ({} file(s))", batch.id(), batch.files().size());
      results.add(writeGuarded(writer, batch, true));
    }
    if (!fresh.isEmpty()) {
      long seq = state.nextSeq();
      IngestLog.Batch batch = new IngestLog.Batch(seq, IngestLog.batchId(bronzeRef.name(), seq), fresh);
      log.started(bronzeRef.name(), batch, config.format(), schema.name());
      stages.lap("journal batch");
      results.add(writeGuarded(writer, batch, false));
    } else if (results.isEmpty()) {
      LOG.info("nothing new to ingest: all {} file(s) were ingested before", files.size());
    }
    return new IngestResult(bronzeRef.toString(), bronze, quarantine, files.size(), alreadyIngested, results,
        stages.seconds(), stages.peakHeapMib());
  }

  /** Two runs resuming one batch at once write the same data; Delta lets one commit and the other learns here. */
  private static BatchResult writeGuarded(BatchWriter writer, IngestLog.Batch batch, boolean resumed) {
    try {
      return writer.write(batch, resumed);
    } catch (io.delta.exceptions.DeltaConcurrentModificationException e) {
      throw new IngestLog.ConcurrentIngestException(writer.table, batch.id());
    }
  }

  static final StructType QUARANTINE_SCHEMA = new StructType()
      .add("raw_record", DataTypes.StringType, true)
      .add("source_file", DataTypes.StringType, true)
      .add("source_line", DataTypes.LongType, true)
      .add("reasons", SchemaSpec.REASONS_TYPE, true)
      .add("ingest_batch", DataTypes.StringType, true)
      .add("ingested_at", DataTypes.TimestampType, true);

  private StructType bronzeSchema() {
    return schema.sparkSchema()
        .add(SchemaSpec.EVENT_DATE, DataTypes.DateType, true)
        .add(SchemaSpec.SOURCE_FILE, DataTypes.StringType, true)
        .add(SchemaSpec.SOURCE_LINE, DataTypes.LongType, true)
        .add(SchemaSpec.INGEST_BATCH, DataTypes.StringType, true)
        .add(SchemaSpec.INGESTED_AT, DataTypes.TimestampType, true);
  }

  static TableRef bronzeRef(String table) {
    TableRef ref = TableRef.parse(table, "bronze");
    if (!ref.layer().equals("bronze")) {
      throw new KilnUserException("ingest writes bronze tables, not " + ref.layer() + " (--table " + table + ")");
    }
    return ref;
  }

  /** The bronze table must still have the schema's columns with the schema's types. */
  private static void requireCompatible(StructType table, SchemaSpec schema, TableRef ref, String path) {
    Map<String, StructField> byName = new HashMap<>();
    for (StructField f : table.fields()) {
      byName.put(f.name(), f);
    }
    for (ColumnSpec c : schema.columns()) {
      StructField f = byName.get(c.name());
      if (f == null) {
        throw new KilnUserException("table " + ref + " has no column '" + c.name() + "' that schema "
            + schema.name() + " declares (" + path + ")");
      }
      if (!f.dataType().equals(c.type().sparkType())) {
        throw new KilnUserException("table " + ref + " column '" + c.name() + "' is " + f.dataType().simpleString()
            + " but schema " + schema.name() + " says " + c.type().yamlName() + " (" + path + ")");
      }
    }
  }

  /** Reads, classifies and writes one batch. */
  private static final class BatchWriter {
    private final SparkSession spark;
    private final SchemaSpec schema;
    private final IngestConfig config;
    private final String bronze;
    private final String quarantine;
    private final String table;
    private final IngestLog log;
    private final RecordValidator validator;
    private final StageTimes stages;

    BatchWriter(SparkSession spark, SchemaSpec schema, IngestConfig config, String bronze, String quarantine,
                String table, IngestLog log, StageTimes stages) {
      this.spark = spark;
      this.schema = schema;
      this.config = config;
      this.bronze = bronze;
      this.quarantine = quarantine;
      this.table = table;
      this.log = log;
      this.stages = stages;
      this.validator = new RecordValidator(schema, config.piiSalt().map(PiiHasher::new).orElse(null));
    }

    BatchResult write(IngestLog.Batch batch, boolean resumed) {
      long started = System.nanoTime();
      Timestamp ingestedAt = Timestamp.from(Instant.now());
      LOG.info("batch {}: reading {} file(s) ({} MB)", batch.id(), batch.files().size(),
          batch.files().stream().mapToLong(SourceFile::size).sum() / (1 << 20));
      // Parsed and validated once, then staged in a shuffle partitioned by event date (bronze's layout: each date in
      // one task, so one file per date and batch): every later step reads that shuffle's files, which Spark keeps
      // while the RDD is referenced, and no step parses again. Caching the rows instead cost more than parsing them:
      // at 1M rows Spark's compressed columnar cache was a quarter of the batch's CPU, after a window that had
      // shuffled and sorted every column to rank the keys (now only the keys are ranked, see duplicateLines).
      Dataset<Row> parsed = read(batch.files());
      RDD<InternalRow> staged = parsed.repartition(to_date(col(schema.eventTime()))).queryExecution().toRdd();
      Dataset<Row> rows = spark.internalCreateDataFrame(staged, parsed.schema(), false)
          .withColumn(VALID, size(col(RecordValidator.REASONS)).equalTo(0));
      Dataset<Row> duplicates = null;
      try {
        // valid rows, quarantined rows and the count of each reason in one pass: a valid row explodes to one null
        // reason, a quarantined row to its reasons, of which only the first (position 0) counts the row
        long valid = 0;
        long quarantined = 0;
        Map<String, Long> reasons = new HashMap<>();
        for (Row r : rows.select(posexplode_outer(col(RecordValidator.REASONS)))
            .groupBy(col("col")).agg(count(lit(1)), sum(when(col("pos").equalTo(0), 1L).otherwise(0L)))
            .collectAsList()) {
          if (r.isNullAt(0)) {
            valid = r.getLong(1);
          } else {
            reasons.put(r.getString(0), r.getLong(1));
            quarantined += r.getLong(2);
          }
        }
        duplicates = duplicateLines(rows, batch.id()).persist(StorageLevel.MEMORY_AND_DISK());
        long duplicateCount = duplicates.count();
        long accepted = valid - duplicateCount;
        stages.lap("read, validate and dedupe");
        LOG.info("batch {}: read {} rows: {} accepted, {} quarantined, {} duplicates", batch.id(),
            valid + quarantined, accepted, quarantined, duplicateCount);

        String txnApp = "kiln-ingest:" + table;
        String meta = DeltaTables.commitMetadata("ingest", Map.of("batch", batch.id(), "files",
            batch.files().size(), "source", config.source()));
        rows.where(col(VALID).unary_$bang())
            .select(col(RecordValidator.RAW_RECORD).as("raw_record"), col(SchemaSpec.SOURCE_FILE).as("source_file"),
                col(SchemaSpec.SOURCE_LINE).as("source_line"), col(RecordValidator.REASONS).as("reasons"),
                lit(batch.id()).as("ingest_batch"), lit(ingestedAt).as("ingested_at"))
            .repartition(1) // not coalesce(1): that would filter every row in one task
            .write().format("delta").mode("append")
            .option("txnAppId", txnApp).option("txnVersion", batch.seq()).option("userMetadata", meta)
            .save(quarantine);
        stages.lap("write quarantine");
        LOG.info("batch {}: quarantine written", batch.id());

        List<Column> bronzeColumns = new ArrayList<>();
        schema.columnNames().forEach(c -> bronzeColumns.add(col(c)));
        bronzeColumns.add(to_date(col(schema.eventTime())).as(SchemaSpec.EVENT_DATE));
        bronzeColumns.add(col(SchemaSpec.SOURCE_FILE));
        bronzeColumns.add(col(SchemaSpec.SOURCE_LINE));
        bronzeColumns.add(lit(batch.id()).as(SchemaSpec.INGEST_BATCH));
        bronzeColumns.add(lit(ingestedAt).as(SchemaSpec.INGESTED_AT));
        // The staged rows are partitioned by date already. The duplicates are few (or none) in the usual batch, so
        // Spark broadcasts them and the anti-join keeps that partitioning; a batch of mostly duplicates (the same
        // rows under another file name) is joined by a shuffle instead, and may write a few files per date.
        rows.where(col(VALID))
            .join(duplicates, rows.col(SchemaSpec.SOURCE_FILE).equalTo(duplicates.col(DUPLICATE_FILE))
                .and(rows.col(SchemaSpec.SOURCE_LINE).equalTo(duplicates.col(DUPLICATE_LINE))), "left_anti")
            .select(bronzeColumns.toArray(Column[]::new))
            .write().format("delta").mode("append").partitionBy(SchemaSpec.EVENT_DATE)
            .option("txnAppId", txnApp).option("txnVersion", batch.seq()).option("userMetadata", meta)
            .save(bronze);
        stages.lap("write bronze");
        LOG.info("batch {}: bronze written", batch.id());

        BatchResult result = new BatchResult(batch.id(), batch.seq(), batch.files().size(),
            valid + quarantined, accepted, quarantined, duplicateCount, reasons,
            DeltaTables.latestVersion(spark, bronze).orElseThrow(),
            DeltaTables.latestVersion(spark, quarantine).orElseThrow(), resumed);
        log.committed(table, batch, config.format(), schema.name(), result);
        stages.lap("commit batch");
        LOG.info("batch {}: committed in {} s", batch.id(), (System.nanoTime() - started) / 1_000_000_000L);
        return result;
      } finally {
        if (duplicates != null) {
          duplicates.unpersist();
        }
      }
    }

    /**
     * The file and line of every valid row that is a duplicate: its event key was seen before, in the table or earlier
     * in the batch (among valid rows the first occurrence of a key wins, in file and line order, so re-runs keep the
     * same rows). One window ranks the batch's keys together with the table's, the table's first: every batch row
     * ranked after another row is a duplicate. Only keys and the rows' addresses are shuffled and sorted, not the rows.
     */
    private Dataset<Row> duplicateLines(Dataset<Row> rows, String batchId) {
      String key = schema.eventKey();
      Dataset<Row> batchKeys = rows.where(col(VALID))
          .select(col(key), col(SchemaSpec.SOURCE_FILE).as(DUPLICATE_FILE),
              col(SchemaSpec.SOURCE_LINE).as(DUPLICATE_LINE), lit(false).as(IN_TABLE));
      // Keys already in bronze (which run() created before any batch), except this batch's own rows: those are
      // present when an interrupted batch is resumed.
      Dataset<Row> tableKeys = spark.read().format("delta").load(bronze)
          .where(col(SchemaSpec.INGEST_BATCH).notEqual(batchId))
          .select(col(key), lit(null).cast(DataTypes.StringType).as(DUPLICATE_FILE),
              lit(null).cast(DataTypes.LongType).as(DUPLICATE_LINE), lit(true).as(IN_TABLE));
      return batchKeys.unionByName(tableKeys)
          .withColumn("_rank", row_number().over(Window.partitionBy(col(key))
              .orderBy(col(IN_TABLE).desc(), col(DUPLICATE_FILE), col(DUPLICATE_LINE))))
          .where(col("_rank").gt(1).and(col(IN_TABLE).unary_$bang()))
          .select(DUPLICATE_FILE, DUPLICATE_LINE);
    }

    private Dataset<Row> read(List<SourceFile> files) {
      StructType rowSchema = RecordValidator.rowSchema(schema);
      List<String> paths = files.stream().map(SourceFile::path).toList();
      if (config.format() == SourceFormat.PARQUET) {
        return readParquet(paths, rowSchema);
      }
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      // Broadcast, not captured: every task deserializes its closure again, and a Hadoop configuration is ~1000
      // entries; a broadcast is deserialized once per executor. Left to the ContextCleaner, like Spark's own.
      Broadcast<SerializableHadoopConf> conf =
          jsc.broadcast(new SerializableHadoopConf(spark.sparkContext().hadoopConfiguration()));
      RecordValidator v = validator;
      SourceFormat format = config.format();
      JavaRDD<Row> rows = jsc.parallelize(paths, paths.size())
          .mapPartitions(it -> concat(it, path -> FileRecords.open(format, path, v, conf.value().get())));
      return spark.createDataFrame(rows, rowSchema);
    }

    /** Parquet is read by Spark; each column is validated from its text form by the same rules as CSV and JSON. */
    private Dataset<Row> readParquet(List<String> paths, StructType rowSchema) {
      Dataset<Row> df = spark.read().parquet(paths.toArray(String[]::new));
      Set<String> present = Set.of(df.columns());
      List<Column> select = new ArrayList<>();
      for (String c : schema.columnNames()) {
        select.add(present.contains(c) ? col(c).cast("string").as(c) : lit(null).cast("string").as(c));
      }
      select.add(col("_metadata.file_path").as(SchemaSpec.SOURCE_FILE));
      // Parquet has no lines: the row's position in its file (1-based) stands in, so every row has an address
      select.add(col("_metadata.row_index").plus(1).as(SchemaSpec.SOURCE_LINE));
      RecordValidator v = validator;
      int n = schema.columns().size();
      JavaRDD<Row> rows = df.select(select.toArray(Column[]::new)).javaRDD().map(r -> {
        String[] values = new String[n];
        for (int i = 0; i < n; i++) {
          values[i] = r.isNullAt(i) ? null : r.getString(i);
        }
        return v.validate(values, r.getString(n), r.getLong(n + 1), () -> jsonRecord(v, values));
      });
      return spark.createDataFrame(rows, rowSchema);
    }

    private static String jsonRecord(RecordValidator v, String[] values) {
      ObjectNode node = FileRecords.MAPPER.createObjectNode();
      for (int i = 0; i < values.length; i++) {
        String value = values[i] != null && v.isPii(i) ? v.hash(values[i]) : values[i];
        node.put(v.column(i).name(), value);
      }
      return node.toString();
    }
  }

  /**
   * The rows of each file in turn. The open file is also closed when the task ends: a file closes itself only at its
   * end, so a task that fails or is cancelled midway would otherwise leak its stream (and, for .gz, a native inflater).
   */
  private static Iterator<Row> concat(Iterator<String> paths,
                                      java.util.function.Function<String, FileRecords> open) {
    FileRows rows = new FileRows(paths, open);
    TaskContext task = TaskContext.get();
    if (task != null) {
      task.addTaskCompletionListener((TaskCompletionListener) t -> rows.close());
    }
    return rows;
  }

  private static final class FileRows implements Iterator<Row> {
    private final Iterator<String> paths;
    private final java.util.function.Function<String, FileRecords> open;
    private FileRecords current;

    FileRows(Iterator<String> paths, java.util.function.Function<String, FileRecords> open) {
      this.paths = paths;
      this.open = open;
    }

    @Override
    public boolean hasNext() {
      while ((current == null || !current.hasNext()) && paths.hasNext()) {
        current = open.apply(paths.next());
      }
      return current != null && current.hasNext();
    }

    @Override
    public Row next() {
      if (!hasNext()) {
        throw new java.util.NoSuchElementException();
      }
      return current.next();
    }

    void close() {
      if (current != null) {
        current.closeQuietly();
      }
    }
  }
}
