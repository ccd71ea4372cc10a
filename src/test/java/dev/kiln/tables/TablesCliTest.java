package dev.kiln.tables;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kiln.common.Json;
import dev.kiln.generate.EventGenerator;
import dev.kiln.generate.GenerateConfig;
import dev.kiln.generate.GenerateResult;
import dev.kiln.testing.Cli;
import dev.kiln.testing.SharedSpark;
import dev.kiln.testing.TreeSnapshot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** kiln tables / sql / export against tables written by a real ingest. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TablesCliTest {
  @TempDir
  static Path tmp;
  Path root;
  Path schema;
  GenerateResult first;
  long secondAccepted;
  long versionAfterFirst;
  private final SparkSession spark = SharedSpark.get();

  @BeforeAll
  void ingestTwoBatches() throws IOException {
    root = tmp.resolve("root");
    // without PII, so an exported CSV re-ingests to the very same rows
    schema = tmp.resolve("events-clear.yaml");
    Files.writeString(schema, Files.readString(Path.of("conf/schemas/events.yaml")).replace("pii: true", ""));
    first = new EventGenerator(new GenerateConfig(2_000, tmp.resolve("a"), 1, 0.02, 1)).generate();
    ok(ingest(tmp.resolve("a"), root, "events"));
    versionAfterFirst = version("bronze.events");
    Files.createDirectories(tmp.resolve("b"));
    // a second batch with other event ids: same generator, ids renamed
    List<String> lines = Files.readAllLines(tmp.resolve("a/events-00000.csv"));
    StringBuilder b = new StringBuilder(lines.get(0)).append('\n');
    lines.subList(1, 301).forEach(l -> b.append(l.replaceFirst("^ev", "evb")).append('\n'));
    Files.writeString(tmp.resolve("b/more.csv"), b.toString());
    secondAccepted = lastJson(ok(Cli.run("ingest", "--source", tmp.resolve("b").toString(), "--table", "events",
        "--schema", schema.toString(), "--data-root", root.toString(), "--json"))).get("accepted").asLong();
    assertTrue(secondAccepted > 250, "most renamed rows are clean: " + secondAccepted);
  }

  private Cli.Result ingest(Path src, Path dataRoot, String table) {
    return Cli.run("ingest", "--source", src.toString(), "--table", table, "--schema", schema.toString(),
        "--data-root", dataRoot.toString());
  }

  private static Cli.Result ok(Cli.Result r) {
    assertEquals(0, r.exitCode(), r.err());
    return r;
  }

  private static void userError(Cli.Result r, String expected) {
    assertEquals(2, r.exitCode(), r.out() + r.err());
    assertEquals(1, r.errLines().length, r.err());
    assertTrue(r.err().startsWith("error: ") && r.err().contains(expected), r.err());
  }

  private Cli.Result sql(String query, String... more) {
    String[] args = new String[4 + more.length];
    args[0] = "sql";
    args[1] = query;
    args[2] = "--data-root";
    args[3] = root.toString();
    System.arraycopy(more, 0, args, 4, more.length);
    return Cli.run(args);
  }

  private long version(String table) {
    return Long.parseLong(Json.JSON.valueToTree(lastJson(ok(Cli.run("tables", "describe", table, "--data-root",
        root.toString(), "--json"))).get("version")).asText());
  }

  private static JsonNode lastJson(Cli.Result r) {
    try {
      List<String> lines = r.out().strip().lines().toList();
      return Json.JSON.readTree(lines.get(lines.size() - 1));
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  private Dataset<Row> bronze() {
    return spark.read().format("delta").load(root.resolve("tables/bronze/events").toString());
  }

  @Test
  void sqlSeesWhatTheJobsWrote() throws IOException {
    long bronzeRows = bronze().count();
    assertEquals(first.expectedAccepted() + secondAccepted, bronzeRows);
    JsonNode count = lastJson(ok(sql("SELECT count(*) AS n FROM bronze.events", "--json")));
    assertEquals(bronzeRows, count.get("n").asLong());

    // a known row, as written in the source file
    String[] source = Files.readAllLines(tmp.resolve("a/events-00000.csv")).get(6).split(",");
    JsonNode row = lastJson(ok(sql("SELECT user_id, item_id, price, label FROM bronze.events WHERE event_id = '"
        + source[0] + "'", "--json")));
    assertEquals(source[1], row.get("user_id").asText());
    assertEquals(source[2], row.get("item_id").asText());
    assertEquals(Double.parseDouble(source[6]), row.get("price").asDouble());
    assertEquals(Integer.parseInt(source[8]), row.get("label").asInt());

    Cli.Result table = ok(sql("SELECT reasons, count(*) AS n FROM quarantine.events GROUP BY reasons ORDER BY n DESC"));
    assertTrue(table.out().contains("reasons") && table.out().contains("[malformed_record]"), table.out());
    Cli.Result csv = ok(sql("SELECT status, count(*) AS n FROM meta.ingest_log GROUP BY status ORDER BY status",
        "--csv"));
    assertEquals(List.of("status,n", "committed,2", "started,2"), csv.out().strip().lines().toList());

    // the session now knows this root's tables; SQL over another data root, which has none of them, still works
    Cli.Result other = Cli.run("sql", "SELECT 1 AS one", "--csv", "--data-root", tmp.resolve("empty-root").toString());
    assertEquals(0, other.exitCode(), other.out() + other.err());
    assertEquals(List.of("one", "1"), other.out().strip().lines().toList());
  }

  @Test
  void timeTravelReturnsTheOlderVersion() {
    JsonNode old = lastJson(ok(sql("SELECT count(*) AS n FROM bronze.events VERSION AS OF " + versionAfterFirst,
        "--json")));
    assertEquals(first.expectedAccepted(), old.get("n").asLong());
    JsonNode now = lastJson(ok(sql("SELECT count(*) AS n FROM bronze.events", "--json")));
    assertEquals(first.expectedAccepted() + secondAccepted, now.get("n").asLong());
  }

  @Test
  void sqlErrorsAndWritesAreRefusedInOneLine() {
    Map<String, Long> before = TreeSnapshot.of(root);
    Cli.Result syntax = sql("SELECT * FORM bronze.events");
    userError(syntax, "SQL syntax error");
    assertTrue(syntax.err().contains("(line 1, position "), syntax.err());
    userError(sql("SELECT nope FROM bronze.events"), "SQL error:");
    userError(sql("SELECT * FROM bronze.nothing"), "SQL error:");
    userError(sql("DELETE FROM bronze.events WHERE label = 1"), "read-only unless you pass --allow-writes");
    userError(sql("INSERT INTO bronze.events SELECT * FROM bronze.events"), "--allow-writes");
    userError(sql("WITH x AS (SELECT 1) INSERT INTO meta.ingest_log SELECT * FROM meta.ingest_log"),
        "--allow-writes");
    assertEquals(before, TreeSnapshot.of(root));
    ok(sql("SHOW TABLES IN bronze"));
    ok(sql("DESCRIBE bronze.events"));
  }

  @Test
  void exportRoundTripsThroughIngest() {
    Path out = tmp.resolve("export-csv");
    Cli.Result r = ok(Cli.run("export", "bronze.events", "--format", "csv", "--out", out.toString(),
        "--data-root", root.toString()));
    assertTrue(r.out().contains("exported bronze.events"), r.out());
    // where the time went, stage by stage in the order they ran (a minus sign cannot match)
    assertTrue(r.out().lines().anyMatch(l -> l.matches(
        "  time: check table and output \\d+\\.\\d s · count rows \\d+\\.\\d s · write csv \\d+\\.\\d s")), r.out());

    Path again = tmp.resolve("again");
    ok(ingest(out, again, "events"));
    List<String> columns = List.of("event_id", "user_id", "item_id", "category", "device", "country", "price",
        "timestamp", "label", "event_date");
    Dataset<Row> original = bronze().selectExpr(columns.toArray(String[]::new));
    Dataset<Row> reingested = spark.read().format("delta").load(again.resolve("tables/bronze/events").toString())
        .selectExpr(columns.toArray(String[]::new));
    assertEquals(original.count(), reingested.count());
    assertEquals(0, original.exceptAll(reingested).count());
    assertEquals(0, reingested.exceptAll(original).count());
  }

  @Test
  void exportOfAPastVersionWithAFilter() throws IOException {
    Path out = tmp.resolve("export-old");
    JsonNode r = lastJson(ok(Cli.run("export", "bronze.events", "--format", "parquet", "--out", out.toString(),
        "--version", String.valueOf(versionAfterFirst), "--where", "label = 1", "--data-root", root.toString(),
        "--json")));
    long expected = bronze().where("label = 1 AND NOT event_id LIKE 'evb%'").count();
    assertEquals(expected, spark.read().parquet(out.toString()).count());
    assertEquals(expected, r.get("rows").asLong());
    Map<String, Double> stages = Json.JSON.convertValue(r.get("stage_seconds"),
        new com.fasterxml.jackson.core.type.TypeReference<Map<String, Double>>() {});
    assertEquals(java.util.Set.of("check table and output", "count rows", "write parquet"), stages.keySet(),
        r.toString());
    assertTrue(stages.values().stream().allMatch(v -> v >= 0), r.toString());
  }

  @Test
  void exportRefusesBadRequestsAndWritesNothing() throws IOException {
    Path existing = tmp.resolve("exists");
    Files.createDirectories(existing);
    Files.writeString(existing.resolve("keep.txt"), "mine");
    userError(Cli.run("export", "bronze.events", "--format", "json", "--out", existing.toString(), "--data-root",
        root.toString()), "output exists");
    assertEquals(Map.of("keep.txt", 4L), TreeSnapshot.of(existing));
    Path fresh = tmp.resolve("never");
    userError(Cli.run("export", "bronze.events", "--format", "csv", "--out", fresh.toString(), "--version", "99",
        "--data-root", root.toString()), "has no version 99");
    userError(Cli.run("export", "bronze.nothing", "--format", "csv", "--out", fresh.toString(), "--data-root",
        root.toString()), "unknown table 'bronze.nothing'");
    userError(Cli.run("export", "bronze.events", "--format", "csv", "--out", fresh.toString(), "--where",
        "no_such_column > 1", "--data-root", root.toString()), "invalid --where");
    assertTrue(!Files.exists(fresh));
  }

  @Test
  void listDescribeAndHistoryShowTheTables() {
    Cli.Result list = ok(Cli.run("tables", "list", "--data-root", root.toString(), "--json"));
    List<JsonNode> tables = list.out().strip().lines().map(l -> {
      try {
        return Json.JSON.readTree(l);
      } catch (IOException e) {
        throw new AssertionError(e);
      }
    }).toList();
    assertEquals(List.of("bronze.events", "meta.ingest_log", "quarantine.events"),
        tables.stream().map(t -> t.get("table").asText()).toList());
    assertEquals(bronze().count(), tables.get(0).get("rows").asLong());
    assertEquals("ingest", tables.get(0).get("last_job").asText());
    assertTrue(ok(Cli.run("tables", "list", "--data-root", root.toString())).out().contains("bronze.events"));

    JsonNode d = lastJson(ok(Cli.run("tables", "describe", "bronze.events", "--data-root", root.toString(), "--json")));
    assertEquals("[\"event_date\"]", d.get("partition_columns").toString());
    assertEquals("events-000002", d.get("lineage").get("batch").asText());

    Cli.Result history = ok(Cli.run("tables", "history", "bronze.events", "--data-root", root.toString()));
    assertTrue(history.out().contains("events-000001") && history.out().contains("events-000002"),
        history.out());
    assertTrue(history.out().contains("CREATE TABLE"), history.out());
    userError(Cli.run("tables", "history", "nothing", "--data-root", root.toString()), "unknown table");
    userError(Cli.run("tables", "describe", "events", "--data-root", root.toString()), "is ambiguous");
  }

  @Test
  void compactMergesSmallFilesAndVacuumNeedsForceBelowSafeRetention() throws IOException {
    Path small = tmp.resolve("small-root");
    List<String> lines = Files.readAllLines(tmp.resolve("a/events-00000.csv"));
    for (int i = 0; i < 6; i++) {
      Path dir = Files.createDirectories(tmp.resolve("small-" + i));
      StringBuilder sb = new StringBuilder(lines.get(0)).append('\n');
      // the same two days each time: every append adds files to the same partitions
      lines.subList(1 + i * 40, 41 + i * 40).forEach(l -> sb.append(l).append('\n'));
      Files.writeString(dir.resolve("part.csv"), sb.toString());
      ok(ingest(dir, small, "events"));
    }
    Dataset<Row> table = spark.read().format("delta").load(small.resolve("tables/bronze/events").toString());
    List<Row> before = table.orderBy("event_id").collectAsList();

    JsonNode compact = lastJson(ok(Cli.run("tables", "compact", "bronze.events", "--data-root", small.toString(),
        "--json")));
    assertTrue(compact.get("files_after").asLong() < compact.get("files_before").asLong(), compact.toString());
    Dataset<Row> after = spark.read().format("delta").load(small.resolve("tables/bronze/events").toString());
    assertEquals(before, after.orderBy("event_id").collectAsList());
    Row last = spark.sql("DESCRIBE HISTORY delta.`" + small.resolve("tables/bronze/events") + "` LIMIT 1").first();
    assertEquals("OPTIMIZE", last.getAs("operation"));

    Map<String, Long> files = TreeSnapshot.of(small);
    userError(Cli.run("tables", "vacuum", "bronze.events", "--retain", "0", "--data-root", small.toString()),
        "below Delta's safe retention of 168 hours");
    assertEquals(files, TreeSnapshot.of(small));

    JsonNode vacuum = lastJson(ok(Cli.run("tables", "vacuum", "bronze.events", "--retain", "0", "--force",
        "--data-root", small.toString(), "--json")));
    assertTrue(vacuum.get("stored_files_after").asLong() < vacuum.get("stored_files_before").asLong(),
        vacuum.toString());
    assertEquals(vacuum.get("files_after").asLong(), vacuum.get("stored_files_after").asLong());
    assertEquals(before, spark.read().format("delta").load(small.resolve("tables/bronze/events").toString())
        .orderBy("event_id").collectAsList());
  }
}
