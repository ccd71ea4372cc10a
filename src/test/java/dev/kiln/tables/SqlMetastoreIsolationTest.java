package dev.kiln.tables;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kiln.common.Json;
import dev.kiln.testing.Cli;
import dev.kiln.testing.SharedSpark;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.TableIdentifier;
import org.apache.spark.sql.catalyst.catalog.CatalogTable;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code kiln sql} never touches the user's metastore: with a real database {@code bronze} holding a table
 * {@code events} (and one more) in the session catalog, Kiln's query over {@code bronze.events} reads the data root's
 * table, and afterwards the user's database and tables are still there, unchanged, with their rows; no database is
 * created for Kiln's layers, and the session's settings are untouched.
 */
class SqlMetastoreIsolationTest {
  @TempDir
  static Path tmp;

  private final SparkSession spark = SharedSpark.get();

  @Test
  void theUsersDatabaseNamedLikeALayerIsLeftAlone() throws Exception {
    // Kiln's data root: bronze.events with 5 rows (two versions), quarantine.events with 1
    Path root = tmp.resolve("root");
    StructType kilnSchema = new StructType().add("event_id", "string").add("label", "int");
    String kilnEvents = root.resolve("tables/bronze/events").toUri().toString();
    spark.createDataFrame(List.of(RowFactory.create("e1", 0), RowFactory.create("e2", 1)), kilnSchema)
        .write().format("delta").save(kilnEvents);
    spark.createDataFrame(List.of(RowFactory.create("e3", 0), RowFactory.create("e4", 1), RowFactory.create("e5", 0)),
        kilnSchema).write().format("delta").mode("append").save(kilnEvents);
    spark.createDataFrame(List.of(RowFactory.create("q1", 0)), kilnSchema)
        .write().format("delta").save(root.resolve("tables/quarantine/events").toUri().toString());

    // the user's metastore: a database bronze with an external table events (3 rows) and a managed table other
    String userDb = tmp.resolve("user-bronze.db").toUri().toString();
    String userEvents = tmp.resolve("user-events").toUri().toString();
    spark.sql("CREATE DATABASE bronze LOCATION '" + userDb + "'");
    try {
      spark.sql("CREATE TABLE bronze.events (id INT, note STRING) USING parquet LOCATION '" + userEvents + "'");
      spark.sql("INSERT INTO bronze.events VALUES (1, 'mine'), (2, 'mine'), (3, 'mine')");
      spark.sql("CREATE TABLE bronze.other (x INT) USING parquet");
      spark.sql("INSERT INTO bronze.other VALUES (7)");
      CatalogTable before = spark.sessionState().catalog().getTableMetadata(new TableIdentifier("events",
          scala.Option.apply("bronze")));
      List<String> databasesBefore = spark.catalog().listDatabases().collectAsList().stream()
          .map(d -> d.name()).sorted().toList();

      // Kiln's query sees Kiln's table, by short name and by version
      Cli.Result count = Cli.run("sql", "SELECT count(*) AS n FROM bronze.events", "--json", "--data-root",
          root.toString());
      assertEquals(0, count.exitCode(), count.err());
      assertEquals(5, lastJson(count).get("n").asLong(), count.out());
      Cli.Result old = Cli.run("sql", "SELECT count(*) AS n FROM bronze.events VERSION AS OF 0", "--json",
          "--data-root", root.toString());
      assertEquals(0, old.exitCode(), old.err());
      assertEquals(2, lastJson(old).get("n").asLong(), old.out());
      Cli.Result ids = Cli.run("sql", "SELECT event_id FROM bronze.events ORDER BY event_id", "--csv",
          "--data-root", root.toString());
      assertEquals(List.of("event_id", "e1", "e2", "e3", "e4", "e5"), ids.out().strip().lines().toList(),
          ids.err());
      Cli.Result q = Cli.run("sql", "SELECT count(*) AS n FROM quarantine.events", "--json", "--data-root",
          root.toString());
      assertEquals(1, lastJson(q).get("n").asLong(), q.out() + q.err());
      Cli.Result tables = Cli.run("sql", "SHOW TABLES IN bronze", "--csv", "--data-root", root.toString());
      assertEquals(0, tables.exitCode(), tables.err());
      assertTrue(tables.out().contains("events") && !tables.out().contains("other"), "Kiln's layer: " + tables.out());
      Cli.Result ddl = Cli.run("sql", "DROP TABLE bronze.events", "--allow-writes", "--data-root", root.toString());
      assertEquals(2, ddl.exitCode(), ddl.out() + ddl.err());
      assertTrue(ddl.err().contains("read-only"), ddl.err());

      // the user's database and tables: still there, same definition, same rows
      assertTrue(spark.catalog().databaseExists("bronze"));
      CatalogTable after = spark.sessionState().catalog().getTableMetadata(new TableIdentifier("events",
          scala.Option.apply("bronze")));
      assertEquals(before.location(), after.location());
      assertEquals(before.provider(), after.provider());
      assertEquals(before.schema(), after.schema());
      List<Row> rows = spark.sql("SELECT id, note FROM bronze.events ORDER BY id").collectAsList();
      assertEquals(List.of(RowFactory.create(1, "mine"), RowFactory.create(2, "mine"), RowFactory.create(3, "mine")),
          rows);
      assertEquals(7, spark.sql("SELECT x FROM bronze.other").first().getInt(0));
      assertEquals(databasesBefore, spark.catalog().listDatabases().collectAsList().stream().map(d -> d.name())
          .sorted().toList(), "no database created for Kiln's layers (quarantine, ...)");
      assertFalse(spark.catalog().databaseExists("quarantine"));
      assertEquals("spark_catalog", spark.sessionState().catalogManager().currentCatalog().name());
      assertFalse(spark.conf().getOption("spark.sql.catalog.kiln").isDefined(),
          "the caller's session settings are untouched");
    } finally {
      spark.sql("DROP DATABASE IF EXISTS bronze CASCADE");
    }
  }

  private static JsonNode lastJson(Cli.Result r) throws Exception {
    List<String> lines = r.out().strip().lines().toList();
    return Json.JSON.readTree(lines.get(lines.size() - 1));
  }
}
