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

/**
 * The Delta tables under a data root ({@code tables/<layer>/<name>}), found by their {@code _delta_log}, and a SQL
 * session that knows them as {@code <layer>.<name>} through a Kiln-only catalog ({@link #sqlSession()}).
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

  /** The name the data root's catalog has in {@link #sqlSession()}. */
  public static final String CATALOG = "kiln";

  /**
   * A new session for SQL over this data root: its default catalog is a {@link KilnCatalog} over the root, so
   * {@code SELECT * FROM bronze.events VERSION AS OF 3} reads the root's table. Nothing is registered anywhere: the
   * session catalog (a user's metastore, where a database {@code bronze} or {@code meta} may well exist) is neither
   * written nor consulted for these names. The session starts from the caller's settings (time zone, ...), as the
   * statement did when it ran in the caller's session, and changes only its own (the caller's are untouched).
   * Other catalogs stay reachable by their full names ({@code spark_catalog.db.table}).
   */
  public SparkSession sqlSession() {
    return DeltaTables.privateSession(spark, java.util.Map.of(
        "spark.sql.catalog." + CATALOG, KilnCatalog.class.getName(),
        "spark.sql.catalog." + CATALOG + "." + KilnCatalog.DATA_ROOT, root.toString(),
        "spark.sql.defaultCatalog", CATALOG));
  }
}
