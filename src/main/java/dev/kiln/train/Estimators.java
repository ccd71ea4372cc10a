package dev.kiln.train;

import dev.kiln.common.KilnUserException;
import dev.kiln.features.FeaturePipeline;
import java.util.Locale;
import ml.dmlc.xgboost4j.scala.spark.XGBoostClassificationModel;
import ml.dmlc.xgboost4j.scala.spark.XGBoostClassifier;
import ml.dmlc.xgboost4j.scala.spark.XGBoostTrainingSummary;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.classification.GBTClassifier;
import org.apache.spark.ml.classification.LogisticRegression;
import org.apache.spark.ml.classification.RandomForestClassifier;
import org.apache.spark.sql.SparkSession;

/** The Spark ML estimator for each model type, configured from {@link ModelParams}. */
final class Estimators {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Estimators.class);
  /** XGBoost's per-round evaluation log, at DEBUG: off on the console (log4j2.properties says how to turn it on). */
  static final org.slf4j.Logger ROUNDS = org.slf4j.LoggerFactory.getLogger("dev.kiln.train.xgboost");
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
    return device(requested, dev.kiln.common.BuildInfo.xgboostGpuBuild(), localGpus() > 0,
        spark.sparkContext().isLocal());
  }

  /** NVIDIA GPUs visible on this machine: the device files {@code /dev/nvidia0}, {@code /dev/nvidia1}, ... */
  static int localGpus() {
    String[] names = new java.io.File("/dev").list((dir, name) -> name.matches("nvidia[0-9]+"));
    return names == null ? 0 : names.length;
  }

  /**
   * XGBoost workers when {@code num_workers} is 0. On the CPU, one per task slot, each with {@code spark.task.cpus}
   * threads: on a 16-core machine 16 workers fitted 1M rows in 14.1 s where the earlier cap of two took 21.6 s (same
   * AUC within 0.0002; deploy/gpu/README.md). On GPUs in local mode, one per visible GPU: every worker of a local
   * session would open the same device, and XGBoost's NCCL communicator refuses two ranks on one GPU ("Multiple
   * processes within communication group running on same CUDA device is not supported"). (On a cluster
   * the executors' GPUs are Spark's resource scheduling's business; set num_workers to their number.)
   */
  static int defaultWorkers(int slots, String device, boolean localMode, int localGpus) {
    if (device.equals("cuda") && localMode) {
      return Math.max(1, Math.min(slots, localGpus));
    }
    return slots;
  }

  /** Native memory XGBoost's training takes per value (rows × features); see {@link #checkNativeMemory}. */
  static final long BYTES_PER_VALUE = 12;

  /**
   * XGBoost keeps its training matrices in native memory, outside the JVM heap: about {@link #BYTES_PER_VALUE} bytes
   * per value, measured: 80M rows × 15 features (training and validation splits) took the process to 18.3 GiB of
   * resident memory beside a 4 GiB heap (bench/README, 100M rows; the earlier estimate of 8 bytes said 9.2 GB). The
   * float values are 4 of those bytes, the rest XGBoost's copies while it builds its quantized matrix and gradients.
   * The estimate is logged; in local mode, where the executors share this machine, a matrix that cannot fit beside the
   * JVM heap is refused up front instead of ending in a native out-of-memory kill.
   */
  static void checkNativeMemory(SparkSession spark, long rows, int features) {
    long needed = rows * (long) features * BYTES_PER_VALUE;
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
    int workers = p.integer("num_workers") != 0 ? p.integer("num_workers")
        : defaultWorkers(slots, device, spark.sparkContext().isLocal(), localGpus());
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
    silenceRounds(x);
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

  /**
   * Turns off XGBoost's own per-round evaluation lines ({@code [12] train-logloss:.. eval-logloss:..}, and
   * {@code early stopping after N rounds ...} from every worker). They are not Java logging that log4j could route:
   * {@code ml.dmlc.xgboost4j.java.XGBoost.trainAndSaveCheckpoint} on worker rank 0 hands each line to the native
   * library ({@code Communicator.communicatorPrint}), which writes it to file descriptor 2 as {@code LOG(CONSOLE)},
   * past System.err and past XGBoost's {@code verbosity} (0 still prints them). The one switch is XGBoost4J's own
   * {@code verbose_eval} entry in the parameter map (0: never print; the native learner ignores the entry), and
   * XGBoost4J-Spark hands the workers only the parameters its estimator declares ({@code getXGBoostParams}, from
   * Spark's {@code params}). A Java subclass cannot declare one (javac rejects subclasses of XGBoostClassifier: its
   * Scala-generated signatures clash with its traits'), so the param is appended to the estimator's {@code params}
   * (a lazily computed array in Spark's PipelineStage). If that ever fails (another Spark), XGBoost just prints its
   * rounds again. Kiln logs the rounds at DEBUG from the fitted model instead ({@link #logFitted}); EstimatorsTest
   * checks that {@code verbose_eval = 0} reaches the parameter map.
   */
  static void silenceRounds(XGBoostClassifier x) {
    org.apache.spark.ml.param.IntParam verboseEval = new org.apache.spark.ml.param.IntParam(x.uid(), "verbose_eval",
        "XGBoost4J prints the evaluation every N rounds (0: never)");
    try {
      java.lang.reflect.Field field = PipelineStage.class.getDeclaredField("params");
      field.setAccessible(true);
      org.apache.spark.ml.param.Param<?>[] declared = x.params(); // computes (and caches) the lazy array first
      org.apache.spark.ml.param.Param<?>[] params = java.util.Arrays.copyOf(declared, declared.length + 1);
      params[declared.length] = verboseEval;
      field.set(x, params);
    } catch (ReflectiveOperationException | RuntimeException e) {
      LOG.debug("cannot turn off XGBoost's per-round output: {}", e.toString());
      return;
    }
    x.set(verboseEval, 0);
  }

  /** The line Kiln logs as XGBoost starts, in place of XGBoost's per-round output. */
  static void logStart(XGBoostClassifier x) {
    LOG.info(describe(x));
  }

  static String describe(XGBoostClassifier x) {
    int esr = x.getNumEarlyStoppingRounds();
    return String.format(Locale.ROOT, "XGBoost: up to %d rounds, depth %d, eta %s, %d worker(s) x %d thread(s), %s",
        x.getNumRound(), x.getMaxDepth(), x.getEta(), x.getNumWorkers(), x.getNthread(),
        esr > 0 ? "early stopping " + esr : "no early stopping");
  }

  /**
   * One INFO line once XGBoost is done (rounds built, best iteration, seconds), and every round's evaluation at DEBUG
   * on {@link #ROUNDS}, from the model's training summary. The best iteration is the booster's own
   * {@code best_iteration} attribute, which XGBoost4J sets on its last evaluation set: the validation split when
   * early stopping is on (without it there is only the train split, so none is reported).
   */
  static void logFitted(XGBoostClassifier x, XGBoostClassificationModel model, double seconds) {
    long rounds = model.nativeBooster().getNumBoostedRound();
    String best = "";
    if (x.getNumEarlyStoppingRounds() > 0) {
      String iteration = attr(model, "best_iteration");
      String score = attr(model, "best_score");
      best = iteration == null ? "" : "; best iteration " + iteration
          + (score == null ? "" : " (eval-" + x.getEvalMetric() + " " + score + ")")
          + (rounds < x.getNumRound() ? ", stopped early" : "");
    }
    LOG.info("XGBoost: {} rounds in {} s{}", rounds, String.format(Locale.ROOT, "%.1f", seconds), best);
    if (ROUNDS.isDebugEnabled() && model.summary().isDefined()) {
      XGBoostTrainingSummary summary = model.summary().get();
      float[] train = summary.trainObjectiveHistory();
      var validation = scala.collection.JavaConverters.seqAsJavaListConverter(
          summary.validationObjectiveHistory()).asJava();
      // the histories have a slot for every round asked for: those after an early stop stay 0
      for (int i = 0; i < Math.min(train.length, rounds); i++) {
        StringBuilder line = new StringBuilder("[").append(i).append("]\ttrain-").append(x.getEvalMetric())
            .append(':').append(train[i]);
        for (scala.Tuple2<String, float[]> v : validation) {
          if (i < v._2().length) {
            line.append('\t').append(v._1()).append('-').append(x.getEvalMetric()).append(':').append(v._2()[i]);
          }
        }
        ROUNDS.debug(line.toString());
      }
    }
  }

  private static String attr(XGBoostClassificationModel model, String name) {
    try {
      return model.nativeBooster().getAttr(name);
    } catch (ml.dmlc.xgboost4j.java.XGBoostError e) {
      return null;
    }
  }
}
