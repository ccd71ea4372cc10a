package dev.kiln.train;

import dev.kiln.common.KilnUserException;
import dev.kiln.features.FeaturePipeline;
import ml.dmlc.xgboost4j.scala.spark.XGBoostClassifier;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.classification.GBTClassifier;
import org.apache.spark.ml.classification.LogisticRegression;
import org.apache.spark.ml.classification.RandomForestClassifier;
import org.apache.spark.sql.SparkSession;

/** The Spark ML estimator for each model type, configured from {@link ModelParams}. */
final class Estimators {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Estimators.class);
  static final String PROBABILITY = "probability";

  private Estimators() {}

  static PipelineStage mllib(ModelParams p, long seed) {
    return switch (p.model()) {
      case LOGREG -> new LogisticRegression().setFeaturesCol(FeaturePipeline.FEATURES)
          .setLabelCol(FeaturePipeline.LABEL).setMaxIter(p.integer("max_iter")).setRegParam(p.real("reg_param"))
          .setElasticNetParam(p.real("elastic_net"));
      case GBT -> new GBTClassifier().setFeaturesCol(FeaturePipeline.FEATURES).setLabelCol(FeaturePipeline.LABEL)
          .setMaxIter(p.integer("max_iter")).setMaxDepth(p.integer("max_depth")).setStepSize(p.real("step_size"))
          .setSeed(seed);
      case RF -> new RandomForestClassifier().setFeaturesCol(FeaturePipeline.FEATURES)
          .setLabelCol(FeaturePipeline.LABEL).setNumTrees(p.integer("num_trees")).setMaxDepth(p.integer("max_depth"))
          .setSeed(seed);
      case XGBOOST, MLP -> throw new IllegalArgumentException(p.model().id() + " has its own trainer");
    };
  }

  /**
   * Missing is NaN, XGBoost's own convention (and Python's default), on the dense vectors {@link DenseFeatures}
   * makes: a stored zero is a value. (XGBoost4J-Spark 3.4's multi-column input, {@code featuresCols}, returns wrong
   * probabilities from {@code transform}, so the assembled vector is used.)
   */
  static final float MISSING = Float.NaN;

  /**
   * The device XGBoost trains on. A GPU is a runtime capability, not a build assumption: {@code cuda} without the GPU
   * build ({@code mvn -Pgpu}) or without a GPU on the driver's machine falls back to the CPU with a warning. (On a
   * cluster the executors' GPUs are Spark's resource scheduling's business; the driver's probe then only warns.)
   */
  static String device(String requested, boolean gpuBuild, boolean gpuVisible, boolean localMode) {
    if (!requested.equals("cuda")) {
      return requested;
    }
    if (!gpuBuild) {
      LOG.warn("device = cuda, but this build has XGBoost's CPU-only artifact (build with mvn -Pgpu): training on "
          + "the CPU");
      return "cpu";
    }
    if (!gpuVisible && localMode) {
      LOG.warn("device = cuda, but no NVIDIA GPU is visible (/dev/nvidia0): training on the CPU");
      return "cpu";
    }
    return "cuda";
  }

  /** {@link #device} for this machine and session. */
  static String device(SparkSession spark, String requested) {
    return device(requested, dev.kiln.common.BuildInfo.xgboostGpuBuild(),
        java.nio.file.Files.exists(java.nio.file.Path.of("/dev/nvidia0")), spark.sparkContext().isLocal());
  }

  /**
   * XGBoost keeps its training matrices in native memory, outside the JVM heap: about rows × features × 4 bytes for
   * the float matrix, and as much again for the quantized copy and gradients. The estimate is logged; in local mode,
   * where the executors share this machine, a matrix that cannot fit beside the JVM heap is refused up front instead
   * of ending in a native out-of-memory kill.
   */
  static void checkNativeMemory(SparkSession spark, long rows, int features) {
    long needed = rows * (long) features * 4L * 2L;
    LOG.info("XGBoost: {} rows x {} features, about {} MB of native memory for its matrices", rows, features,
        needed >> 20);
    if (!spark.sparkContext().isLocal()) {
      return;
    }
    var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
        .getOperatingSystemMXBean();
    long outsideHeap = os.getTotalMemorySize() - Runtime.getRuntime().maxMemory();
    if (needed > outsideHeap) {
      throw new KilnUserException(String.format("XGBoost needs about %,d MB of native memory for %,d rows x %d "
          + "features, but this machine has %,d MB outside the JVM heap (-Xmx): lower -Xmx, sample the trainset or "
          + "train on a cluster", needed >> 20, rows, features, Math.max(0, outsideHeap) >> 20));
    }
  }

  static int taskCpus(SparkSession spark) {
    return spark.sparkContext().getConf().getInt("spark.task.cpus", 1);
  }

  /** Tasks Spark can run at once: XGBoost's barrier-mode workers must all fit. */
  static int taskSlots(SparkSession spark) {
    return Math.max(1, spark.sparkContext().defaultParallelism() / taskCpus(spark));
  }

  /**
   * XGBoost4J-Spark on the assembled feature vector. Its setters are Scala trait setters returning an erased
   * type, so they are called one by one. Workers run in barrier mode: asking for more than the free task slots would
   * wait forever, so that is refused up front.
   */
  static XGBoostClassifier xgboost(SparkSession spark, ModelParams p, String device, long seed,
                                   boolean earlyStopping) {
    int taskCpus = taskCpus(spark);
    int slots = taskSlots(spark);
    int workers = p.integer("num_workers") == 0 ? Math.min(slots, 2) : p.integer("num_workers");
    int nthread = p.integer("nthread") == 0 ? taskCpus : p.integer("nthread");
    if (workers > slots) {
      throw new KilnUserException("num_workers = " + workers + " but Spark has only " + slots + " task slot(s); "
          + "XGBoost's workers must all run at once (lower num_workers or add executors)");
    }
    if (nthread > taskCpus) {
      throw new KilnUserException("nthread = " + nthread + " exceeds spark.task.cpus = " + taskCpus
          + " (XGBoost4J-Spark refuses it; raise spark.task.cpus or lower nthread)");
    }
    XGBoostClassifier x = new XGBoostClassifier();
    x.setFeaturesCol(FeaturePipeline.FEATURES);
    x.setLabelCol(FeaturePipeline.LABEL);
    x.setProbabilityCol(PROBABILITY);
    x.setObjective("binary:logistic");
    x.setEvalMetric("logloss");
    x.setTreeMethod("hist");
    x.setDevice(device);
    x.setNumRound(p.integer("n_estimators"));
    x.setMaxDepth(p.integer("max_depth"));
    x.setEta(p.real("learning_rate"));
    x.setScalePosWeight(p.real("scale_pos_weight"));
    x.setMissing(MISSING);
    x.setNumWorkers(workers);
    x.setNthread(nthread);
    x.setSeed(seed);
    if (earlyStopping && p.integer("early_stopping_rounds") > 0) {
      x.setNumEarlyStoppingRounds(p.integer("early_stopping_rounds"));
    }
    return x;
  }
}
