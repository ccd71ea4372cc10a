package dev.kiln.cli;

import dev.kiln.common.CsvText;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.SparkSessions;
import dev.kiln.tables.SqlQuery;
import dev.kiln.tables.TableCatalog;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "sql", mixinStandardHelpOptions = true,
    description = {"Run Spark SQL over the data root's tables, by short name: bronze.events, quarantine.events, "
        + "meta.ingest_log, ... Time travel with VERSION AS OF n / TIMESTAMP AS OF 'ts'.",
        "Read-only unless --allow-writes."},
    footer = {"", "Example: kiln sql \"SELECT device, avg(label) FROM bronze.events GROUP BY device\""})
final class SqlCommand implements Callable<Integer> {
  @Parameters(paramLabel = "SQL", description = "The statement.")
  String sql;

  @Option(names = "--limit", defaultValue = "100", description = "Rows to print (default: ${DEFAULT-VALUE}).")
  int limit;

  @Option(names = "--csv", description = "Print CSV with a header instead of an aligned table.")
  boolean csv;

  @Option(names = "--allow-writes", description = "Allow statements that change tables (INSERT, DELETE, ...).")
  boolean allowWrites;

  @Mixin
  CommonOptions common;


  @Override
  public Integer call() {
    if (limit < 1) {
      throw new KilnUserException("--limit must be at least 1 (got " + limit + ")");
    }
    if (csv && common.json) {
      throw new KilnUserException("choose one of --csv and --json");
    }
    var spark = SparkSessions.getOrCreate("kiln sql");
    Dataset<Row> result = new SqlQuery(spark, new TableCatalog(spark, common.dataRoot())).run(sql, allowWrites);
    PrintWriter out = common.out();
    if (common.json) {
      result.limit(limit).toJSON().collectAsList().forEach(out::println);
      return 0;
    }
    // Show complex values (arrays, maps, structs) in Spark's own text form.
    List<Column> asText = new ArrayList<>();
    for (String c : result.columns()) {
      asText.add(result.col("`" + c.replace("`", "``") + "`").cast("string").as(c));
    }
    List<Row> rows = result.select(asText.toArray(Column[]::new)).limit(limit + 1).collectAsList();
    boolean more = rows.size() > limit;
    rows = rows.subList(0, Math.min(limit, rows.size()));
    List<String> header = Arrays.asList(result.columns());
    if (csv) {
      out.println(String.join(",", header.stream().map(CsvText::field).toList()));
      for (Row r : rows) {
        List<String> cells = new ArrayList<>();
        for (int i = 0; i < r.length(); i++) {
          cells.add(r.isNullAt(i) ? "" : CsvText.field(r.getString(i)));
        }
        out.println(String.join(",", cells));
      }
    } else {
      TextTable t = new TextTable(header);
      for (Row r : rows) {
        List<String> cells = new ArrayList<>();
        for (int i = 0; i < r.length(); i++) {
          cells.add(r.isNullAt(i) ? "NULL" : r.getString(i));
        }
        t.add(cells);
      }
      t.print(out);
      out.printf("(%d row%s%s)%n", rows.size(), rows.size() == 1 ? "" : "s",
          more ? ", more not shown: raise --limit" : "");
    }
    out.flush();
    return 0;
  }
}
