package dev.kiln.cli;

import dev.kiln.common.Json;
import dev.kiln.common.SparkSessions;
import dev.kiln.tables.TableCatalog;
import dev.kiln.tables.TableOps;
import dev.kiln.tables.TableSummary;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "tables", mixinStandardHelpOptions = true,
    description = "Look inside the data root's Delta tables and keep them healthy.",
    subcommands = {TablesCommand.ListTables.class, TablesCommand.Describe.class, TablesCommand.History.class,
        TablesCommand.Compact.class, TablesCommand.Vacuum.class})
final class TablesCommand implements Runnable {
  @Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new picocli.CommandLine.ParameterException(spec.commandLine(),
        "a subcommand is required: list, describe, history, compact or vacuum");
  }

  static TableOps ops(CommonOptions common, String app) {
    var spark = SparkSessions.getOrCreate(app);
    return new TableOps(spark, new TableCatalog(spark, common.dataRoot()));
  }

  @Command(name = "list", mixinStandardHelpOptions = true,
      description = "Every Delta table under the data root: rows, size, files, latest version, last writer.")
  static final class ListTables implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      List<TableSummary> tables = ops(common, "kiln tables list").list();
      PrintWriter out = common.out();
      if (common.json) {
        tables.forEach(t -> out.println(Json.toJson(t)));
        return 0;
      }
      if (tables.isEmpty()) {
        out.println("no tables under " + common.dataRoot());
        return 0;
      }
      TextTable t = new TextTable(List.of("table", "rows", "size", "files", "version", "last operation",
          "last job", "written at"));
      for (TableSummary s : tables) {
        t.add(List.of(s.table(), String.format("%,d", s.rows()), TextTable.bytes(s.sizeBytes()), s.files(),
            s.version(), s.lastOperation(), s.lastJob(), s.lastWrittenAt()));
      }
      t.print(out);
      return 0;
    }
  }

  @Command(name = "describe", mixinStandardHelpOptions = true,
      description = "Schema, partitioning, table properties, size and the lineage of the latest version.")
  static final class Describe implements Callable<Integer> {
    @Parameters(paramLabel = "TABLE", description = "layer.name, e.g. bronze.events (or a unique name)")
    String table;
    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      Map<String, Object> d = ops(common, "kiln tables describe").describe(table);
      PrintWriter out = common.out();
      if (common.json) {
        out.println(Json.toJson(d));
        return 0;
      }
      out.printf("%s  (version %s, %s files, %s)%n  %s%n", d.get("table"), d.get("version"), d.get("files"),
          TextTable.bytes((Long) d.get("size_bytes")), d.get("path"));
      out.println("partitioned by: " + d.get("partition_columns"));
      out.println("properties:     " + d.get("properties"));
      out.println("last write:     " + d.get("last_operation") + " at " + d.get("last_written_at") + " "
          + d.get("lineage"));
      out.println();
      TextTable t = new TextTable(List.of("column", "type", "nullable"));
      @SuppressWarnings("unchecked")
      List<Map<String, Object>> columns = (List<Map<String, Object>>) d.get("columns");
      columns.forEach(c -> t.add(List.of(c.get("name"), c.get("type"), c.get("nullable"))));
      t.print(out);
      return 0;
    }
  }

  @Command(name = "history", mixinStandardHelpOptions = true,
      description = "Delta history, newest first: version, time, operation, metrics, and the Kiln job and batch.")
  static final class History implements Callable<Integer> {
    @Parameters(paramLabel = "TABLE")
    String table;
    @Option(names = "--limit", defaultValue = "20", description = "Versions to show (default: ${DEFAULT-VALUE}).")
    int limit;
    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      if (limit < 1) {
        throw new dev.kiln.common.KilnUserException("--limit must be at least 1 (got " + limit + ")");
      }
      List<Map<String, Object>> history = ops(common, "kiln tables history").history(table, limit);
      PrintWriter out = common.out();
      if (common.json) {
        history.forEach(h -> out.println(Json.toJson(h)));
        return 0;
      }
      TextTable t = new TextTable(List.of("version", "timestamp", "operation", "job", "batch", "metrics"));
      for (Map<String, Object> h : history) {
        List<Object> row = new ArrayList<>(List.of(h.get("version"), h.get("timestamp"), h.get("operation")));
        row.add(h.get("job"));
        row.add(h.get("batch"));
        row.add(h.get("metrics").toString());
        t.add(row);
      }
      t.print(out);
      return 0;
    }
  }

  @Command(name = "compact", mixinStandardHelpOptions = true,
      description = {"OPTIMIZE: rewrite small files into large ones (dataChange=false, so streaming readers and "
          + "incremental jobs see no new data), optionally Z-ordered."})
  static final class Compact implements Callable<Integer> {
    @Parameters(paramLabel = "TABLE")
    String table;
    @Option(names = "--zorder", split = ",", paramLabel = "COLUMNS", description = "Z-order by these columns.")
    List<String> zorder = new ArrayList<>();
    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      print(common.out(), "compacted", ops(common, "kiln tables compact").compact(table, zorder),
          common.json);
      return 0;
    }
  }

  @Command(name = "vacuum", mixinStandardHelpOptions = true,
      description = {"VACUUM: delete files no table version within the retention still needs.",
          "Refuses a retention below Delta's safe default (168 hours) unless --force."})
  static final class Vacuum implements Callable<Integer> {
    @Parameters(paramLabel = "TABLE")
    String table;
    @Option(names = "--retain", defaultValue = "168", paramLabel = "HOURS",
        description = "Keep files needed by versions of the last HOURS hours (default: ${DEFAULT-VALUE}).")
    double retain;
    @Option(names = "--force", description = "Allow a retention below 168 hours (breaks time travel to older "
        + "versions and readers still on them).")
    boolean force;
    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
      print(common.out(), "vacuumed", ops(common, "kiln tables vacuum").vacuum(table, retain, force),
          common.json);
      return 0;
    }
  }

  static void print(PrintWriter out, String verb, TableOps.Maintenance m, boolean json) {
    if (json) {
      out.println(Json.toJson(m));
      return;
    }
    out.printf("%s %s: live files %d -> %d, files on storage %d -> %d (version %d)%n", verb, m.table(),
        m.filesBefore(), m.filesAfter(), m.storedFilesBefore(), m.storedFilesAfter(), m.versionAfter());
  }
}
