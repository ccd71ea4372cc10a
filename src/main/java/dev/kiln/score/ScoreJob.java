package dev.kiln.score;

import static org.apache.spark.sql.functions.avg;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.struct;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.when;

import dev.kiln.common.BuildInfo;
import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.PipelineStages;
import dev.kiln.common.StageTimes;
import dev.kiln.common.TableRef;
import dev.kiln.features.FeatureSetSpec;
import dev.kiln.features.PointInTimeFeatures;
import dev.kiln.registry.ModelRegistry;
import dev.kiln.registry.ModelSignature;
import dev.kiln.registry.ResolvedModel;
import dev.kiln.registry.RunsTable;
import dev.kiln.train.ModelApply;
import io.delta.exceptions.DeltaConcurrentModificationException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Batch scoring by registry alias: resolves {@code NAME@champion} (or a candidate or a version) in
 * {@code meta.models}, checks the input against the version's signature, computes the input events' point-in-time
 * features from the feature set's source table with the code that builds the feature table, applies the saved
 * pipeline on the executors, and writes {@code predictions.<name>}.
 *
 * <p>A batch is written in one Delta commit that replaces whatever the batch id held before ({@code replaceWhere
 * batch_id = ...}): re-running a batch never duplicates it, and a run killed before its commit leaves nothing.
 */
public final class ScoreJob {
  private static final Logger LOG = LoggerFactory.getLogger(ScoreJob.class);
  public static final String SCORE = "score";
  public static final String PREDICTED = "predicted_label";
  public static final String FEATURES = "features";
  public static final String BATCH = "batch_id";

  /**
   * What a scoring run wrote.
   *
   * @param stageSeconds     where the run's time went, stage by stage ({@link StageTimes})
   * @param stagePeakHeapMib the driver's peak heap per stage in MiB ({@link StageTimes#peakHeapMib})
   */
  public record Result(String model, int version, String alias, String runId, String table, String path,
                       String batchId, long rows, long predictedPositive, double meanScore, long tableVersion,
                       String input, Long inputVersion, String history, long historyVersion, int explained,
                       double seconds, Map<String, Double> stageSeconds, Map<String, Long> stagePeakHeapMib) {}

  private final ScoreConfig config;

  public ScoreJob(ScoreConfig config) {
    this.config = config;
  }

  private static org.apache.spark.sql.types.StructType nullable(org.apache.spark.sql.types.StructType schema) {
    return new org.apache.spark.sql.types.StructType(java.util.Arrays.stream(schema.fields())
        .map(f -> new org.apache.spark.sql.types.StructField(f.name(), f.dataType(), true, f.metadata()))
        .toArray(org.apache.spark.sql.types.StructField[]::new));
  }

  /** The feature-table columns a prediction keeps: event key, time and date, and the model's inputs as one struct. */
  static List<Column> carried(FeatureSetSpec spec, PointInTimeFeatures pit) {
    return List.of(col(spec.eventKey()), col(spec.eventTime()), col("event_date"),
        struct(pit.modelInputColumns().stream().map(c -> col(c)).toArray(Column[]::new)).as(FEATURES));
  }

