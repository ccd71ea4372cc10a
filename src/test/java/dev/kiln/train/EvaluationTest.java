package dev.kiln.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kiln.testing.SharedSpark;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.spark.ml.evaluation.BinaryClassificationEvaluator;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

/** The held-out areas are exact: ROC AUC as the rank statistic counted by hand, PR AUC as Spark's evaluator. */
class EvaluationTest {
  private final SparkSession spark = SharedSpark.get();

  @Test
  void areasAreExactWithTiedScores() {
    Random random = new Random(7);
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < 2_000; i++) {
      int label = random.nextDouble() < 0.2 ? 1 : 0;
      // scores on a coarse grid, so that many positives and negatives tie
      double p = Math.min(1, Math.round((0.3 * label + 0.7 * random.nextDouble()) * 50) / 50.0);
      rows.add(RowFactory.create(label, p));
    }
    Dataset<Row> scored = spark.createDataFrame(rows, new StructType()
        .add("label", DataTypes.IntegerType).add("p", DataTypes.DoubleType)).repartition(3);

    Evaluation.Result result = Evaluation.evaluate(scored, "label", "p", 0.5);

    // P(score of a random positive > score of a random negative), ties counting one half
    double wins = 0;
    long pairs = 0;
    for (Row a : rows) {
      for (Row b : rows) {
        if (a.getInt(0) == 1 && b.getInt(0) == 0) {
          pairs++;
          wins += Double.compare(a.getDouble(1), b.getDouble(1)) > 0 ? 1 : a.getDouble(1) == b.getDouble(1) ? 0.5 : 0;
        }
      }
    }
    assertEquals(wins / pairs, result.metrics().get("roc_auc"), 1e-12);
    Dataset<Row> doubles = scored.selectExpr("cast(label as double) as label", "p");
    double pr = new BinaryClassificationEvaluator().setLabelCol("label").setRawPredictionCol("p").setNumBins(0)
        .setMetricName("areaUnderPR").evaluate(doubles);
    assertEquals(pr, result.metrics().get("pr_auc"), 1e-12);
    assertEquals(2_000.0, result.metrics().get("test_rows"));
  }
}
