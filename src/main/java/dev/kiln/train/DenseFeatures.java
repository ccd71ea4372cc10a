package dev.kiln.train;

import static org.apache.spark.ml.functions.array_to_vector;
import static org.apache.spark.ml.functions.vector_to_array;
import static org.apache.spark.sql.functions.col;

import dev.kiln.features.FeaturePipeline;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;

/**
 * Rewrites the feature vector as a dense vector, in fit and in transform. XGBoost4J-Spark 3.4 reads the entries a
 * sparse vector does not store as missing when it predicts, whatever {@code missing} is set to, while a dense vector's
 * zeros are values: VectorAssembler emits sparse vectors for rows that are mostly zero, so without this stage those
 * rows were scored as if their zero features were unknown (found by comparing the Spark model's predictions with the
 * native booster's, see native_check.csv). Saved with the pipeline like any Spark ML stage.
 */
public final class DenseFeatures extends Transformer implements DefaultParamsWritable {
  private final String uid;

  public DenseFeatures() {
    this(Identifiable.randomUID("denseFeatures"));
  }

  public DenseFeatures(String uid) {
    this.uid = uid;
  }

  @Override
  public Dataset<Row> transform(Dataset<?> dataset) {
    return dataset.withColumn(FeaturePipeline.FEATURES,
        array_to_vector(vector_to_array(col(FeaturePipeline.FEATURES), "float64")));
  }

  @Override
  public StructType transformSchema(StructType schema) {
    return schema;
  }

  @Override
  public DenseFeatures copy(ParamMap extra) {
    return defaultCopy(extra);
  }

  @Override
  public String uid() {
    return uid;
  }

  /** How {@code PipelineModel.load} reads this stage back. */
  public static MLReader<DenseFeatures> read() {
    return new DefaultParamsReader<>();
  }
}