  public Result run(SparkSession spark) {
    StageTimes stages = new StageTimes();
    DataRoot root = config.dataRoot();
    ResolvedModel resolved = stages.time("resolve model", () -> ResolvedModel.of(spark, root, config.model()));
    ModelRegistry.ModelVersion version = resolved.version();
    String alias = resolved.alias();
    ModelSignature signature = resolved.signature();
    RunsTable.Run run = resolved.run();
    FeatureSetSpec spec = resolved.trainset().featureSetSpec();
    if (config.explain() > 0 && !"xgboost".equals(run.modelType())) {
      throw new KilnUserException("--explain needs a tree model with SHAP contributions (XGBoost); " + version.ref()
          + " is " + run.modelType());
    }
    TableRef outRef = TableRef.parse(config.output().orElse("predictions." + version.name()), "predictions");
    String outPath = root.table(outRef);
    DeltaTables.requireDeltaOrAbsent(spark, outPath, outRef);

    ScoreInput input = stages.time("read and check input", () -> ScoreInput.read(spark, config, signature));
    TableRef historyRef = TableRef.parse(signature.sourceTable(), "bronze");
    String historyPath = root.table(historyRef);
    long historyVersion = DeltaTables.latestVersion(spark, historyPath).orElseThrow(() -> new KilnUserException(
        "the model's source table " + historyRef + " does not exist (" + historyPath + "); its history is needed "
            + "for point-in-time features"));
    Dataset<Row> history = spark.read().format("delta").option("versionAsOf", historyVersion).load(historyPath);
    LOG.info("scoring {} with {} ({}, run {}); features from {}@{}", input.description(), version.ref(), alias,
        run.runId(), historyRef, historyVersion);

    PointInTimeFeatures pit = new PointInTimeFeatures(spec, "model " + version.ref());
    Dataset<Row> features = pit.compute(history, historyRef, input.rows(), input.table().orElse(
        new TableRef("bronze", "input")));
    PipelineModel model = resolved.pipeline();
    Explanations explanations = Explanations.prepare(model, config.explain());
    Dataset<Row> scored = ModelApply.of(model).apply(features, carried(spec, pit), explanations.contributions());

    Timestamp scoredAt = Timestamp.from(Instant.now());
    List<Column> out = new ArrayList<>();
    out.add(col(spec.eventKey()));
    out.add(col(spec.eventTime()));
    out.add(col("event_date"));
    Column score = col(ModelApply.SCORE);
    out.add(score.as(SCORE));
    out.add(when(score.geq(signature.threshold()), 1).otherwise(0).as(PREDICTED));
    out.add(lit(version.name()).as("model_name"));
    out.add(lit(version.version()).as("model_version"));
    out.add(lit(alias).as("model_alias"));
    out.add(lit(run.runId()).as("run_id"));
    out.add(lit(config.batchId()).as(BATCH));
    out.add(lit(scoredAt).as("scored_at"));
    out.add(lit(input.table().map(TableRef::toString).orElse(config.input())).as("input"));
    out.add(lit(input.version().orElse(null)).cast(DataTypes.LongType).as("input_version"));
    out.add(col(FEATURES));
    out.addAll(explanations.columns());
    Dataset<Row> predictions = scored.select(out.toArray(Column[]::new));

    Map<String, Object> lineage = new LinkedHashMap<>();
    lineage.put("batch_id", config.batchId());
    lineage.put("model", version.ref());
    lineage.put("alias", alias);
    lineage.put("run_id", run.runId());
    lineage.put("input", input.description());
    input.version().ifPresent(v -> lineage.put("input_version", v));
    config.where().ifPresent(w -> lineage.put("where", w));
    lineage.put("history", historyRef + "@" + historyVersion);
    lineage.put("explain", config.explain());
    lineage.put("library_versions", BuildInfo.libraryVersions());
    // a batch is (batch id, model version): shadow-scoring a candidate on the same batch keeps the champion's rows
    String replace = BATCH + " = '" + config.batchId() + "' AND model_version = " + version.version(); // id checked
    // The table exists (empty) before any batch's files are written: a run killed mid-write then leaves only files
    // no commit refers to, inside a Delta table, instead of a folder of files that is not a table at all.
    DeltaTables.createIfAbsent(spark, outPath, nullable(predictions.schema()), Optional.of("event_date"),
        DeltaTables.commitMetadata("score", Map.of("action", "create table")));
    try {
      // lazily evaluated: point-in-time features and the model run inside the write
      stages.run("features, model and write", () -> predictions.write().format("delta").mode("overwrite")
          .option("replaceWhere", replace)
          .option("mergeSchema", "true") // a later feature-set version may add inputs to the features struct
          .option("userMetadata", DeltaTables.commitMetadata("score", lineage))
          .partitionBy("event_date").save(outPath));
    } catch (DeltaConcurrentModificationException e) {
      throw new KilnUserException("another run wrote " + outRef + " at the same time (" + e.getClass()
          .getSimpleName() + "); nothing was written by this run, re-run it");
    } finally {
      PipelineStages.releaseBroadcasts(model); // the write was the one action on the scored rows
    }
    long tableVersion = DeltaTables.latestVersion(spark, outPath).orElseThrow();
    Row stats = stages.time("summarize", () -> spark.read().format("delta").option("versionAsOf", tableVersion).load(outPath)
        .where(col(BATCH).equalTo(config.batchId()).and(col("model_version").equalTo(version.version())))
        .agg(count(lit(1)), sum(col(PREDICTED)), avg(col(SCORE))).first());
    double seconds = stages.elapsed();
    long rows = stats.getLong(0);
    LOG.info("scored {} rows of {} into {} batch {} (version {}) in {} s", rows, input.description(), outRef,
        config.batchId(), tableVersion, String.format("%.1f", seconds));
    return new Result(version.name(), version.version(), alias, run.runId(), outRef.toString(), outPath,
        config.batchId(), rows, stats.isNullAt(1) ? 0 : stats.getLong(1), stats.isNullAt(2) ? 0 : stats.getDouble(2),
        tableVersion, input.description(), input.version().orElse(null), historyRef.toString(), historyVersion,
        config.explain(), seconds, stages.seconds(), stages.peakHeapMib());
  }
}
