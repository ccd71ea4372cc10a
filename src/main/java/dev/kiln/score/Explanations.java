package dev.kiln.score;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.expr;
import static org.apache.spark.sql.functions.lit;

import dev.kiln.features.FeaturePipeline;
import dev.kiln.train.ModelApply;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.feature.VectorAssembler;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Per-prediction explanations: XGBoost's SHAP values ({@code predictContrib}, computed on the executors with the
 * scoring itself: {@link ModelApply#CONTRIBUTIONS}), named after the feature pipeline's columns. A prediction keeps its
 * top-K contributions by absolute value, the bias (the expected margin), and its margin: all contributions plus the
 * bias add up to the margin.
 *
 * <p>The three columns always exist in the predictions table (null without {@code --explain}), so batches scored with
 * and without explanations share one schema.
 */
final class Explanations {
  static final String CONTRIBUTIONS = "contributions";
  static final String BIAS = "contribution_bias";
  static final String MARGIN = "margin";
  private static final String RAW = ModelApply.CONTRIBUTIONS;
  static final DataType CONTRIBUTION_TYPE = DataTypes.createArrayType(new StructType()
      .add("feature", DataTypes.StringType).add("contribution", DataTypes.DoubleType));

  private final boolean contributions;
  private final List<Column> columns;

  private Explanations(boolean contributions, List<Column> columns) {
    this.contributions = contributions;
    this.columns = columns;
  }

  /** The output columns for the top {@code k} contributions of {@code model}'s predictions (none when 0). */
  static Explanations prepare(PipelineModel model, int k) {
    if (k == 0) {
      return new Explanations(false, List.of(lit(null).cast(CONTRIBUTION_TYPE).as(CONTRIBUTIONS),
          lit(null).cast(DataTypes.DoubleType).as(BIAS), lit(null).cast(DataTypes.DoubleType).as(MARGIN)));
    }
    List<String> names = featureNames(model);
    int n = names.size();
    String literal = names.stream().map(s -> "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'")
        .collect(Collectors.joining(", ", "array(", ")"));
    // (feature, contribution) for each input, sorted by |contribution| descending, ties by name; top k kept
    Column top = expr("slice(array_sort(transform(sequence(0, " + (n - 1) + "), i -> named_struct('feature', "
        + "element_at(" + literal + ", i + 1), 'contribution', element_at(" + RAW + ", i + 1))), "
        + "(l, r) -> CASE WHEN abs(l.contribution) > abs(r.contribution) THEN -1 "
        + "WHEN abs(l.contribution) < abs(r.contribution) THEN 1 "
        + "WHEN l.feature < r.feature THEN -1 WHEN l.feature > r.feature THEN 1 ELSE 0 END), 1, " + k + ")");
    List<Column> cols = new ArrayList<>();
    cols.add(top.cast(CONTRIBUTION_TYPE).as(CONTRIBUTIONS));
    cols.add(expr("element_at(" + RAW + ", " + (n + 1) + ")").as(BIAS)); // XGBoost puts the bias last
    cols.add(col(ModelApply.MARGIN).as(MARGIN));
    return new Explanations(true, cols);
  }

  /** Whether the model must be applied with contributions ({@link ModelApply#apply}). */
  boolean contributions() {
    return contributions;
  }

  List<Column> columns() {
    return columns;
  }

  /**
   * XGBoost's inputs f0, f1, ... are the columns of the assembler that builds {@link FeaturePipeline#FEATURES}, in
   * order; shown without the pipeline's prefixes and suffixes ({@code a_user_ctr_imp} is {@code user_ctr}).
   */
  static List<String> featureNames(PipelineModel model) {
    VectorAssembler assembler = null;
    for (VectorAssembler a : all(model, VectorAssembler.class)) {
      if (FeaturePipeline.FEATURES.equals(a.getOutputCol())) {
        assembler = a;
      }
    }
    if (assembler == null) {
      throw new IllegalStateException("the model has no assembler of '" + FeaturePipeline.FEATURES + "'");
    }
    List<String> names = new ArrayList<>();
    for (String c : assembler.getInputCols()) {
      names.add(c.replaceFirst("^[tcina]_", "").replaceFirst("_imp$", ""));
    }
    return names;
  }

  private static <T> List<T> all(PipelineModel model, Class<T> type) {
    return dev.kiln.common.PipelineStages.all(model, type);
  }
}
