import static org.apache.spark.sql.functions.col;

import dev.kiln.common.DataRoot;
import dev.kiln.common.Json;
import dev.kiln.common.SparkSessions;
import dev.kiln.features.FeaturePipeline;
import dev.kiln.features.TrainsetJob;
import dev.kiln.features.TrainsetManifest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import ml.dmlc.xgboost4j.java.Booster;
import ml.dmlc.xgboost4j.java.DMatrix;
import ml.dmlc.xgboost4j.java.XGBoost;
import ml.dmlc.xgboost4j.scala.spark.XGBoostClassificationModel;
import ml.dmlc.xgboost4j.scala.spark.XGBoostClassifier;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.evaluation.BinaryClassificationEvaluator;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * XGBoost4J-Spark vs plain xgboost4j (no Spark) on the same matrix, parameters and thread count.
 * Args: DATA_ROOT TRAINSET_ID [ROUNDS=300] [REPEATS=3] [THREADS=cores]. Both learners get the trainset's train split
 * after Kiln's fitted feature pipeline (tree layout), 300 rounds, depth 6, eta 0.05, hist, logloss evaluated on the
 * training data every round (what XGBoost4J-Spark does), no early stopping. XGBoost4J-Spark runs one worker with
 * nthread = THREADS on input already in one cached partition (repartition(1): a coalesce may not feed a barrier stage) (spark.task.cpus = THREADS), as recommended on one box.
 * Timed: fit() / XGBoost.train() only, median of REPEATS after a warm-up. Prints a table and writes
 * bench/results/xgboost-<rows>.json.
 */
