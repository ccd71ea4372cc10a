package dev.kiln.tables;

import dev.kiln.common.KilnUserException;
import dev.kiln.common.Messages;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.parser.ParseException;
import org.apache.spark.sql.catalyst.plans.logical.Command;
import org.apache.spark.sql.catalyst.plans.logical.InsertIntoStatement;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import scala.collection.JavaConverters;

/**
 * Spark SQL over the data root's tables by their short names ({@code bronze.events}, {@code meta.ingest_log}, ...),
 * in a session of its own whose default catalog holds just those tables ({@link TableCatalog#sqlSession()}).
 * Read-only unless writes are allowed: a statement that would change a table or the catalog is refused before it
 * runs.
 */
public final class SqlQuery {
  private final SparkSession spark;
  private final TableCatalog catalog;

  public SqlQuery(SparkSession spark, TableCatalog catalog) {
    this.spark = spark;
    this.catalog = catalog;
  }

  /** Parses, checks and plans {@code sql}; the result is lazy (nothing runs until it is read). */
  public Dataset<Row> run(String sql, boolean allowWrites) {
    if (sql == null || sql.isBlank()) {
      throw new KilnUserException("no SQL given");
    }
    LogicalPlan parsed = parse(sql);
    if (!allowWrites && writes(parsed)) {
      throw new KilnUserException("statement would write (" + parsed.nodeName()
          + "): kiln sql is read-only unless you pass --allow-writes");
    }
    try {
      return catalog.sqlSession().sql(sql);
    } catch (Exception e) {
      if (e instanceof ParseException p) {
        throw syntaxError(p);
      }
      if (e instanceof AnalysisException a) {
        throw new KilnUserException("SQL error: " + Messages.firstLine(a.getSimpleMessage(), "unknown error"));
      }
      if (e instanceof UnsupportedOperationException u) { // DDL on the data root's catalog (KilnCatalog)
        throw new KilnUserException("SQL error: " + Messages.firstLine(u.getMessage(), "unknown error"));
      }
      throw e;
    }
  }

  private LogicalPlan parse(String sql) {
    try {
      return spark.sessionState().sqlParser().parsePlan(sql);
    } catch (ParseException e) {
      throw syntaxError(e);
    }
  }

  private static KilnUserException syntaxError(ParseException e) {
    String where = e.line().isDefined() ? " (line " + e.line().get() + ", position "
        + (((Integer) e.startPosition().getOrElse(() -> 0)) + 1) + ")" : "";
    String message = Messages.firstLine(e.getMessage(), "unknown error")
        .replaceAll("\\(line \\d+, pos \\d+\\)$", "").trim();
    return new KilnUserException("SQL syntax error: " + message + where);
  }

  /** True when the plan, or any plan inside it, changes data or metadata. SHOW / DESCRIBE / EXPLAIN only read. */
  static boolean writes(LogicalPlan plan) {
    String name = plan.getClass().getSimpleName();
    if (plan instanceof Command && (name.startsWith("Show") || name.startsWith("Describe")
        || name.startsWith("Explain"))) {
      return false;
    }
    if (plan instanceof Command || plan instanceof InsertIntoStatement) {
      return true;
    }
    List<LogicalPlan> inner = new ArrayList<>(JavaConverters.seqAsJavaList(plan.children()));
    for (Object o : JavaConverters.seqAsJavaList(plan.innerChildren())) {
      if (o instanceof LogicalPlan p) {
        inner.add(p);
      }
    }
    return inner.stream().anyMatch(SqlQuery::writes);
  }
}
