package dev.kiln.train;

import static org.apache.spark.sql.functions.avg;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.floor;
import static org.apache.spark.sql.functions.greatest;
import static org.apache.spark.sql.functions.least;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.log;
import static org.apache.spark.sql.functions.pow;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.when;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.mllib.evaluation.BinaryClassificationMetrics;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import scala.Tuple2;

/**
 * Held-out metrics from a scored test set ({@code label} 0/1 and {@code p} = P(label = 1)): ROC AUC and PR AUC
 * (Spark's exact areas), log loss, Brier score, precision / recall / F1 at a threshold, and the points of the ROC and
 * calibration curves. Everything is a distributed aggregation; only the aggregates reach the driver.
 */
public final class Evaluation {
  static final int ROC_BINS = 100;
  static final int CALIBRATION_BINS = 10;

  /** @param roc (fpr, tpr) points from threshold 1 down to 0; @param calibration (mean p, observed rate, rows) */
  public record Result(Map<String, Double> metrics, List<double[]> roc, List<double[]> calibration) {}

  private Evaluation() {}

  public static Result evaluate(Dataset<Row> scored, String label, String p, double threshold) {
    Dataset<Row> s = scored.select(col(label).cast(DataTypes.DoubleType).as("y"), col(p).cast(DataTypes.DoubleType)
        .as("p")).cache();
    try {
      Map<String, Double> m = new LinkedHashMap<>();
      // numBins 0: exact areas. The default 1000 bins down-samples the sorted scores, and which scores land in a bin
      // depends on the partitioning, so the same predictions gave AUCs differing in the 5th decimal across runs.
      // One metrics object for both areas: its sorted cumulative counts are computed once (the evaluator would sort
      // the scores once per metric).
      BinaryClassificationMetrics areas = new BinaryClassificationMetrics(
          s.select("p", "y").javaRDD().map(r -> new Tuple2<Object, Object>(r.getDouble(0), r.getDouble(1))).rdd(), 0);
      try {
        m.put("roc_auc", areas.areaUnderROC());
        m.put("pr_auc", areas.areaUnderPR());
      } finally {
        areas.unpersist();
      }
      Column clipped = least(greatest(col("p"), lit(1e-15)), lit(1 - 1e-15));
      Column predicted = col("p").geq(threshold);
      Row a = s.agg(count(lit(1)),
          avg(col("y").multiply(log(clipped)).plus(lit(1).minus(col("y")).multiply(log(lit(1).minus(clipped))))),
          avg(pow(col("p").minus(col("y")), 2)),
          sum(when(predicted.and(col("y").equalTo(1)), 1).otherwise(0)),
          sum(when(predicted.and(col("y").equalTo(0)), 1).otherwise(0)),
          sum(when(col("p").lt(threshold).and(col("y").equalTo(1)), 1).otherwise(0)),
          avg(col("y"))).first();
      long tp = a.getLong(3);
      long fp = a.getLong(4);
      long fn = a.getLong(5);
      double precision = tp + fp == 0 ? 0 : tp / (double) (tp + fp);
      double recall = tp + fn == 0 ? 0 : tp / (double) (tp + fn);
      m.put("log_loss", -a.getDouble(1));
      m.put("brier", a.getDouble(2));
      m.put("precision", precision);
      m.put("recall", recall);
      m.put("f1", precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall));
      m.put("threshold", threshold);
      m.put("test_rows", (double) a.getLong(0));
      m.put("test_positive_rate", a.getDouble(6));

      // per-bin counts of positives and negatives, then cumulated from the highest scores down
      Column bin = least(floor(col("p").multiply(ROC_BINS)), lit(ROC_BINS - 1)).cast(DataTypes.IntegerType);
      long[] pos = new long[ROC_BINS];
      long[] neg = new long[ROC_BINS];
      for (Row r : s.groupBy(bin.as("b")).agg(sum(col("y")).cast(DataTypes.LongType), count(lit(1)))
          .collectAsList()) {
        pos[r.getInt(0)] = r.getLong(1);
        neg[r.getInt(0)] = r.getLong(2) - r.getLong(1);
      }
      long totalPos = java.util.Arrays.stream(pos).sum();
      long totalNeg = java.util.Arrays.stream(neg).sum();
      List<double[]> roc = new ArrayList<>();
      roc.add(new double[] {0, 0});
      long cp = 0;
      long cn = 0;
      for (int b = ROC_BINS - 1; b >= 0; b--) {
        cp += pos[b];
        cn += neg[b];
        roc.add(new double[] {totalNeg == 0 ? 0 : cn / (double) totalNeg, totalPos == 0 ? 0 : cp / (double) totalPos});
      }
      Column cbin = least(floor(col("p").multiply(CALIBRATION_BINS)), lit(CALIBRATION_BINS - 1));
      List<double[]> calibration = new ArrayList<>();
      for (Row r : s.groupBy(cbin.as("b")).agg(avg("p"), avg("y"), count(lit(1))).orderBy("b").collectAsList()) {
        calibration.add(new double[] {r.getDouble(1), r.getDouble(2), r.getLong(3)});
      }
      return new Result(m, roc, calibration);
    } finally {
      s.unpersist();
    }
  }
}
