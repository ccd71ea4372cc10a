package dev.kiln.features;

import static org.apache.spark.sql.functions.avg;
import static org.apache.spark.sql.functions.col;

import dev.kiln.common.KilnUserException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.feature.Imputer;
import org.apache.spark.ml.feature.OneHotEncoder;
import org.apache.spark.ml.feature.SQLTransformer;
import org.apache.spark.ml.feature.StandardScaler;
import org.apache.spark.ml.feature.StringIndexer;
import org.apache.spark.ml.feature.VectorAssembler;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/**
 * The transforms of a feature set that learn from data, as Spark ML stages to fit on the training split only and
 * save with the model (so scoring applies exactly the same transforms):
 * <ul>
 *   <li>CTR aggregates become {@code (clicks + smoothing * prior) / (events + smoothing)}, the prior being the
 *       training split's label rate (a global rate taken from the whole table would leak test labels, and change
 *       every row whenever data arrives);</li>
 *   <li>categorical columns: vocabularies by frequency with an explicit unknown bucket for unseen values (and
 *       {@code __missing__} for nulls), one-hot or index encoded; hour and day of week one-hot;</li>
 *   <li>numeric features and time-since-previous: imputed with training means / medians, optionally standardized;</li>
 *   <li>everything assembled into {@link #FEATURES}, the label cast to double in {@link #LABEL}.</li>
 * </ul>
 */
public final class FeaturePipeline {
  public static final String FEATURES = "features";
  public static final String LABEL = "_label";
  public static final String MISSING = "__missing__";

  private FeaturePipeline() {}

  /**
   * The unfitted stages for {@code spec}; {@code train} supplies the CTR prior. {@code only} restricts the features
   * used to the named ones (time features, categorical columns, numeric and aggregate names).
   */
  public static List<PipelineStage> stages(FeatureSetSpec spec, Dataset<Row> train, Optional<Set<String>> only) {
    return build(spec, train, only, Layout.ONE_HOT).stages();
  }

  /**
   * How categorical and time features are laid out: {@code ONE_HOT} vectors for linear models and neural nets, or
   * {@code TREES}: one numeric column each (category index, hour as a number), unscaled — what tree learners split
   * on. Both end in one assembled vector, {@link #FEATURES}.
   */
  public enum Layout { ONE_HOT, TREES }

  /**
   * @param columns for {@code TREES}: the numeric columns assembled into {@link #FEATURES}, in order (the names of
   *                XGBoost's f0, f1, ... in its feature importance)
   */
  public record Built(List<PipelineStage> stages, List<String> columns) {}

