package dev.kiln.train;

import static org.apache.spark.ml.functions.vector_to_array;
import static org.apache.spark.sql.functions.col;

import dev.kiln.common.PipelineStages;
import java.util.ArrayList;
import java.util.List;
import ml.dmlc.xgboost4j.scala.spark.XGBoostClassificationModel;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/**
 * What scoring does to turn feature-table rows into a model's outputs: the caller's columns, carried through, next to
 * {@link #SCORE} (the positive class's probability) and, when contributions are asked for, {@link #MARGIN} and
 * {@link #CONTRIBUTIONS} (XGBoost's SHAP values, one per booster input, then the bias).
 *
 * <p>The XGBoost models Kiln trains are applied by {@link BoosterApply} (their feature stages, then the native booster
 * on batches of rows); any other model by its saved pipeline's {@code transform}: the same numbers either way.
 */
public abstract class ModelApply {
  public static final String SCORE = "_score";
  public static final String MARGIN = "_margin";
  public static final String CONTRIBUTIONS = "_contributions";

  public static ModelApply of(PipelineModel model) {
    return BoosterApply.forModel(model).<ModelApply>map(b -> b).orElseGet(() -> new PipelineApply(model));
  }

  /** {@code carried} (expressions over the feature-table columns) followed by the model's output columns. */
  public abstract Dataset<Row> apply(Dataset<Row> rows, List<Column> carried, boolean contributions);

  /** The saved pipeline's own {@code transform}: MLlib models, the MLP, XGBoost pipelines of another layout. */
  static final class PipelineApply extends ModelApply {
    private static final String RAW_CONTRIBUTIONS = "_contrib";

    private final PipelineModel model;

    PipelineApply(PipelineModel model) {
      this.model = model;
    }

    @Override
    public Dataset<Row> apply(Dataset<Row> rows, List<Column> carried, boolean contributions) {
      List<Column> out = new ArrayList<>(carried);
      out.add(vector_to_array(col("probability"), "float64").getItem(1).as(SCORE));
      PipelineModel applied = model;
      if (contributions) {
        // a copy: setting the column on the loaded model's own stage would change it for later transforms
        applied = model.copy(new org.apache.spark.ml.param.ParamMap());
        List<XGBoostClassificationModel> xgb = PipelineStages.all(applied, XGBoostClassificationModel.class);
        if (xgb.isEmpty()) {
          throw new IllegalStateException("contributions need an XGBoost model");
        }
        xgb.get(xgb.size() - 1).setContribPredictionCol(RAW_CONTRIBUTIONS);
        out.add(vector_to_array(col("rawPrediction"), "float64").getItem(1).as(MARGIN));
        out.add(vector_to_array(col(RAW_CONTRIBUTIONS), "float64").as(CONTRIBUTIONS));
      }
      return applied.transform(rows).select(out.toArray(Column[]::new));
    }
  }
}
