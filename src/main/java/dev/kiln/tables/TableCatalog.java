package dev.kiln.tables;

import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.TableRef;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.TableIdentifier;
import org.apache.spark.sql.catalyst.catalog.CatalogTable;
import org.apache.spark.sql.catalyst.catalog.CatalogTableType;
import org.apache.spark.sql.catalyst.catalog.SessionCatalog;
import scala.collection.JavaConverters;

/**
 * The Delta tables under a data root ({@code tables/<layer>/<name>}), found by their {@code _delta_log}, and their
 * registration in the session catalog as {@code <layer>.<name>} so SQL can use short names.
 */
public final class TableCatalog {
  /** A table found under the data root. */
  public record Entry(TableRef ref, String path) {}

  private final SparkSession spark;
  private final DataRoot root;

  public TableCatalog(SparkSession spark, DataRoot root) {
    this.spark = spark;
    this.root = root;
  }

  public List<Entry> list() {
    List<Entry> tables = new ArrayList<>();
    try {
      Path base = new Path(root.resolve("tables"));
      FileSystem fs = base.getFileSystem(spark.sparkContext().hadoopConfiguration());
      if (!fs.exists(base)) {
        return tables;
      }
      for (FileStatus layer : fs.listStatus(base)) {
        if (!layer.isDirectory() || !TableRef.LAYERS.contains(layer.getPath().getName())) {
          continue;
        }
        for (FileStatus table : fs.listStatus(layer.getPath())) {
          if (table.isDirectory() && fs.exists(new Path(table.getPath(), "_delta_log"))) {
            TableRef ref = new TableRef(layer.getPath().getName(), table.getPath().getName());
            tables.add(new Entry(ref, root.table(ref)));
          }
        }
      }
    } catch (IOException e) {
      throw new KilnUserException("cannot list tables under " + root + ": " + e.getMessage());
    }
    tables.sort(Comparator.comparing(e -> e.ref().toString()));
    return tables;
  }

  /**
   * Resolves {@code layer.name}, or a bare {@code name} that exists in exactly one layer, to an existing table.
   */
  public Entry resolve(String name) {
    List<Entry> all = list();
    String n = name == null ? "" : name.trim();
    List<Entry> matches = all.stream()
        .filter(e -> n.contains(".") ? e.ref().toString().equals(n) : e.ref().name().equals(n)).toList();
    if (matches.size() == 1 && DeltaTables.exists(spark, matches.get(0).path())) {
      return matches.get(0);
    }
    if (matches.size() > 1) {
      throw new KilnUserException("table name '" + n + "' is ambiguous: " + String.join(", ",
          matches.stream().map(e -> e.ref().toString()).toList()) + " (use layer.name)");
    }
    throw new KilnUserException("unknown table '" + n + "' under " + root + " (known: "
        + (all.isEmpty() ? "none" : String.join(", ", all.stream().map(e -> e.ref().toString()).toList())) + ")");
  }

  /**
   * Registers every table as {@code <layer>.<name>} in the session catalog (metadata only: nothing is written to the
   * tables), so {@code SELECT * FROM bronze.events VERSION AS OF 3} works.
   */
  public List<Entry> registerAll() {
    List<Entry> tables = list();
    java.util.Map<String, String> wanted = new java.util.HashMap<>();
    tables.forEach(e -> wanted.put(e.ref().toString(), e.path()));
    SessionCatalog session = spark.sessionState().catalog();
    // A session that saw another data root (a notebook, a test JVM) may hold the same names for other paths:
    // unregister those. Only EXTERNAL entries are dropped, which removes catalog metadata, never data.
    for (String layer : TableRef.LAYERS) {
      if (!session.databaseExists(layer)) {
        continue;
      }
      for (TableIdentifier id : JavaConverters.seqAsJavaList(session.listTables(layer))) {
        CatalogTable t;
        try {
          t = session.getTableMetadata(id);
        } catch (org.apache.spark.sql.catalyst.analysis.NoSuchDatabaseException
                 | org.apache.spark.sql.catalyst.analysis.NoSuchTableException e) {
          continue;
        }
        String name = layer + "." + id.table();
        String wantedPath = wanted.get(name); // null: a table of another data root, absent from this one
        boolean same = wantedPath != null && new Path(t.location()).toString().equals(new Path(wantedPath).toString());
        if (!same && t.tableType().equals(CatalogTableType.EXTERNAL())) {
          spark.sql("DROP TABLE " + name);
        }
      }
    }
    for (String layer : tables.stream().map(e -> e.ref().layer()).distinct().toList()) {
      spark.sql("CREATE DATABASE IF NOT EXISTS " + layer + " LOCATION '" + root.resolve("tables/" + layer) + "'");
    }
    for (Entry e : tables) {
      spark.sql("CREATE TABLE IF NOT EXISTS " + e.ref() + " USING DELTA LOCATION '" + e.path() + "'");
    }
    return tables;
  }
}
