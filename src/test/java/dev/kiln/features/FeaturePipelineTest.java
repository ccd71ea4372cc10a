package dev.kiln.features;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.KilnUserException;
import dev.kiln.testing.SharedSpark;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

/** The fit-time transforms learn from the training rows only and cope with what training never saw. */
class FeaturePipelineTest {
  private final SparkSession spark = SharedSpark.get();

  private static final StructType ROWS = new StructType()
      .add("event_id", DataTypes.StringType)
      .add("label", DataTypes.IntegerType)
      .add("device", DataTypes.StringType)
      .add("price_log", DataTypes.DoubleType)
      .add("user_ctr_events", DataTypes.LongType)
      .add("user_ctr_clicks", DataTypes.LongType);

  private static final FeatureSetSpec SPEC = new FeatureSetSpec("t", 1, null, null, "event_id", "timestamp",
      "label", null, List.of(), List.of(new FeatureSetSpec.Categorical("device", "onehot")),
      List.of(new FeatureSetSpec.Numeric("price_log", "price", "log1p", null, "median", "none")),
      List.of(new FeatureSetSpec.Aggregate("user_ctr", "user_id", "ctr", "all", 10.0)));

  private Dataset<Row> rows(Object[]... values) {
    return spark.createDataFrame(java.util.Arrays.stream(values).map(RowFactory::create).toList(), ROWS);
  }

  @Test
  void vocabulariesImputationAndTheCtrPriorComeFromTrainingRowsOnly() {
    Dataset<Row> train = rows(
        new Object[] {"a", 1, "mobile", 1.0, 0L, 0L},
        new Object[] {"b", 0, "mobile", 3.0, 10L, 5L},
        new Object[] {"c", 0, "desktop", null, 2L, 0L},
        new Object[] {"d", 1, "desktop", 5.0, 4L, 4L});
    Dataset<Row> test = rows(
        new Object[] {"x", 0, "tablet", null, 0L, 0L}, // unseen device, missing price, no history
        new Object[] {"y", 1, null, 100.0, 10L, 10L});
    List<PipelineStage> stages = FeaturePipeline.stages(SPEC, train, Optional.empty());
    PipelineModel model = new Pipeline().setStages(stages.toArray(PipelineStage[]::new)).fit(train);
    Map<String, Vector> out = model.transform(test).collectAsList().stream().collect(Collectors.toMap(
        r -> r.getAs("event_id"), r -> r.getAs(FeaturePipeline.FEATURES)));

    // layout: [price_log imputed, user_ctr smoothed, device one-hot: desktop, mobile, unknown]
    Vector x = out.get("x");
    assertEquals(5, x.size());
    assertEquals(3.0, x.apply(0), 1e-12, "missing price -> median of the training prices (1, 3, 5)");
    assertEquals(0.5, x.apply(1), 1e-12, "no history -> the prior: the training click rate 2/4");
    assertEquals(0.0, x.apply(2));
    assertEquals(0.0, x.apply(3));
    assertEquals(1.0, x.apply(4), "unseen 'tablet' -> the unknown bucket");
    Vector y = out.get("y");
    assertEquals(100.0, y.apply(0), "present values are kept, not clipped to training");
    assertEquals((10 + 10 * 0.5) / (10 + 10), y.apply(1), 1e-12);
    assertEquals(1.0, y.apply(4), "null device ('__missing__', never seen in training) -> unknown too");
  }

  @Test
  void theSmoothedCtrIsDoubleArithmeticNotDecimal() {
    Dataset<Row> train = rows(
        new Object[] {"a", 1, "mobile", 1.0, 3L, 1L},
        new Object[] {"b", 0, "mobile", 3.0, 7L, 2L},
        new Object[] {"c", 0, "desktop", 2.0, 0L, 0L});
    List<PipelineStage> stages = FeaturePipeline.stages(SPEC, train, Optional.empty());
    PipelineModel model = new Pipeline().setStages(stages.toArray(PipelineStage[]::new)).fit(train);
    // the CTR stage alone: with a plain 20.0 Spark SQL computes in decimal(38,16) and the Imputer casts back and forth
    Dataset<Row> ctr = model.stages()[0].transform(train);
    String plan = ctr.queryExecution().analyzed().toString();
    assertTrue(!plan.toLowerCase(java.util.Locale.ROOT).contains("decimal"), plan);
    assertEquals(DataTypes.DoubleType, ctr.schema().apply("a_user_ctr").dataType());
    double prior = 1.0 / 3;
    assertEquals((2 + 10 * prior) / (7 + 10), ctr.where("event_id = 'b'").first().<Double>getAs("a_user_ctr"), 1e-15);
    assertEquals("0.1D", FeaturePipeline.sqlDouble(0.1));
    assertEquals("1.0E-7D", FeaturePipeline.sqlDouble(1e-7));
    assertEquals(1e-7, spark.sql("SELECT " + FeaturePipeline.sqlDouble(1e-7) + " AS v").first().getDouble(0));
  }

  @Test
  void restrictingToNamedFeaturesChecksTheNames() {
    Dataset<Row> train = rows(new Object[] {"a", 1, "mobile", 1.0, 0L, 0L});
    List<PipelineStage> onlyCtr = FeaturePipeline.stages(SPEC, train, Optional.of(Set.of("user_ctr")));
    PipelineModel model = new Pipeline().setStages(onlyCtr.toArray(PipelineStage[]::new)).fit(train);
    assertEquals(1, model.transform(train).first().<Vector>getAs(FeaturePipeline.FEATURES).size());
    KilnUserException e = assertThrows(KilnUserException.class,
        () -> FeaturePipeline.stages(SPEC, train, Optional.of(Set.of("user_ctrr"))));
    assertTrue(e.getMessage().contains("unknown feature 'user_ctrr'"), e.getMessage());
  }
}
