package dev.kiln.features;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;

import dev.kiln.common.TableRef;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;

/**
 * Feature-table rows for events that are not (or not yet) in the feature table — what {@code kiln score} needs for
 * new events — computed by the same code that builds {@code features.<set>}, so training and scoring features cannot
 * drift apart.
 *
 * <p>The events to score are added to the source table's history (those already in it keep the history's row, label
 * included), and their rows are computed as an incremental feature run computes new rows: from each entity's events
 * since its earliest scored event minus the longest window, plus a one-row summary of older history (see
 * {@link PointInTimeAggregates}). A scored event therefore sees exactly the events strictly before it, the same as in
 * the feature table; other events being scored count as events, and in CTRs only once their label is known.
 */
public final class PointInTimeFeatures {
  private final FeatureSetSpec spec;
  private final String where;

  /** @param where names the spec's origin in error messages, e.g. the model it belongs to */
  public PointInTimeFeatures(FeatureSetSpec spec, String where) {
    this.spec = spec;
    this.where = where;
  }

  /**
   * The feature-table columns (in table order) for every row of {@code input}, one row per distinct event key.
   *
   * @param history the feature set's source table (at the version to compute against)
   * @param input   the events to score: the source's columns the spec reads; the label may be absent or null
   */
  public Dataset<Row> compute(Dataset<Row> history, TableRef historyRef, Dataset<Row> input, TableRef inputRef) {
    Dataset<Row> labeled = Arrays.asList(input.columns()).contains(spec.label()) ? input
        : input.withColumn(spec.label(), lit(null).cast(DataTypes.IntegerType));
    FeatureColumns historyColumns = new FeatureColumns(spec, where, history.schema(), historyRef);
    FeatureColumns inputColumns = new FeatureColumns(spec, where, labeled.schema(), inputRef);
    String key = spec.eventKey();
    Dataset<Row> past = historyColumns.events(history);
    Dataset<Row> scored = inputColumns.events(labeled).dropDuplicates(key);
    Dataset<Row> unseen = scored.join(past.select(key), new String[] {key}, "left_anti");
    Dataset<Row> events = past.unionByName(unseen);
    Dataset<Row> fresh = events.join(scored.select(key), new String[] {key}, "left_semi");

    PointInTimeAggregates aggregates = new PointInTimeAggregates(spec);
    Dataset<Row> rows = fresh.select(historyColumns.rowFeatures().toArray(Column[]::new));
    for (String entity : spec.entities()) {
      rows = rows.join(aggregates.affectedRows(events, fresh, entity), new String[] {key}, "left");
    }
    List<Column> out = new ArrayList<>();
    historyColumns.tableColumns().forEach(c -> out.add(col(c)));
    return rows.select(out.toArray(Column[]::new));
  }

  /** The feature-table columns a model can be fed (every column but key, time, date, label and entity ids). */
  public List<String> modelInputColumns() {
    List<String> out = new ArrayList<>(FeatureStats.numericColumns(spec));
    out.remove(spec.label());
    out.addAll(FeatureStats.categoricalColumns(spec));
    return out;
  }

  /** The source columns the feature set reads from each event: key, time, entities, categorical and numeric inputs. */
  public List<String> sourceColumns() {
    List<String> names = new ArrayList<>(List.of(spec.eventKey(), spec.eventTime()));
    names.addAll(spec.entities());
    spec.categorical().forEach(c -> names.add(c.column()));
    spec.numeric().forEach(n -> names.add(n.column()));
    return names.stream().distinct().toList();
  }
}