public class XgboostBench {
  public static void main(String[] args) throws Exception {
    String root = args[0];
    String id = args[1];
    int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 300;
    int repeats = args.length > 3 ? Integer.parseInt(args[3]) : 3;
    int threads = args.length > 4 ? Integer.parseInt(args[4]) : Runtime.getRuntime().availableProcessors();
    System.setProperty("spark.master", "local[" + threads + "]");
    System.setProperty("spark.task.cpus", String.valueOf(threads));
    System.setProperty("spark.ui.enabled", "false");
    SparkSession spark = SparkSessions.getOrCreate("xgboost bench");

    TrainsetManifest m = TrainsetJob.readManifest(spark, DataRoot.of(root), id).orElseThrow();
    Dataset<Row> rows = spark.read().format("delta").load(m.dataPath());
    Dataset<Row> train = rows.where(col("split").equalTo("train"));
    Dataset<Row> test = rows.where(col("split").equalTo("test"));
    FeaturePipeline.Built built = FeaturePipeline.build(m.featureSetSpec(), train, Optional.empty(),
        FeaturePipeline.Layout.TREES);
    List<PipelineStage> stages = new ArrayList<>(built.stages());
    stages.add(new dev.kiln.train.DenseFeatures()); // as kiln train does: XGBoost4J-Spark misreads sparse rows
    PipelineModel prep = new Pipeline().setStages(stages.toArray(PipelineStage[]::new)).fit(train);
    Dataset<Row> trainX = prep.transform(train).select(FeaturePipeline.FEATURES, FeaturePipeline.LABEL).repartition(1)
        .cache();
    Dataset<Row> testX = prep.transform(test).select(FeaturePipeline.FEATURES, FeaturePipeline.LABEL).cache();
    long n = trainX.count();
    testX.count();
    int cols = built.columns().size();
    System.out.printf("matrix: %,d train rows x %d features, %,d test rows; %d rounds, %d threads%n", n, cols,
        testX.count(), rounds, threads);

    // the same matrix for plain xgboost4j: dense row-major floats (the bench may collect; Kiln's jobs never do)
    float[][] trainM = toMatrix(trainX, cols);
    float[][] testM = toMatrix(testX, cols);

    Map<String, Object> params = new HashMap<>();
    params.put("objective", "binary:logistic");
    params.put("eval_metric", "logloss");
    params.put("tree_method", "hist");
    params.put("max_depth", 6);
    params.put("eta", 0.05);
    params.put("nthread", threads);
    params.put("seed", 42);

    List<Double> plainTimes = new ArrayList<>();
    List<Double> sparkTimes = new ArrayList<>();
    double plainAuc = 0;
    double sparkAuc = 0;
    for (int r = 0; r <= repeats; r++) { // r = 0: warm-up, not counted
      DMatrix dtrain = new DMatrix(trainM[0], (int) n, cols, Float.NaN);
      dtrain.setLabel(trainM[1]);
      long t0 = System.nanoTime();
      Booster booster = XGBoost.train(dtrain, params, rounds, Map.of("train", dtrain), null, null);
      double plain = (System.nanoTime() - t0) / 1e9;
      DMatrix dtest = new DMatrix(testM[0], testM[1].length, cols, Float.NaN);
      float[][] p = booster.predict(dtest);
      plainAuc = auc(p, testM[1]);

      XGBoostClassifier x = new XGBoostClassifier();
      x.setFeaturesCol(FeaturePipeline.FEATURES);
      x.setLabelCol(FeaturePipeline.LABEL);
      x.setTreeMethod("hist");
      x.setMaxDepth(6);
      x.setEta(0.05);
      x.setNumRound(rounds);
      x.setNumWorkers(1);
      x.setNthread(threads);
      x.setSeed(42);
      x.setMissing(Float.NaN); // see Estimators.MISSING
      long t1 = System.nanoTime();
      XGBoostClassificationModel model = x.fit(trainX);
      double distributed = (System.nanoTime() - t1) / 1e9;
      sparkAuc = new BinaryClassificationEvaluator().setLabelCol(FeaturePipeline.LABEL)
          .setRawPredictionCol("probability").setNumBins(0).evaluate(model.transform(testX));
      System.out.printf("run %d: plain xgboost4j %.2f s, XGBoost4J-Spark %.2f s%s%n", r, plain, distributed,
          r == 0 ? " (warm-up)" : "");
      if (r > 0) {
        plainTimes.add(plain);
        sparkTimes.add(distributed);
      }
    }
    double plain = median(plainTimes);
    double distributed = median(sparkTimes);
    System.out.println();
    System.out.println("| learner | median fit s | test ROC AUC |");
    System.out.println("| --- | --- | --- |");
    System.out.printf("| plain xgboost4j (XGBoost.train) | %.2f | %.4f |%n", plain, plainAuc);
    System.out.printf("| XGBoost4J-Spark (1 worker, nthread %d) | %.2f | %.4f |%n", threads, distributed, sparkAuc);
    System.out.printf("ratio XGBoost4J-Spark / plain: %.2fx (target <= 1.2x)%n", distributed / plain);

    Map<String, Object> json = new LinkedHashMap<>();
    json.put("train_rows", n);
    json.put("features", cols);
    json.put("rounds", rounds);
    json.put("threads", threads);
    json.put("plain_s", plainTimes);
    json.put("spark_s", sparkTimes);
    json.put("plain_auc", plainAuc);
    json.put("spark_auc", sparkAuc);
    json.put("ratio", distributed / plain);
    Files.createDirectories(Path.of("bench/results"));
    Files.writeString(Path.of("bench/results/xgboost-" + n + ".json"), Json.toPrettyJson(json));
    spark.stop();
  }

  /** {row-major features, labels} */
  private static float[][] toMatrix(Dataset<Row> data, int cols) {
    List<Row> rows = data.collectAsList();
    float[] x = new float[rows.size() * cols];
    float[] y = new float[rows.size()];
    for (int i = 0; i < rows.size(); i++) {
      Vector v = rows.get(i).getAs(0);
      for (int j = 0; j < cols; j++) {
        x[i * cols + j] = (float) v.apply(j);
      }
      y[i] = (float) rows.get(i).getDouble(1);
    }
    return new float[][] {x, y};
  }

  private static double auc(float[][] p, float[] y) {
    Integer[] order = new Integer[y.length];
    for (int i = 0; i < y.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> Float.compare(p[a][0], p[b][0]));
    double rankSum = 0;
    long pos = 0;
    for (int i = 0; i < order.length; i++) {
      if (y[order[i]] > 0.5) {
        rankSum += i + 1;
        pos++;
      }
    }
    long neg = y.length - pos;
    return (rankSum - pos * (pos + 1) / 2.0) / ((double) pos * neg);
  }

  private static double median(List<Double> v) {
    List<Double> s = new ArrayList<>(v);
    s.sort(Double::compare);
    return s.get(s.size() / 2);
  }
}
