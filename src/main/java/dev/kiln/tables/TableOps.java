package dev.kiln.tables;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import io.delta.tables.DeltaTable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/** Looking inside the data root's Delta tables and keeping them healthy: list, describe, history, compact, vacuum. */
public final class TableOps {
  /** Delta's default {@code delta.deletedFileRetentionDuration}: 7 days. */
  public static final long SAFE_RETENTION_HOURS = 168;

  private final SparkSession spark;
  private final TableCatalog catalog;

  public TableOps(SparkSession spark, TableCatalog catalog) {
    this.spark = spark;
    this.catalog = catalog;
  }

  public List<TableSummary> list() {
    List<TableSummary> out = new ArrayList<>();
    for (TableCatalog.Entry e : catalog.list()) {
      Row detail = detail(e.path());
      Row last = DeltaTable.forPath(spark, e.path()).history(1)
          .select("version", "timestamp", "operation", "userMetadata").first();
      out.add(new TableSummary(e.ref().toString(),
          spark.read().format("delta").load(e.path()).count(),
          detail.<Long>getAs("sizeInBytes"), detail.<Long>getAs("numFiles"), last.getLong(0),
          last.getString(2), job(last.getString(3)), String.valueOf(last.getTimestamp(1).toInstant()), e.path()));
    }
    return out;
  }

  /** Schema, partitioning, properties, size and the lineage of the latest version. */
  public Map<String, Object> describe(String table) {
    TableCatalog.Entry e = catalog.resolve(table);
    Row detail = detail(e.path());
    Row last = DeltaTable.forPath(spark, e.path()).history(1).first();
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("table", e.ref().toString());
    out.put("path", e.path());
    List<Map<String, Object>> columns = new ArrayList<>();
    for (var f : spark.read().format("delta").load(e.path()).schema().fields()) {
      Map<String, Object> c = new LinkedHashMap<>();
      c.put("name", f.name());
      c.put("type", f.dataType().simpleString());
      c.put("nullable", f.nullable());
      columns.add(c);
    }
    out.put("columns", columns);
    out.put("partition_columns", detail.getList(detail.fieldIndex("partitionColumns")));
    out.put("properties", detail.getJavaMap(detail.fieldIndex("properties")));
    out.put("files", detail.<Long>getAs("numFiles"));
    out.put("size_bytes", detail.<Long>getAs("sizeInBytes"));
    out.put("version", last.<Long>getAs("version"));
    out.put("last_operation", last.<String>getAs("operation"));
    out.put("last_written_at", String.valueOf(last.<java.sql.Timestamp>getAs("timestamp").toInstant()));
    out.put("lineage", lineage(last.<String>getAs("userMetadata")));
    return out;
  }

  /** Delta history, newest first, with the Kiln job and batch from each commit's userMetadata. */
  public List<Map<String, Object>> history(String table, int limit) {
    TableCatalog.Entry e = catalog.resolve(table);
    List<Map<String, Object>> out = new ArrayList<>();
    for (Row r : DeltaTable.forPath(spark, e.path()).history(limit)
        .select("version", "timestamp", "operation", "operationMetrics", "userMetadata").collectAsList()) {
      Map<String, Object> h = new LinkedHashMap<>();
      h.put("version", r.getLong(0));
      h.put("timestamp", String.valueOf(r.getTimestamp(1).toInstant()));
      h.put("operation", r.getString(2));
      Map<String, String> metrics = r.isNullAt(3) ? Map.of() : r.getJavaMap(3);
      h.put("metrics", new java.util.TreeMap<>(metrics));
      Map<String, Object> lineage = lineage(r.getString(4));
      h.put("job", lineage.get("job"));
      h.put("batch", lineage.get("batch"));
      out.add(h);
    }
    return out;
  }

  /** What compaction or vacuum changed: live data files (in the snapshot) and files on storage, before and after. */
  public record Maintenance(String table, long filesBefore, long filesAfter, long storedFilesBefore,
                            long storedFilesAfter, long versionAfter) {}

