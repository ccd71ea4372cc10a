package dev.kiln.tables;

import dev.kiln.common.DataRoot;
import dev.kiln.common.TableRef;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.analysis.NoSuchNamespaceException;
import org.apache.spark.sql.catalyst.analysis.NoSuchTableException;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.NamespaceChange;
import org.apache.spark.sql.connector.catalog.SupportsNamespaces;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableChange;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.delta.catalog.DeltaTableV2;
import org.apache.spark.sql.delta.sources.DeltaDataSource;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;
import scala.Option;

/**
 * A read-only Spark catalog (DataSource V2) over one data root: its namespaces are the layers ({@code bronze},
 * {@code meta}, ...), its tables the Delta tables under {@code tables/<layer>/<name>}. {@code kiln sql} plans its
 * statement in a private session whose default catalog is this one, so {@code bronze.events} means the data root's
 * table without any entry in the session catalog: a user's metastore (a real database named {@code bronze} or
 * {@code meta}) is never read for those names, written, dropped or shadowed. Time travel ({@code VERSION AS OF},
 * {@code TIMESTAMP AS OF}) is Delta's, as in Delta's own catalog. Tables and namespaces are created by Kiln's jobs,
 * never through this catalog.
 */
public final class KilnCatalog implements org.apache.spark.sql.connector.catalog.TableCatalog, SupportsNamespaces {
  /** The catalog option naming the data root. */
  public static final String DATA_ROOT = "data-root";

  private String name;
  private DataRoot root;

  /** Catalogs are created by Spark, by class name, from {@code spark.sql.catalog.<name>}. */
  public KilnCatalog() {}

  @Override
  public void initialize(String catalogName, CaseInsensitiveStringMap options) {
    this.name = catalogName;
    String dataRoot = options.get(DATA_ROOT);
    if (dataRoot == null) {
      throw new IllegalArgumentException("catalog " + catalogName + " needs the option " + DATA_ROOT);
    }
    this.root = DataRoot.of(dataRoot);
  }

  @Override
  public String name() {
    return name;
  }

  private static SparkSession spark() {
    return SparkSession.active();
  }

  private List<TableCatalog.Entry> entries() {
    return new TableCatalog(spark(), root).list();
  }

  // --- namespaces: the layers that hold at least one table -----------------------------------------------------

  @Override
  public String[][] listNamespaces() {
    return entries().stream().map(e -> e.ref().layer()).distinct().map(l -> new String[] {l})
        .toArray(String[][]::new);
  }

  @Override
  public String[][] listNamespaces(String[] namespace) throws NoSuchNamespaceException {
    if (namespace.length == 0) {
      return listNamespaces();
    }
    if (namespaceExists(namespace)) {
      return new String[0][];
    }
    throw new NoSuchNamespaceException(namespace);
  }

  @Override
  public boolean namespaceExists(String[] namespace) {
    return namespace.length == 1 && entries().stream().anyMatch(e -> e.ref().layer().equals(namespace[0]));
  }

  @Override
  public Map<String, String> loadNamespaceMetadata(String[] namespace) throws NoSuchNamespaceException {
    if (!namespaceExists(namespace)) {
      throw new NoSuchNamespaceException(namespace);
    }
    return Map.of("location", root.resolve("tables/" + namespace[0]));
  }

  @Override
  public void createNamespace(String[] namespace, Map<String, String> metadata) {
    throw readOnly();
  }

  @Override
  public void alterNamespace(String[] namespace, NamespaceChange... changes) {
    throw readOnly();
  }

  @Override
  public boolean dropNamespace(String[] namespace, boolean cascade) {
    throw readOnly();
  }

  // --- tables ----------------------------------------------------------------------------------------------------

  @Override
  public Identifier[] listTables(String[] namespace) throws NoSuchNamespaceException {
    if (!namespaceExists(namespace)) {
      throw new NoSuchNamespaceException(namespace);
    }
    return entries().stream().filter(e -> e.ref().layer().equals(namespace[0]))
        .map(e -> Identifier.of(namespace, e.ref().name())).toArray(Identifier[]::new);
  }

  /**
   * {@code layer.name}; a bare {@code name} found in exactly one layer; or {@code delta.`path`} (a Delta table by
   * path, as Delta's catalog resolves it).
   */
  @Override
  public Table loadTable(Identifier ident) throws NoSuchTableException {
    String[] ns = ident.namespace();
    if (ns.length == 1 && ns[0].equalsIgnoreCase("delta") && new Path(ident.name()).isAbsolute()) {
      return delta(ident.name(), ident.toString());
    }
    if (ns.length > 1) {
      throw new NoSuchTableException(ident);
    }
    List<TableCatalog.Entry> matches = entries().stream()
        .filter(e -> e.ref().name().equals(ident.name()) && (ns.length == 0 || e.ref().layer().equals(ns[0])))
        .toList();
    if (matches.size() != 1) {
      throw new NoSuchTableException(ident);
    }
    TableRef ref = matches.get(0).ref();
    return delta(matches.get(0).path(), name + "." + ref);
  }

  @Override
  public Table loadTable(Identifier ident, String version) throws NoSuchTableException {
    return timeTravel(loadTable(ident), DeltaDataSource.TIME_TRAVEL_VERSION_KEY(), version);
  }

  /** {@code timestamp} in microseconds since the epoch, as Spark passes it. */
  @Override
  public Table loadTable(Identifier ident, long timestamp) throws NoSuchTableException {
    return timeTravel(loadTable(ident), DeltaDataSource.TIME_TRAVEL_TIMESTAMP_KEY(),
        new java.sql.Timestamp(timestamp / 1000).toString());
  }

  private static Table delta(String path, String identifier) {
    return DeltaTableV2.apply(spark(), new Path(path), Option.empty(), Option.apply(identifier), Option.empty(),
        scala.collection.immutable.Map$.MODULE$.empty());
  }

  /** Delta's own catalog time-travels the same way: the table with its time-travel options. */
  private static Table timeTravel(Table table, String key, String value) {
    java.util.Map<String, String> options = new java.util.HashMap<>();
    options.put(DeltaDataSource.TIME_TRAVEL_SOURCE_KEY(), "SQL");
    options.put(key, value);
    return ((DeltaTableV2) table).withOptions(scala.collection.JavaConverters.mapAsScalaMapConverter(options).asScala()
        .toMap(scala.Predef.$conforms()));
  }

  @Override
  public Table createTable(Identifier ident, StructType schema, Transform[] partitions,
                           Map<String, String> properties) {
    throw readOnly();
  }

  @Override
  public Table alterTable(Identifier ident, TableChange... changes) {
    throw readOnly();
  }

  @Override
  public boolean dropTable(Identifier ident) {
    throw readOnly();
  }

  @Override
  public void renameTable(Identifier oldIdent, Identifier newIdent) {
    throw readOnly();
  }

  private UnsupportedOperationException readOnly() {
    return new UnsupportedOperationException("the catalog of the data root's tables (" + name + ") is read-only: "
        + "tables are created and changed by Kiln's jobs (rows can change with --allow-writes)");
  }
}
