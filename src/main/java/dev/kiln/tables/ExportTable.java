package dev.kiln.tables;

import dev.kiln.common.DeltaTables;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.StageTimes;
import dev.kiln.common.Messages;
import io.delta.tables.DeltaTable;
import java.io.IOException;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/** Writes a table, or a past version of it, out of Delta as CSV, Parquet or JSON Lines. */
public final class ExportTable {
  public enum Format { CSV, PARQUET, JSON }

  /**
   * @param version a past version to export (time travel), or empty for the latest
   * @param where   a SQL filter, e.g. {@code event_date >= '2026-02-01'}
   */
  public record Config(String table, Format format, String out, Optional<Long> version, Optional<String> where,
                       boolean overwrite) {}

  /**
   * @param stageSeconds     where the run's time went, stage by stage ({@link StageTimes})
   * @param stagePeakHeapMib the driver's peak heap per stage in MiB ({@link StageTimes#peakHeapMib})
   */
  public record Result(String table, long version, long rows, String out, String format,
                       Map<String, Double> stageSeconds, Map<String, Long> stagePeakHeapMib) {}

  private final SparkSession spark;
  private final TableCatalog catalog;

  public ExportTable(SparkSession spark, TableCatalog catalog) {
    this.spark = spark;
    this.catalog = catalog;
  }

  public Result run(Config c) {
    StageTimes stages = new StageTimes();
    TableCatalog.Entry e = catalog.resolve(c.table());
    long latest = DeltaTables.latestVersion(spark, e.path()).orElseThrow();
    long earliest = DeltaTable.forPath(spark, e.path()).history().agg(
        org.apache.spark.sql.functions.min("version")).first().getLong(0);
    long version = c.version().orElse(latest);
    if (version < earliest || version > latest) {
      throw new KilnUserException("table " + e.ref() + " has no version " + version + " (versions " + earliest
          + " to " + latest + ")");
    }
    Path out = new Path(c.out());
    try {
      FileSystem fs = out.getFileSystem(spark.sparkContext().hadoopConfiguration());
      if (fs.exists(out) && !c.overwrite()) {
        throw new KilnUserException("output exists (" + c.out() + "); pass --overwrite to replace it");
      }
    } catch (IOException ex) {
      throw new KilnUserException("cannot check output path (" + c.out() + "): " + ex.getMessage());
    }
    Dataset<Row> df = spark.read().format("delta").option("versionAsOf", version).load(e.path());
    if (c.where().isPresent()) {
      try {
        df = df.where(c.where().get());
        df.schema(); // analyse now, so a bad filter fails before anything is written
      } catch (Exception ex) {
        if (ex instanceof AnalysisException) {
          throw new KilnUserException("invalid --where '" + c.where().get() + "': " + Messages.firstLine(
              ex.getMessage(), "unknown error"));
        }
        throw ex;
      }
    }
    stages.lap("check table and output"); // the version, the output path, the filter: no rows read yet
    long rows = df.count();
    stages.lap("count rows");
    var writer = df.write().mode(c.overwrite() ? "overwrite" : "errorifexists");
    switch (c.format()) {
      case CSV -> writer.option("header", "true").csv(c.out());
      case PARQUET -> writer.parquet(c.out());
      case JSON -> writer.json(c.out());
    }
    String format = c.format().name().toLowerCase(Locale.ROOT);
    stages.lap("write " + format); // reads the version's rows (again) and writes them
    return new Result(e.ref().toString(), version, rows, c.out(), format, stages.seconds(), stages.peakHeapMib());
  }
}
