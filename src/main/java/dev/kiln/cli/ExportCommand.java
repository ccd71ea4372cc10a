package dev.kiln.cli;

import dev.kiln.common.Json;
import dev.kiln.common.SparkSessions;
import dev.kiln.tables.ExportTable;
import dev.kiln.tables.TableCatalog;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "export",
    description = "Write a table, or a past version of it, out of Delta as CSV (with header), Parquet or JSON Lines.")
final class ExportCommand implements Callable<Integer> {
  @Parameters(paramLabel = "TABLE", description = "layer.name, e.g. bronze.events")
  String table;

  @Option(names = "--format", required = true, paramLabel = "csv|parquet|json")
  ExportTable.Format format;

  @Option(names = "--out", required = true, paramLabel = "PATH", description = "Output directory (any Hadoop path).")
  String out;

  // no standard --version here: it names the table version to export
  @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
  boolean help;

  @Option(names = "--version", paramLabel = "N", description = "Export this past version (time travel).")
  Long version;

  @Option(names = "--where", paramLabel = "EXPR", description = "SQL filter, e.g. \"event_date >= '2026-02-01'\".")
  String where;

  @Option(names = "--overwrite", description = "Replace the output if it exists.")
  boolean overwrite;

  @Mixin
  CommonOptions common;


  @Override
  public Integer call() {
    var spark = SparkSessions.getOrCreate("kiln export");
    ExportTable.Result r = new ExportTable(spark, new TableCatalog(spark, common.dataRoot())).run(
        new ExportTable.Config(table, format, out, Optional.ofNullable(version), Optional.ofNullable(where),
            overwrite));
    var o = common.out();
    if (common.json) {
      o.println(Json.toJson(r));
    } else {
      o.printf("exported %s version %d: %,d rows as %s to %s%n", r.table(), r.version(), r.rows(), r.format(),
          r.out());
      Summaries.printStages(o, r.stageSeconds(), r.stagePeakHeapMib());
    }
    return 0;
  }
}
