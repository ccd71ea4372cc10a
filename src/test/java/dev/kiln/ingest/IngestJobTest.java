package dev.kiln.ingest;

import static org.apache.spark.sql.functions.col;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.generate.EventGenerator;
import dev.kiln.generate.GenerateConfig;
import dev.kiln.generate.GenerateResult;
import dev.kiln.testing.SharedSpark;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.column.Encoding;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IngestJobTest {
  static final String SALT = "test-salt-7f3a9c";
  static final Path SCHEMA = Path.of("conf/schemas/events.yaml");

  @TempDir
  Path tmp;

  private final SparkSession spark = SharedSpark.get();

  private IngestResult ingest(String source, SourceFormat format, DataRoot root) {
    return new IngestJob(new IngestConfig(root, source, format, "events", SCHEMA,
        Optional.of(SALT.getBytes(StandardCharsets.UTF_8)))).run(spark);
  }

  private Dataset<Row> table(DataRoot root, String layer) {
    return spark.read().format("delta").load(root.resolve("tables/" + layer + "/events"));
  }

  /** A first run takes the state of the log it creates as {@code State.EMPTY} instead of reading it back. */
  @Test
  void anEmptyLogReadsAsTheEmptyState() {
    String path = tmp.resolve("ingest_log").toString();
    DeltaTables.createIfAbsent(spark, path, IngestLog.SCHEMA, Optional.empty(), "test");
    assertEquals(IngestLog.State.EMPTY, new IngestLog(spark, path).state("events"));
  }

  @Test
  void dirtyDataIsAccountedForExactlyAsTheTruthSays() {
    GenerateResult truth = new EventGenerator(new GenerateConfig(12_000, tmp.resolve("src"), 5, 0.06, 3)).generate();
    DataRoot root = DataRoot.of(tmp.resolve("root").toString());

    IngestResult r = ingest(tmp.resolve("src").toString(), SourceFormat.CSV, root);

    assertEquals(1, r.batches().size());
    assertEquals(truth.linesWritten(), r.read());
    assertEquals(truth.expectedAccepted(), r.accepted());
    assertEquals(truth.expectedQuarantined(), r.quarantined());
    assertEquals(truth.expectedDuplicates(), r.duplicates());
    assertEquals(truth.reasons(), r.reasons());
    assertEquals(r.read(), r.accepted() + r.quarantined() + r.duplicates());
    assertEquals(r.accepted(), table(root, "bronze").count());
    assertEquals(r.quarantined(), table(root, "quarantine").count());
    assertEquals(r.accepted(), table(root, "bronze").select("event_id").distinct().count());

    // lineage columns and partitioning
    Row any = table(root, "bronze").where(col("event_id").equalTo("ev0000000100")).first();
    assertTrue(any.<String>getAs("_source_file").endsWith("events-00000.csv"));
    assertEquals(102L, (long) any.<Long>getAs("_source_line"), "header is line 1, event 100 is line 102 or later");
    assertEquals("events-000001", any.getAs("_ingest_batch"));
    Row detail = spark.sql("DESCRIBE DETAIL delta.`" + r.bronzePath() + "`").first();
    assertEquals(List.of("event_date"), detail.getList(detail.fieldIndex("partitionColumns")));
    assertEquals(0L, table(root, "bronze").where("to_date(timestamp) != event_date").count());

    // quarantined rows keep file, line and reasons
    Row bad = table(root, "quarantine").where("array_contains(reasons, 'not_allowed:label')").first();
    assertTrue(bad.<String>getAs("source_file").contains("events-0000"));
    assertTrue(bad.<Long>getAs("source_line") > 1);
    assertTrue(bad.<String>getAs("raw_record").endsWith(",2"), bad.<String>getAs("raw_record"));

    // the ingest log records the committed batch with its counts
    Row log = spark.read().format("delta").load(root.resolve("tables/meta/ingest_log"))
        .where("status = 'committed'").first();
    assertEquals(truth.linesWritten(), (long) log.<Long>getAs("read"));
    assertEquals(3, log.getList(log.fieldIndex("files")).size());
  }

  /**
   * The event key and time are written without Parquet dictionaries: table properties that Delta passes to the
   * writer. The files show it for the time, which this data repeats enough for Parquet to keep a dictionary without
   * the property (checked by removing it); a unique key's dictionary is dropped after its first page either way, so
   * for the key the property saves the hashing up to there and the files cannot tell.
   */
  @Test
  void theEventKeyAndTimeAreWrittenWithoutDictionaries() throws IOException {
    new EventGenerator(new GenerateConfig(3_000, tmp.resolve("src"), 1, 0.0, 0)).generate();
    DataRoot root = DataRoot.of(tmp.resolve("root").toString());
    IngestResult r = ingest(tmp.resolve("src").toString(), SourceFormat.CSV, root);

    Path file;
    try (Stream<Path> files = Files.walk(Path.of(java.net.URI.create(r.bronzePath())))) {
      file = files.filter(f -> f.toString().endsWith(".parquet") && !f.toString().contains("_delta_log"))
          .findFirst().orElseThrow();
    }
    Map<String, Boolean> dictionary = new HashMap<>();
    try (ParquetFileReader reader = ParquetFileReader.open(HadoopInputFile.fromPath(
        new org.apache.hadoop.fs.Path(file.toUri()), new Configuration()))) {
      reader.getFooter().getBlocks().get(0).getColumns().forEach(c -> dictionary.put(c.getPath().toDotString(),
          c.getEncodings().stream().anyMatch(Encoding::usesDictionary)));
    }
    Map<String, String> properties = DeltaTables.properties(spark, r.bronzePath());
    assertEquals("false", properties.get("parquet.enable.dictionary#event_id"));
    assertEquals("false", properties.get("parquet.enable.dictionary#timestamp"));
    assertFalse(dictionary.get("timestamp"), dictionary.toString());
    assertTrue(dictionary.get("item_id"), dictionary.toString());
    assertTrue(dictionary.get("device"), dictionary.toString());
  }

  @Test
  void reRunningOnTheSameFilesAddsNothing() {
    new EventGenerator(new GenerateConfig(3_000, tmp.resolve("src"), 1, 0.02, 2)).generate();
    DataRoot root = DataRoot.of(tmp.resolve("root").toString());
    IngestResult first = ingest(tmp.resolve("src").toString(), SourceFormat.CSV, root);
    long bronzeVersion = DeltaTables.latestVersion(spark, first.bronzePath()).orElseThrow();
    long quarantineVersion = DeltaTables.latestVersion(spark, first.quarantinePath()).orElseThrow();

    IngestResult second = ingest(tmp.resolve("src").toString(), SourceFormat.CSV, root);

    assertTrue(second.batches().isEmpty());
    assertEquals(2, second.filesAlreadyIngested());
    assertEquals(bronzeVersion, DeltaTables.latestVersion(spark, first.bronzePath()).orElseThrow());
    assertEquals(quarantineVersion, DeltaTables.latestVersion(spark, first.quarantinePath()).orElseThrow());
    assertEquals(first.accepted(), table(root, "bronze").count());
  }

  @Test
  void eventsAlreadyInTheTableAreCountedAsDuplicates() throws IOException {
    Path a = tmp.resolve("a.csv");
    Path b = tmp.resolve("b.csv");
    String header = EventGenerator.HEADER + "\n";
    Files.writeString(a, header + row("e1") + row("e2") + row("e3"));
    Files.writeString(b, header + row("e2") + row("e3") + row("e4") + row("e4"));
    DataRoot root = DataRoot.of(tmp.resolve("root").toString());

    IngestResult first = ingest(a.toString(), SourceFormat.CSV, root);
    IngestResult second = ingest(b.toString(), SourceFormat.CSV, root);

    assertEquals(3, first.accepted());
    assertEquals(4, second.read());
    assertEquals(1, second.accepted());
    assertEquals(3, second.duplicates(), "e2, e3 are in the table; the second e4 repeats the first");
    assertEquals(Set.of("e1", "e2", "e3", "e4"), ids(table(root, "bronze")));
    assertEquals("events-000002", second.batches().get(0).batchId());
  }

  /**
   * Among rows with the same key the first in file and line order is kept, and a batch that repeats a whole file
   * under another name is all duplicates: with the duplicates broadcast to the bronze write (the usual small set) and
   * with broadcasts turned off, as for a batch whose duplicates are too many to broadcast.
   */
  @Test
  void theFirstOccurrenceWinsWhetherDuplicatesAreBroadcastOrShuffled() throws IOException {
    String header = EventGenerator.HEADER + "\n";
    String a = header + priced("e1", "1.00") + priced("e2", "2.00") + priced("e1", "3.00");
    for (boolean broadcast : List.of(true, false)) {
      Path dir = tmp.resolve("src-" + broadcast);
      Files.createDirectories(dir);
      Files.writeString(dir.resolve("a.csv"), a);
      Files.writeString(dir.resolve("b.csv"), header + priced("e1", "4.00") + priced("e3", "5.00"));
      DataRoot root = DataRoot.of(tmp.resolve("root-" + broadcast).toString());
      String threshold = spark.conf().get("spark.sql.autoBroadcastJoinThreshold");
      if (!broadcast) {
        spark.conf().set("spark.sql.autoBroadcastJoinThreshold", "-1");
      }
      try {
        IngestResult first = ingest(dir.toString(), SourceFormat.CSV, root);
        assertEquals(3, first.accepted(), "broadcast " + broadcast);
        assertEquals(2, first.duplicates(), "broadcast " + broadcast);
        Map<String, Double> prices = new HashMap<>();
        table(root, "bronze").select("event_id", "price").collectAsList()
            .forEach(r -> prices.put(r.getString(0), r.getDouble(1)));
        assertEquals(Map.of("e1", 1.0, "e2", 2.0, "e3", 5.0), prices, "a.csv line 2 is e1's first occurrence");

        Files.writeString(tmp.resolve("again-" + broadcast + ".csv"), a);
        IngestResult again = ingest(tmp.resolve("again-" + broadcast + ".csv").toString(), SourceFormat.CSV, root);
        assertEquals(0, again.accepted());
        assertEquals(3, again.duplicates());
        assertEquals(3, table(root, "bronze").count());
      } finally {
        spark.conf().set("spark.sql.autoBroadcastJoinThreshold", threshold);
      }
    }
  }

  private static String priced(String id, String price) {
    return id + ",user-" + id + ",i1,books,mobile,DE," + price + ",2026-01-05T10:00:00Z,1\n";
  }

  private static String row(String id) {
    return id + ",user-" + id + ",i1,books,mobile,DE,9.99,2026-01-05T10:00:00Z,1\n";
  }

  private static Set<String> ids(Dataset<Row> df) {
    Set<String> ids = new HashSet<>();
    df.select("event_id").collectAsList().forEach(r -> ids.add(r.getString(0)));
    return ids;
  }

  @Test
  void csvFromElsewhereIsReadByHeaderWithQuotesAndNewlines() throws IOException {
    Path f = tmp.resolve("foreign.csv");
    Files.writeString(f, String.join("\n",
        "label,timestamp,event_id,user_id,notes,item_id,category,device,price",
        "1,2026-02-01T00:00:00Z,x1,alice,\"says \"\"hi\"\", twice\",i9,\"books, rare\",desktop,12.5",
        "0,2026-02-01T00:01:00Z,x2,bob,\"line one",
        "line two\",i9,books,tablet,3",
        "7,2026-02-01T00:02:00Z,x3,carol,,i9,books,tablet,3",
        "0,2026-02-01T00:03:00Z,x4,dave,,i9,books",
        ""));
    DataRoot root = DataRoot.of(tmp.resolve("root").toString());

    IngestResult r = ingest(f.toString(), SourceFormat.CSV, root);

    assertEquals(4, r.read());
    assertEquals(2, r.accepted());
    Row x1 = table(root, "bronze").where("event_id = 'x1'").first();
    assertEquals("books, rare", x1.getAs("category"));
    assertEquals(12.5, (double) x1.<Double>getAs("price"));
    assertTrue(x1.isNullAt(x1.fieldIndex("country")), "a nullable column absent from the file is null");
    assertFalse(List.of(table(root, "bronze").columns()).contains("notes"), "extra columns are ignored");
    List<Row> bad = table(root, "quarantine").orderBy("source_line").collectAsList();
    assertEquals(5L, (long) bad.get(0).<Long>getAs("source_line"), "line numbers count the quoted newline");
    assertEquals(List.of("not_allowed:label"), bad.get(0).getList(bad.get(0).fieldIndex("reasons")));
    assertEquals(6L, (long) bad.get(1).<Long>getAs("source_line"));
    assertEquals(List.of("malformed_record"), bad.get(1).getList(bad.get(1).fieldIndex("reasons")));
  }

  @Test
  void jsonLinesAndParquetGoThroughTheSameRules() throws IOException {
    Path json = tmp.resolve("json/events.jsonl");
    Files.createDirectories(json.getParent());
    Files.writeString(json, String.join("\n",
        "{\"event_id\":\"j1\",\"user_id\":\"ann\",\"item_id\":\"i1\",\"category\":\"toys\",\"device\":\"mobile\","
            + "\"price\":5.0,\"timestamp\":\"2026-03-01T10:00:00Z\",\"label\":0}",
        "",
        "{\"event_id\":\"j2\",\"user_id\":\"ben\",\"item_id\":\"i1\",\"category\":\"toys\",\"device\":\"mobile\","
            + "\"price\":-5.0,\"timestamp\":\"2026-03-01T10:00:00Z\",\"label\":0}",
        "not json at all",
        ""));
    DataRoot root = DataRoot.of(tmp.resolve("root").toString());
    IngestResult r = ingest(json.toString(), SourceFormat.JSON, root);
    assertEquals(3, r.read());
    assertEquals(1, r.accepted());
    assertEquals(java.util.Map.of("out_of_range:price", 1L, "malformed_record", 1L), r.reasons());
    assertEquals(List.of(3L, 4L), table(root, "quarantine").orderBy("source_line").select("source_line")
        .collectAsList().stream().map(x -> x.getLong(0)).toList());

    Path parquet = tmp.resolve("parquet");
    spark.sql("SELECT 'p1' AS event_id, 'cat' AS user_id, 'i2' AS item_id, 'toys' AS category, 'desktop' AS device,"
        + " 'FR' AS country, 1.5D AS price, TIMESTAMP'2026-03-02 08:00:00' AS timestamp, 1 AS label UNION ALL "
        + "SELECT 'p2', 'dan', 'i2', 'toys', 'desktop', 'FR', double('NaN'), TIMESTAMP'2026-03-02 08:00:00', 1 "
        + "UNION ALL SELECT 'p1', 'cat', 'i2', 'toys', 'desktop', 'FR', 1.5D, TIMESTAMP'2026-03-02 08:00:00', 1")
        .coalesce(1).write().parquet(parquet.toString());
    IngestResult p = ingest(parquet.toString(), SourceFormat.PARQUET, root);
    assertEquals(3, p.read());
    assertEquals(1, p.accepted());
    assertEquals(1, p.duplicates());
    assertEquals(java.util.Map.of("not_finite:price", 1L), p.reasons());
    Row nan = table(root, "quarantine").where("array_contains(reasons, 'not_finite:price')").first();
    assertEquals(2L, (long) nan.<Long>getAs("source_line"), "a Parquet row's address is its position in the file");
    Row p1 = table(root, "bronze").where("event_id = 'p1'").first();
    assertEquals(java.sql.Timestamp.from(java.time.Instant.parse("2026-03-02T08:00:00Z")), p1.getAs("timestamp"));
  }

  /** No clear user id, and not the salt, anywhere under the data root: not in bronze, quarantine, logs or files. */
  @Test
  void piiIsNeverStoredInClear() throws IOException {
    GenerateResult truth = new EventGenerator(new GenerateConfig(4_000, tmp.resolve("src"), 9, 0.1, 1)).generate();
    DataRoot root = DataRoot.of(tmp.resolve("root").toString());
    ingest(tmp.resolve("src").toString(), SourceFormat.CSV, root);

    Set<String> userIds = new HashSet<>();
    Pattern userId = Pattern.compile("u\\d{8}");
    for (String line : Files.readAllLines(tmp.resolve("src").resolve(truth.files().get(0)))) {
      Matcher m = userId.matcher(line);
      while (m.find()) {
        userIds.add(m.group());
      }
    }
    assertTrue(userIds.size() > 100);

    Dataset<Row> bronze = table(root, "bronze");
    assertEquals(0, bronze.where("user_id NOT RLIKE '^[0-9a-f]{64}$'").count());
    assertTrue(bronze.select("user_id").distinct().count() > 100, "hashes keep users apart");
    for (Row q : table(root, "quarantine").select("raw_record").collectAsList()) {
      Matcher m = userId.matcher(q.getString(0));
      assertFalse(m.find(), "clear user id in quarantine: " + q.getString(0));
    }
    // raw bytes of every file written (Parquet pages are not compressed away for this check: scan decompressed
    // text through Spark above, and the bytes here for the salt and any id that might leak uncompressed)
    try (Stream<Path> files = Files.walk(tmp.resolve("root"))) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        String content = new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1);
        assertFalse(content.contains(SALT), "salt found in " + f);
        Matcher m = userId.matcher(content);
        assertFalse(m.find() && userIds.contains(m.group()), "clear user id in " + f);
      }
    }
  }
}