  public static Built build(FeatureSetSpec spec, Dataset<Row> train, Optional<Set<String>> only, Layout layout) {
    boolean trees = layout == Layout.TREES;
    Set<String> wanted = only.orElse(null);
    if (wanted != null) {
      Set<String> known = new LinkedHashSet<>(spec.timeFeatures());
      spec.categorical().forEach(c -> known.add(c.column()));
      spec.numeric().forEach(n -> known.add(n.name()));
      spec.aggregates().forEach(a -> known.add(a.name()));
      for (String w : wanted) {
        if (!known.contains(w)) {
          throw new KilnUserException("unknown feature '" + w + "' (feature set " + spec.name() + " has "
              + String.join(", ", known) + ")");
        }
      }
    }
    java.util.function.Predicate<String> use = n -> wanted == null || wanted.contains(n);

    List<String> select = new ArrayList<>();
    select.add("CAST(`" + spec.label() + "` AS DOUBLE) AS " + LABEL);
    List<String> vectors = new ArrayList<>();
    List<String> plain = new ArrayList<>();
    List<String> toImpute = new ArrayList<>();
    List<String> imputeStrategies = new ArrayList<>();
    List<String> toScale = new ArrayList<>();
    List<String> oneHotIn = new ArrayList<>(); // categorical indexes: the indexer already has an unknown bucket
    List<String> oneHotTime = new ArrayList<>(); // hour, day of week: a value training never saw gets an extra slot
    List<String> indexIn = new ArrayList<>();
    List<String> indexOut = new ArrayList<>();

    for (String t : spec.timeFeatures()) {
      if (!use.test(t)) {
        continue;
      }
      select.add("CAST(`" + t + "` AS DOUBLE) AS `t_" + t + "`");
      if (t.equals("is_weekend") || trees) {
        plain.add("t_" + t);
      } else {
        oneHotTime.add("t_" + t);
      }
    }
    for (FeatureSetSpec.Categorical c : spec.categorical()) {
      if (!use.test(c.column())) {
        continue;
      }
      select.add("COALESCE(CAST(`" + c.column() + "` AS STRING), '" + MISSING + "') AS `c_" + c.column() + "`");
      indexIn.add("c_" + c.column());
      indexOut.add("i_" + c.column());
      if (c.encoding().equals("onehot") && !trees) {
        oneHotIn.add("i_" + c.column());
      } else {
        plain.add("i_" + c.column());
      }
    }
    for (FeatureSetSpec.Numeric n : spec.numeric()) {
      if (!use.test(n.name())) {
        continue;
      }
      select.add("CAST(`" + n.name() + "` AS DOUBLE) AS `n_" + n.name() + "`");
      String column = "n_" + n.name();
      if (!n.impute().equals("none")) {
        toImpute.add(column);
        imputeStrategies.add(n.impute());
        column = column + "_imp";
      }
      (n.scale().equals("standard") && !trees ? toScale : plain).add(column);
    }
    Optional<Double> prior = Optional.empty();
    for (FeatureSetSpec.Aggregate a : spec.aggregates()) {
      if (!use.test(a.name())) {
        continue;
      }
      String out = "a_" + a.name();
      switch (a.function()) {
        case "ctr" -> {
          if (prior.isEmpty()) {
            Row r = train.agg(avg(col(spec.label()).cast("double"))).first();
            prior = Optional.of(r.isNullAt(0) ? 0.0 : r.getDouble(0));
          }
          // double literals ("20.0D"): Spark SQL reads a plain 20.0 as DECIMAL, which made every row's CTR a
          // decimal(38,16) division (two thirds of the feature stages' CPU when scoring) and then a cast back
          select.add(String.format(Locale.ROOT, "(`%s` + %s * %s) / (`%s` + %s) AS `%s`", a.ctrClicksColumn(),
              sqlDouble(a.smoothing()), sqlDouble(prior.get()), a.ctrEventsColumn(), sqlDouble(a.smoothing()), out));
          toImpute.add(out); // only null when smoothing is 0 and there is no history
          imputeStrategies.add("mean");
          plain.add(out + "_imp");
        }
        case "time_since_previous" -> {
          select.add("LOG1P(`" + a.name() + "`) AS `" + out + "`"); // null: no earlier event
          toImpute.add(out);
          imputeStrategies.add("median");
          plain.add(out + "_imp");
        }
        default -> {
          select.add("CAST(`" + a.name() + "` AS DOUBLE) AS `" + out + "`");
          plain.add(out);
        }
      }
    }
    if (plain.isEmpty() && oneHotIn.isEmpty() && oneHotTime.isEmpty() && toScale.isEmpty()) {
      throw new KilnUserException("no features selected from feature set " + spec.name());
    }

    List<PipelineStage> stages = new ArrayList<>();
    stages.add(new SQLTransformer().setStatement("SELECT *, " + String.join(", ", select) + " FROM __THIS__"));
    if (!indexIn.isEmpty()) {
      stages.add(new StringIndexer().setInputCols(indexIn.toArray(String[]::new))
          .setOutputCols(indexOut.toArray(String[]::new)).setHandleInvalid("keep")
          .setStringOrderType("frequencyDesc"));
    }
    for (List<String> group : List.of(oneHotTime, oneHotIn)) {
      if (!group.isEmpty()) {
        stages.add(new OneHotEncoder().setInputCols(group.toArray(String[]::new))
            .setOutputCols(group.stream().map(c -> c + "_vec").toArray(String[]::new))
            .setDropLast(false).setHandleInvalid(group == oneHotTime ? "keep" : "error"));
        group.forEach(c -> vectors.add(c + "_vec"));
      }
    }
    // one Imputer per strategy: Spark's Imputer takes a single strategy for all its columns
    for (String strategy : new LinkedHashSet<>(imputeStrategies)) {
      List<String> cols = new ArrayList<>();
      for (int i = 0; i < toImpute.size(); i++) {
        if (imputeStrategies.get(i).equals(strategy)) {
          cols.add(toImpute.get(i));
        }
      }
      stages.add(new Imputer().setStrategy(strategy).setInputCols(cols.toArray(String[]::new))
          .setOutputCols(cols.stream().map(c -> c + "_imp").toArray(String[]::new)));
    }
    if (!toScale.isEmpty()) {
      stages.add(new VectorAssembler().setInputCols(toScale.toArray(String[]::new)).setOutputCol("_to_scale")
          .setHandleInvalid("keep"));
      stages.add(new StandardScaler().setInputCol("_to_scale").setOutputCol("_scaled").setWithMean(true)
          .setWithStd(true));
      vectors.add("_scaled");
    }
    List<String> inputs = new ArrayList<>(plain);
    inputs.addAll(vectors);
    stages.add(new VectorAssembler().setInputCols(inputs.toArray(String[]::new)).setOutputCol(FEATURES)
        .setHandleInvalid("keep"));
    return new Built(stages, trees ? List.copyOf(plain) : List.of());
  }

  /** {@code v} as a Spark SQL DOUBLE literal (the shortest decimal string that reads back as exactly {@code v}). */
  static String sqlDouble(double v) {
    if (!Double.isFinite(v)) {
      throw new IllegalArgumentException("not a finite number: " + v);
    }
    return Double.toString(v) + "D";
  }
}