  /** OPTIMIZE (bin-packing, optionally Z-ordered): rewrites small files into large ones with dataChange=false. */
  public Maintenance compact(String table, List<String> zOrderBy) {
    TableCatalog.Entry e = catalog.resolve(table);
    long before = detail(e.path()).<Long>getAs("numFiles");
    long storedBefore = storedDataFiles(e.path());
    List<String> columns = Arrays.asList(spark.read().format("delta").load(e.path()).columns());
    for (String c : zOrderBy) {
      if (!columns.contains(c)) {
        throw new KilnUserException("table " + e.ref() + " has no column '" + c + "' to Z-order by");
      }
    }
    var optimize = DeltaTable.forPath(spark, e.path()).optimize();
    if (zOrderBy.isEmpty()) {
      optimize.executeCompaction();
    } else {
      optimize.executeZOrderBy(zOrderBy.toArray(String[]::new));
    }
    Row d = detail(e.path());
    return new Maintenance(e.ref().toString(), before, d.<Long>getAs("numFiles"), storedBefore,
        storedDataFiles(e.path()), DeltaTable.forPath(spark, e.path()).history(1).first().<Long>getAs("version"));
  }

  /**
   * VACUUM: deletes files no version within {@code retainHours} needs. Below Delta's safe retention it refuses unless
   * {@code force}: readers of older snapshots and time travel to them would break.
   */
  public Maintenance vacuum(String table, double retainHours, boolean force) {
    TableCatalog.Entry e = catalog.resolve(table);
    if (retainHours < 0) {
      throw new KilnUserException("--retain must not be negative (got " + retainHours + ")");
    }
    if (retainHours < SAFE_RETENTION_HOURS && !force) {
      throw new KilnUserException("refusing to vacuum " + e.ref() + " with --retain " + fmt(retainHours)
          + " hours: below Delta's safe retention of " + SAFE_RETENTION_HOURS + " hours, it deletes files that "
          + "running readers and time travel may still need (pass --force to do it anyway)");
    }
    long before = detail(e.path()).<Long>getAs("numFiles");
    long storedBefore = storedDataFiles(e.path());
    // Delta's safety check is a session setting: a forced vacuum lifts it in a private session, never in the
    // caller's, which other jobs on other threads may be using.
    SparkSession session = force
        ? DeltaTables.privateSession(spark, Map.of("spark.databricks.delta.retentionDurationCheck.enabled", "false"))
        : spark;
    DeltaTable.forPath(session, e.path()).vacuum(retainHours);
    return new Maintenance(e.ref().toString(), before, detail(e.path()).<Long>getAs("numFiles"), storedBefore,
        storedDataFiles(e.path()), DeltaTable.forPath(spark, e.path()).history(1).first().<Long>getAs("version"));
  }

  private static String fmt(double hours) {
    return hours == Math.rint(hours) ? String.valueOf((long) hours) : String.valueOf(hours);
  }

  private Row detail(String path) {
    Dataset<Row> d = spark.sql("DESCRIBE DETAIL delta.`" + path + "`");
    return d.first();
  }

  /** Parquet files on storage under the table (live or not), outside _delta_log. */
  long storedDataFiles(String path) {
    try {
      Path p = new Path(path);
      FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
      long n = 0;
      RemoteIterator<LocatedFileStatus> it = fs.listFiles(p, true);
      while (it.hasNext()) {
        LocatedFileStatus f = it.next();
        if (f.getPath().getName().endsWith(".parquet") && !f.getPath().toString().contains("/_delta_log/")) {
          n++;
        }
      }
      return n;
    } catch (IOException ex) {
      throw new KilnUserException("cannot list files of " + path + ": " + ex.getMessage());
    }
  }

  static String job(String userMetadata) {
    Object job = lineage(userMetadata).get("job");
    return job == null ? "" : job.toString();
  }

  static Map<String, Object> lineage(String userMetadata) {
    if (userMetadata == null || userMetadata.isBlank()) {
      return Map.of();
    }
    try {
      JsonNode node = Json.JSON.readTree(userMetadata);
      Map<String, Object> m = new LinkedHashMap<>();
      node.fields().forEachRemaining(f -> m.put(f.getKey(), f.getValue().isValueNode() ? f.getValue().asText()
          : f.getValue().toString()));
      return m;
    } catch (IOException e) {
      return Map.of("user_metadata", userMetadata);
    }
  }
}
