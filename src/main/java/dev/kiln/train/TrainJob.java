package dev.kiln.train;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.min;

import dev.kiln.common.BuildInfo;
import dev.kiln.common.DataRoot;
import dev.kiln.common.HadoopFiles;
import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.PipelineStages;
import dev.kiln.common.StageTimes;
import dev.kiln.common.Messages;
import dev.kiln.features.FeaturePipeline;
import dev.kiln.features.FeatureSetSpec;
import dev.kiln.features.TrainsetJob;
import dev.kiln.features.TrainsetManifest;
import dev.kiln.registry.RunsTable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Consumer;
import ml.dmlc.xgboost4j.scala.spark.XGBoostClassificationModel;
import ml.dmlc.xgboost4j.scala.spark.XGBoostClassifier;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.feature.StandardScaler;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Trains one model on a trainset: the feature set's fit-time transforms and the model are fitted together on the
 * train split and saved as one Spark ML {@link PipelineModel} (so scoring applies exactly the same transforms);
 * metrics come from the test split; XGBoost also uses the validation split for early stopping and writes its native
 * booster (JSON and UBJ, loadable by Python's xgboost). The run goes to {@code meta.runs} with every input version.
 */
public final class TrainJob {
  private static final Logger LOG = LoggerFactory.getLogger(TrainJob.class);
  private static final DateTimeFormatter RUN_TIME = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")
      .withZone(ZoneOffset.UTC);

  /**
   * What a run produced.
   *
   * @param stageSeconds     where the run's time went, stage by stage ({@link StageTimes})
   * @param stagePeakHeapMib the driver's peak heap per stage in MiB ({@link StageTimes#peakHeapMib})
   */
  public record Result(RunsTable.Run run, Evaluation.Result evaluation, Map<String, Double> stageSeconds,
                       Map<String, Long> stagePeakHeapMib) {}

  private final TrainConfig config;
  private final ModelParams params;

  /** Resolves and checks the parameters before any Spark work. */
  public TrainJob(TrainConfig config) {
    this.config = config;
    this.params = ModelParams.resolve(config.model(), config.paramsFile(), config.overrides());
  }

  public Result run(SparkSession spark) {
    Instant started = Instant.now();
    StageTimes stages = new StageTimes();
    DataRoot root = config.dataRoot();
    TrainsetManifest manifest = TrainsetJob.readManifest(spark, root, config.trainsetId())
        .orElseThrow(() -> new KilnUserException("no trainset '" + config.trainsetId() + "' (no "
            + root.resolve("trainsets/" + config.trainsetId() + "/manifest.json") + "); build one with kiln trainset"));
    FeatureSetSpec spec = manifest.featureSetSpec();
    Dataset<Row> rows = spark.read().format("delta").load(manifest.dataPath());
    Dataset<Row> train = rows.where(col(TrainsetManifest.SPLIT_COLUMN).equalTo("train"));
    Dataset<Row> validation = rows.where(col(TrainsetManifest.SPLIT_COLUMN).equalTo("validation"));
    Dataset<Row> test = rows.where(col(TrainsetManifest.SPLIT_COLUMN).equalTo("test"));
    Row labels = train.agg(min(col(spec.label())), max(col(spec.label()))).first();
    stages.lap("read and check trainset");
    if (labels.isNullAt(0) || labels.get(0).equals(labels.get(1))) {
      throw new KilnUserException("trainset " + manifest.id() + ": the train split has a single label class ("
          + spec.label() + " = " + labels.get(0) + "); a classifier needs both");
    }

    String device = config.model() == ModelType.XGBOOST ? Estimators.device(spark, params.choice("device")) : "cpu";
    // XGBoost's parameter checks (task slots, threads) refuse a request: no run starts
    XGBoostClassifier xgb = config.model() == ModelType.XGBOOST ? xgboost(spark, manifest, device) : null;
    String runId = config.model().id() + "-" + RUN_TIME.format(started) + "-"
        + UUID.randomUUID().toString().substring(0, 6);
    Map<String, String> recordedParams = new java.util.TreeMap<>(params.asStrings());
    if (config.model() == ModelType.XGBOOST) {
      recordedParams.put("device", device); // the one it runs on
    }
    config.features().ifPresent(f -> recordedParams.put("features", String.join(",", new java.util.TreeSet<>(f))));
    String artifacts = root.resolve("artifacts/" + runId);
    RunsTable runs = new RunsTable(spark, root);
    RunsTable.Run running = new RunsTable.Run(runId, config.model().id(), recordedParams, Map.of(), config.seed(),
        manifest.id(), manifest.featureTable(), manifest.featureTableVersion(), manifest.featureSetVersion(),
        manifest.sourceTable(), manifest.sourceVersion(), manifest.rows().get("train"), BuildInfo.gitCommit(),
        BuildInfo.libraryVersions(), spark.sparkContext().defaultParallelism(), Timestamp.from(started), null, null,
        artifacts, RunsTable.RUNNING, null);
    runs.record(running);
    stages.lap("record start");
    LOG.info("run {}: {} on trainset {} ({} train rows) with {}", runId, config.model().id(), manifest.id(),
        manifest.rows().get("train"), params.asStrings());
    try {
      FeaturePipeline.Built features = FeaturePipeline.build(spec, train, config.features(),
          config.model().trees() ? FeaturePipeline.Layout.TREES : FeaturePipeline.Layout.ONE_HOT);
      PipelineModel model = switch (config.model()) {
        case XGBOOST -> fitXgboost(spark, xgb, features, train, validation, manifest, stages);
        case MLP -> fitMlp(spark, features, train);
        default -> new Pipeline().setStages(withModel(features.stages(), Estimators.mllib(params, config.seed())))
            .fit(train);
      };
      // XGBoost's fit was timed in two parts (fitXgboost); what is left is wrapping the fitted stages
      stages.lap(config.model() == ModelType.XGBOOST ? "assemble pipeline" : "fit");

      // applied as `kiln score` applies it: an XGBoost pipeline's booster predicts natively on batches of rows,
      // the same probabilities as the pipeline's transform without its per-row vectors (at 1M rows, 200k test rows:
      // scoring them took 4.9 s of the 10.4 s evaluation)
      Dataset<Row> scored = ModelApply.of(model).apply(test, List.of(col(FeaturePipeline.LABEL)), false);
      Evaluation.Result evaluation = Evaluation.evaluate(scored, FeaturePipeline.LABEL, ModelApply.SCORE,
          config.threshold());
      stages.lap("evaluate on test split");

      writeArtifacts(spark, artifacts, model, evaluation, manifest, features.columns());
      if (config.model() == ModelType.XGBOOST) {
        writeNativeCheck(spark, artifacts, model.transform(test.limit(NATIVE_CHECK_ROWS)).withColumn("_p",
            org.apache.spark.ml.functions.vector_to_array(col(Estimators.PROBABILITY), "float64").getItem(1)));
      }
      stages.lap("write artifacts");
      PipelineStages.releaseBroadcasts(model); // the test rows are scored: evaluation and artifacts are written
      RunsTable.Run run = running.ended(RunsTable.FINISHED, evaluation.metrics(), Instant.now(), artifacts, null);
      HadoopFiles.writeAtomically(spark, artifacts + "/model_card.md", ModelCard.markdown(run, manifest, evaluation));
      Consumer<String> fault = faultBeforeFinish;
      if (fault != null) {
        fault.accept(artifacts);
      }
      runs.record(run);
      stages.lap("record run");
      LOG.info("run {}: test ROC AUC {} in {} s", runId, String.format("%.4f", evaluation.metrics().get("roc_auc")),
          run.durationS());
      return new Result(run, evaluation, stages.seconds(), stages.peakHeapMib());
    } catch (Throwable e) { // also errors, and checked exceptions Scala code throws undeclared
      recordFailure(spark, runs, running, artifacts, e);
      throw e;
    }
  }

  /**
   * Test hook: called with the run's artifacts directory after every artifact is written, just before the run is
   * recorded as finished; an exception it throws fails the run there. Null outside tests.
   */
  static volatile Consumer<String> faultBeforeFinish;

  /**
   * A run that failed after it started: its partial artifacts are removed (a model directory without a finished run
   * must not look usable), and its end is recorded as {@code failed} with the error in one line. A failure to record
   * is logged and attached to the original error, which the caller rethrows either way.
   */
  private static void recordFailure(SparkSession spark, RunsTable runs, RunsTable.Run running, String artifacts,
                                    Throwable e) {
    boolean interrupted = Thread.interrupted(); // a cancelled trial still records its end; the flag is restored
    try {
      if (runs.get(running.runId()).finished()) { // the end was committed, then something failed: keep the model
        LOG.warn("run {}: error after its end was recorded: {}", running.runId(), e.toString());
        return;
      }
      String left = removeArtifacts(spark, artifacts) ? null : artifacts;
      String error = errorLine(e);
      runs.record(running.ended(RunsTable.FAILED, Map.of(), Instant.now(), left, error));
      LOG.error("run {} failed and is recorded as failed in {}{}: {}", running.runId(), RunsTable.TABLE,
          left == null ? "" : " (its partial artifacts could not be removed: " + left + ")", error);
    } catch (RuntimeException | Error recording) {
      LOG.error("run {} failed, and recording the failure failed too: {}", running.runId(), recording.toString());
      e.addSuppressed(recording);
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Deletes the run's artifacts directory; false when something is left. */
  private static boolean removeArtifacts(SparkSession spark, String artifacts) {
    org.apache.hadoop.fs.Path dir = new org.apache.hadoop.fs.Path(artifacts);
    try {
      org.apache.hadoop.fs.FileSystem fs = dir.getFileSystem(spark.sparkContext().hadoopConfiguration());
      return !fs.exists(dir) || fs.delete(dir, true) || !fs.exists(dir);
    } catch (IOException | RuntimeException ex) {
      LOG.warn("cannot remove {}: {}", artifacts, ex.toString());
      return false;
    }
  }

  /** The error as {@code meta.runs} keeps it: a user error's message, else the exception and its root cause. */
  static String errorLine(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof KilnUserException k) {
        return Messages.firstLine(k.getMessage(), "");
      }
    }
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    String text = Messages.firstLine(e.toString(), "");
    String cause = Messages.firstLine(root.toString(), "");
    String rootMessage = root.getMessage() == null ? cause : Messages.firstLine(root.getMessage(), "");
    if (root != e && !text.contains(rootMessage)) {
      text += " (cause: " + cause + ")";
    }
    return text.length() <= MAX_ERROR ? text : text.substring(0, MAX_ERROR - 3) + "...";
  }

  private static final int MAX_ERROR = 2000;

  /** The feature stages with one more stage (the model, or the step that prepares the vector for it) at the end. */
  private static PipelineStage[] withModel(List<PipelineStage> featureStages, PipelineStage model) {
    List<PipelineStage> all = new ArrayList<>(featureStages);
    all.add(model);
    return all.toArray(PipelineStage[]::new);
  }

  /** The XGBoost estimator, with its up-front checks (parameters against the task slots and task CPUs). */
  private XGBoostClassifier xgboost(SparkSession spark, TrainsetManifest manifest, String device) {
    boolean hasValidation = manifest.rows().getOrDefault("validation", 0L) > 0;
    return Estimators.xgboost(spark, params, device, config.seed(), hasValidation);
  }

  /** Transforms fitted on train first, so the validation split can be prepared the same way for early stopping. */
  private PipelineModel fitXgboost(SparkSession spark, XGBoostClassifier xgb, FeaturePipeline.Built features,
                                   Dataset<Row> train, Dataset<Row> validation, TrainsetManifest manifest,
                                   StageTimes stages) {
    PipelineModel prepare = new Pipeline().setStages(withModel(features.stages(), new DenseFeatures())).fit(train);
    stages.lap("fit feature stages");
    boolean hasValidation = manifest.rows().getOrDefault("validation", 0L) > 0;
    long rows = manifest.rows().getOrDefault("train", 0L) + manifest.rows().getOrDefault("validation", 0L);
    Estimators.checkNativeMemory(spark, rows, features.columns().size());
    if (hasValidation && params.integer("early_stopping_rounds") > 0) {
      xgb.setEvalDataset(prepare.transform(validation));
    }
    // one line before and one after, instead of XGBoost's line per round (at DEBUG now: Estimators.logFitted)
    Estimators.logStart(xgb);
    long fitStart = System.nanoTime();
    XGBoostClassificationModel booster = xgb.fit(prepare.transform(train));
    Estimators.logFitted(xgb, booster, (System.nanoTime() - fitStart) / 1e9);
    stages.lap("fit xgboost"); // XGBoost4J-Spark's fit: the feature stages applied to the rows, then the boosting
    // a pipeline of fitted transformers only: fit() just wraps them into one PipelineModel
    return new Pipeline().setStages(new PipelineStage[] {prepare, booster}).fit(train.limit(0));
  }

  /** Standardized features (fitted on train) into the DL4J network; saved as one pipeline like the others. */
  private PipelineModel fitMlp(SparkSession spark, FeaturePipeline.Built features, Dataset<Row> train) {
    PipelineModel prepare = new Pipeline().setStages(withModel(features.stages(), new StandardScaler()
        .setInputCol(FeaturePipeline.FEATURES).setOutputCol(MlpModel.INPUT).setWithMean(true).setWithStd(true)))
        .fit(train);
    MlpModel mlp = MlpTrainer.fit(spark, prepare.transform(train), params, config.seed());
    return new Pipeline().setStages(new PipelineStage[] {prepare, mlp}).fit(train.limit(0));
  }

  private void writeArtifacts(SparkSession spark, String dir, PipelineModel model, Evaluation.Result evaluation,
                              TrainsetManifest manifest, List<String> featureNames) {
    try {
      model.write().overwrite().save(dir + "/model");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot save the model to " + dir, e);
    }
    Map<String, Object> metrics = new LinkedHashMap<>(evaluation.metrics());
    HadoopFiles.writeAtomically(spark, dir + "/metrics.json", Json.toPrettyJson(metrics));
    HadoopFiles.writeAtomically(spark, dir + "/curves.json", Json.toPrettyJson(Map.of(
        "roc_fpr_tpr", evaluation.roc(), "calibration_mean_p_observed_rows", evaluation.calibration())));
    for (Transformer stage : model.stages()) {
      if (stage instanceof XGBoostClassificationModel xgb) {
        writeBooster(spark, dir, xgb, featureNames);
      }
      if (stage instanceof MlpModel mlp) {
        writeMlpZip(spark, dir, mlp);
      }
    }
    LOG.info("artifacts in {} (trainset {})", dir, manifest.id());
  }

  /**
   * {@code native_check.csv}: up to {@value #NATIVE_CHECK_ROWS} test rows as the booster sees them (its input vector
   * f0..fN, NaN = missing) with the probability the Spark pipeline gave them. Whoever loads {@code xgboost.json} or
   * {@code xgboost.ubj} elsewhere (Python's xgboost, a serving system) can check they get the same predictions.
   */
  private static void writeNativeCheck(SparkSession spark, String dir, Dataset<Row> scored) {
    List<Row> rows = scored.select(col("_p"), org.apache.spark.ml.functions.vector_to_array(
        col(FeaturePipeline.FEATURES), "float64")).limit(NATIVE_CHECK_ROWS).collectAsList();
    if (rows.isEmpty()) {
      return;
    }
    int width = rows.get(0).getList(1).size();
    StringBuilder csv = new StringBuilder("p");
    for (int i = 0; i < width; i++) {
      csv.append(",f").append(i);
    }
    csv.append('\n');
    for (Row r : rows) {
      csv.append(r.getDouble(0));
      for (Object v : r.getList(1)) {
        csv.append(',').append(v);
      }
      csv.append('\n');
    }
    HadoopFiles.writeAtomically(spark, dir + "/native_check.csv", csv.toString());
  }

  private static final int NATIVE_CHECK_ROWS = 2000;

  /** {@code mlp.zip}: the network alone, loadable with DL4J's {@code ModelSerializer.restoreMultiLayerNetwork}. */
  private static void writeMlpZip(SparkSession spark, String dir, MlpModel mlp) {
    org.apache.hadoop.fs.Path zip = new org.apache.hadoop.fs.Path(dir, "mlp.zip");
    try {
      mlp.writeZip(zip.getFileSystem(spark.sparkContext().hadoopConfiguration()), zip);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + zip, e);
    }
  }

  /** The native booster next to the Spark model: Python's xgboost and plain xgboost4j load these. */
  private static void writeBooster(SparkSession spark, String dir, XGBoostClassificationModel model,
                                   List<String> featureNames) {
    try {
      HadoopFiles.writeAtomically(spark, dir + "/xgboost.json",
          NativeBoosterFormat.portableJson(model.nativeBooster().toByteArray("json")));
      HadoopFiles.writeAtomically(spark, dir + "/xgboost.ubj",
          NativeBoosterFormat.portableUbj(model.nativeBooster().toByteArray("ubj")));
      // XGBoost names features f0, f1, ... in vector order: the feature pipeline's column order
      Map<String, Object> importance = new java.util.TreeMap<>();
      scala.collection.JavaConverters.mapAsJavaMapConverter(model.nativeBooster().getScore("", "gain")).asJava()
          .forEach((f, gain) -> {
            int i = f.startsWith("f") ? Integer.parseInt(f.substring(1)) : -1;
            importance.put(i >= 0 && i < featureNames.size() ? featureNames.get(i) : f, gain);
          });
      HadoopFiles.writeAtomically(spark, dir + "/feature_importance.json", Json.toPrettyJson(importance));
    } catch (ml.dmlc.xgboost4j.java.XGBoostError e) {
      throw new IllegalStateException("cannot write the native booster to " + dir, e);
    }
  }
}
