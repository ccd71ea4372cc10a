import static org.apache.spark.sql.functions.col;

import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.Json;
import dev.kiln.common.Secrets;
import dev.kiln.common.TableRef;
import dev.kiln.features.FeaturePipeline;
import dev.kiln.features.PointInTimeFeatures;
import dev.kiln.features.TrainsetJob;
import dev.kiln.registry.ModelRegistry;
import dev.kiln.registry.ModelSignature;
import dev.kiln.registry.RunsTable;
import dev.kiln.score.ScoreConfig;
import dev.kiln.score.ScoreJob;
import dev.kiln.train.ModelApply;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;
import ml.dmlc.xgboost4j.java.Booster;
import ml.dmlc.xgboost4j.java.DMatrix;
import ml.dmlc.xgboost4j.java.XGBoost;
import ml.dmlc.xgboost4j.scala.spark.XGBoostClassificationModel;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * Batch scoring: Kiln's model apply and `kiln score` vs plain xgboost4j on the same rows and thread count.
 * Args: DATA_ROOT INPUT_CSV [REPEATS=3] [EXPLAIN_ROWS=20000] [THREADS=cores]. DATA_ROOT holds a champion XGBoost model {@code clicks}
 * (bench/score.sh registers one); INPUT_CSV holds later raw events of the same users and items (KILN_PII_SALT set as
 * at ingest, so hashed ids match the history).
 *
 * <p>The point-in-time feature rows of the input events are computed once with Kiln's code and cached; then, each
 * timed as the median of REPEATS after a warm-up:
 * <ul>
 *   <li>plain xgboost4j: the booster saved next to the model ({@code xgboost.ubj}), nthread = THREADS, on a DMatrix of
 *       those rows' {@code features} vectors exactly as the XGBoost stage sees them (collected to one dense float[]);
 *       predict and predictContrib timed (a fresh DMatrix each run), DMatrix construction reported on its own;</li>
 *   <li>Kiln's model apply: what ScoreJob runs ({@code ModelApply}: the feature stages, then the native booster on
 *       batches of rows) on the cached rows, keeping the columns ScoreJob keeps, to Spark's {@code noop} sink,
 *       without and with contributions (raw, and with Kiln's top-5 post-processing); beside it the saved
 *       PipelineModel's own transform (XGBoost4J-Spark's, what ScoreJob ran before);</li>
 *   <li>explanations (SHAP, ~200x the cost of a prediction) on the EXPLAIN_ROWS earliest events only, the same rows
 *       for all three;</li>
 *   <li>end to end: {@code ScoreJob.run} with --explain 0 and 5 into the bench-only table predictions.bench_score,
 *       with its pieces timed apart: input check, point-in-time features, model apply, Delta write.</li>
 * </ul>
 * KILN_BENCH_E2E=0 leaves out the point-in-time timing and the end-to-end runs (the model apply comparisons only).
 * Prints a table and writes bench/results/score-<rows>.json (and the executed point-in-time plan to
 * bench/results/score-pit-plan.txt).
 */
public class ScoreBench {
  static final String MODEL = "clicks@champion";
  static final String OUTPUT = "predictions.bench_score";
  static final int EXPLAIN_K = 5;

  static int repeats;
  static final Map<String, Object> json = new LinkedHashMap<>();
  static final List<String[]> table = new ArrayList<>();

  public static void main(String[] args) throws Exception {
    String root = args[0];
    String input = args[1];
    repeats = args.length > 2 ? Integer.parseInt(args[2]) : 3;
    long explainRows = args.length > 3 ? Long.parseLong(args[3]) : 20_000;
    int threads = args.length > 4 ? Integer.parseInt(args[4]) : Runtime.getRuntime().availableProcessors();
    // KILN_BENCH_E2E=0: the model apply comparisons only (no point-in-time timing, no ScoreJob runs): on a shared,
    // loaded machine, more rounds of those in the same time
    boolean endToEnd = !"0".equals(System.getenv("KILN_BENCH_E2E"));
    // local[THREADS], with the settings Kiln's embedded session gives local[*] (setting spark.master switches them off)
    System.setProperty("spark.master", "local[" + threads + "]");
    System.setProperty("spark.sql.shuffle.partitions", String.valueOf(Math.max(4, threads * 2)));
    System.setProperty("spark.databricks.delta.snapshotPartitions", String.valueOf(Math.max(2, threads)));
    System.setProperty("spark.ui.enabled", "false");
    System.setProperty("spark.callstack.depth", "80"); // deep enough to reach Kiln's frame under Delta's (JobLog)
    SparkSession spark = dev.kiln.common.SparkSessions.getOrCreate("score bench");
    spark.sparkContext().setLogLevel("WARN");
    DataRoot dataRoot = DataRoot.of(root);
    Optional<byte[]> salt = Secrets.piiSalt(Optional.empty());

    ModelRegistry registry = new ModelRegistry(spark, dataRoot);
    ModelRegistry.ModelVersion version = registry.resolve(MODEL);
    ModelSignature signature = registry.signature(version);
    RunsTable.Run run = new RunsTable(spark, dataRoot).get(version.runId());
    var spec = TrainsetJob.readManifest(spark, dataRoot, run.trainsetId()).orElseThrow().featureSetSpec();
    String artifacts = run.artifacts();
    ScoreConfig config = scoreConfig(dataRoot, input, 0, Optional.empty(), salt);

    // --- the scored rows: ScoreJob's own input reading (signature check, PII hashing) and point-in-time features ---
    TableRef historyRef = TableRef.parse(signature.sourceTable(), "bronze");
    String historyPath = dataRoot.table(historyRef);
    long historyVersion = DeltaTables.latestVersion(spark, historyPath).orElseThrow();
    Supplier<Dataset<Row>> history = () -> spark.read().format("delta").option("versionAsOf", historyVersion)
        .load(historyPath);
    PointInTimeFeatures pit = new PointInTimeFeatures(spec, "bench");
    TableRef inputRef = new TableRef("bronze", "input");
    // ScoreInput is package-private: called by reflection so that the bench reads the input exactly as ScoreJob does
    Supplier<Dataset<Row>> inputRows = () -> scoreInputRows(spark, config, signature);
    Dataset<Row> in = inputRows.get(); // lazy rows; the signature check pass ran inside read()
    double featuresS = Double.NaN;
    if (endToEnd) {
      featuresS = pointInTime(pit, history, historyRef, in, inputRef);
    }
    Dataset<Row> features = pit.compute(history.get(), historyRef, in, inputRef).cache();
    long n = features.count();
    long historyRows = history.get().count();
    int partitions = features.rdd().getNumPartitions();
    System.out.printf("scoring %,d events (%s) against %,d history rows (%s@%d) with %s (run %s); %d threads, "
        + "feature rows cached in %d partition(s)%n", n, input, historyRows, historyRef, historyVersion,
        version.ref(), run.runId(), threads, partitions);

    // explanations cost ~200x a prediction (SHAP over every tree): they are timed on the EXPLAIN_ROWS smallest event
    // keys (the generated ids follow time, so the earliest events; their features do not depend on later ones), the
    // same rows for plain xgboost4j, Kiln's model apply and ScoreJob (as its --where)
    String key = spec.eventKey();
    Dataset<Row> explainFeatures = features;
    Optional<String> explainWhere = Optional.empty();
    if (explainRows < n) {
      String cutoff = features.select(key).orderBy(key).offset((int) explainRows).first().getString(0);
      explainWhere = Optional.of(key + " < '" + cutoff + "'"); // generated ids have no quotes
      explainFeatures = features.where(col(key).lt(cutoff)).cache();
    }
    long m = explainFeatures.count();
    Dataset<Row> explainRowsDf = explainFeatures;
    System.out.printf("explanations timed on %,d of them%s%n", m, explainWhere.map(w -> " (" + w + ")").orElse(""));

    // --- plain xgboost4j on the same rows: the feature vectors as the XGBoost stage sees them ---
    PipelineModel model = PipelineModel.load(artifacts + "/model");
    XGBoostClassificationModel xgbStage = (XGBoostClassificationModel) model.stages()[model.stages().length - 1];
    float[] matrix = toMatrix(prepare(model, features)); // the bench may collect; Kiln never does
    int cols = matrix.length / (int) n;
    float[] explainMatrix = explainRows < n ? toMatrix(prepare(model, explainFeatures)) : matrix;
    float missing = xgbStage.getMissing();
    Booster booster;
    try (var ubj = Files.newInputStream(localPath(artifacts + "/xgboost.ubj"))) {
      booster = XGBoost.loadModel(ubj);
    }
    booster.setParam("nthread", threads);
    float[][][] plainOut = new float[1][][];
    List<Double> dmatrixTimes = new ArrayList<>();
    plain(matrix, cols, missing, dmatrixTimes, dm -> plainOut[0] = booster.predict(dm)).run(); // for the check below

    // Kiln's model apply is what ScoreJob runs (ModelApply), keeping the columns ScoreJob keeps; the saved
    // PipelineModel's transform (what ScoreJob ran before) is timed beside it
    List<Column> carried = carried(spec, pit);
    ModelApply apply = ModelApply.of(model);
    System.out.println("model apply: " + apply.getClass().getSimpleName());

    // same rows, same model? (outside the timings) Kiln's and the pipeline's probabilities against the plain booster's;
    // both keep the cached rows' order, which is the plain matrix's (checked by key)
    List<Row> keys = features.select(key).collectAsList();
    List<Row> kilnP = apply.apply(features, List.of(col(key)), false).collectAsList();
    List<Row> sparkP = model.transform(features)
        .select(org.apache.spark.ml.functions.vector_to_array(col("probability"), "float64").getItem(1))
        .collectAsList();
    double maxDiff = 0;
    double maxDiffPipeline = 0;
    for (int i = 0; i < n; i++) {
      if (!kilnP.get(i).getString(0).equals(keys.get(i).getString(0))) {
        throw new IllegalStateException("the model apply changed the rows' order at row " + i);
      }
      maxDiff = Math.max(maxDiff, Math.abs(kilnP.get(i).getDouble(1) - plainOut[0][i][0]));
      maxDiffPipeline = Math.max(maxDiffPipeline, Math.abs(sparkP.get(i).getDouble(0) - plainOut[0][i][0]));
    }
    System.out.printf("features: %d; max |p_kiln - p_plain| = %.2e, max |p_pipeline - p_plain| = %.2e over %,d rows%n",
        cols, maxDiff, maxDiffPipeline, n);

    // --- Kiln's model apply on the cached feature rows, to the noop sink, beside plain predict: the cases of a group
    // run in turn, round after round, so that the load of a shared machine weighs on all of them alike ---
    // with contributions, the pipeline's way: a model of its own, as setContribPredictionCol changes the stage
    PipelineModel contribModel = PipelineModel.load(artifacts + "/model");
    ((XGBoostClassificationModel) contribModel.stages()[contribModel.stages().length - 1])
        .setContribPredictionCol("_contrib");
    // Kiln's explanation columns (top-K by |SHAP|, bias, margin) over the same model apply, as ScoreJob selects them
    Object explanations = explanations(model, EXPLAIN_K);
    Map<String, TimedBody> predictCases = new LinkedHashMap<>();
    predictCases.put("plain predict", plain(matrix, cols, missing, dmatrixTimes, booster::predict));
    predictCases.put("kiln model apply", timed(() -> noop(apply.apply(features, carried, false))));
    predictCases.put("saved PipelineModel.transform (before)", timed(() -> noop(model.transform(features))));
    // diagnostics: the feature stages alone, up to the booster's input columns (what the model apply computes before
    // its batches: category columns as strings, the batches index them), and the cached rows' model inputs alone
    predictCases.put("feature stages to the booster's inputs only (diagnostic)",
        timed(() -> noop(boosterInputs(model, features))));
    List<Column> readOnly = new ArrayList<>(carried);
    pit.modelInputColumns().forEach(c -> readOnly.add(col(c)));
    predictCases.put("reading the cached rows' model inputs only (diagnostic)",
        timed(() -> noop(features.select(readOnly.toArray(Column[]::new)))));
    Map<String, Double> predictS = interleaved(predictCases);
    Map<String, TimedBody> contribCases = new LinkedHashMap<>();
    contribCases.put("plain predictContrib", plain(explainMatrix, cols, missing, new ArrayList<>(),
        dm -> booster.predictContrib(dm, 0)));
    contribCases.put("kiln model apply + contributions",
        timed(() -> noop(apply.apply(explainRowsDf, carried, true))));
    contribCases.put("saved PipelineModel.transform + contributions (before)",
        timed(() -> noop(contribModel.transform(explainRowsDf))));
    contribCases.put("kiln model apply + top-" + EXPLAIN_K + " explanations",
        timed(() -> noop(explained(apply, explanations, explainRowsDf, carried, key))));
    Map<String, Double> contribS = interleaved(contribCases);
    double plainS = predictS.get("plain predict");
    double applyS = predictS.get("kiln model apply");
    double transformS = predictS.get("saved PipelineModel.transform (before)");
    double prepS = predictS.get("feature stages to the booster's inputs only (diagnostic)");
    double readS = predictS.get("reading the cached rows' model inputs only (diagnostic)");
    double plainContribS = contribS.get("plain predictContrib");
    double applyContribS = contribS.get("kiln model apply + contributions");
    double transformContribS = contribS.get("saved PipelineModel.transform + contributions (before)");
    double applyTopKS = contribS.get("kiln model apply + top-" + EXPLAIN_K + " explanations");
    double dmatrixS = median(dmatrixTimes);
    // the same ratio round by round (both cases ran back to back in each round): steadier than the ratio of medians
    // when the machine's speed drifts during the run
    double applyPerRound = perRoundRatio("plain predict", "kiln model apply");

    // --- the pieces of an end-to-end run, timed apart (the features piece was timed above, before any caching) ---
    double checkS = Double.NaN;
    double e2e0S = Double.NaN;
    double e2e5S = Double.NaN;
    double writeS = Double.NaN;
    Map<Integer, List<JobLog.Job>> lastJobs = new LinkedHashMap<>();
    if (endToEnd) {
      checkS = median("input check (ScoreInput.read)", new ArrayList<>(), inputRows::get);

      // --- end to end: ScoreJob.run ---
      List<Double> e2e0 = new ArrayList<>();
      List<Double> e2e5 = new ArrayList<>();
      JobLog jobs = new JobLog();
      spark.sparkContext().addSparkListener(jobs);
      for (int r = 0; r <= repeats; r++) { // r = 0: warm-up
        for (int k : new int[] {0, EXPLAIN_K}) {
          ScoreJob job = new ScoreJob(scoreConfig(dataRoot, input, k, k == 0 ? Optional.empty() : explainWhere, salt));
          jobs.clear();
          long t0 = System.nanoTime();
          ScoreJob.Result res = job.run(spark);
          double s = (System.nanoTime() - t0) / 1e9;
          lastJobs.put(k, jobs.snapshot(t0, System.nanoTime()));
          if (res.rows() != (k == 0 ? n : m)) {
            throw new IllegalStateException("ScoreJob scored " + res.rows() + " rows, the bench " + (k == 0 ? n : m));
          }
          System.out.printf("run %d: ScoreJob --explain %d %.2f s%s%n", r, k, s, r == 0 ? " (warm-up)" : "");
          if (r > 0) {
            (k == 0 ? e2e0 : e2e5).add(s);
          }
        }
      }
      e2e0S = median(e2e0);
      e2e5S = median(e2e5);
      // the Delta write alone: the batch ScoreJob wrote (read back and cached), written again as ScoreJob writes it
      String scratch = Files.createTempDirectory("score-bench-write").toString();
      Dataset<Row> batch = readPredictions(spark, dataRoot, "bench-e0").cache();
      batch.count();
      writeS = median("delta write of a scored batch (--explain 0)", new ArrayList<>(),
          () -> batch.write().format("delta").mode("overwrite").partitionBy("event_date").save(scratch));
      batch.unpersist();
    }

    // --- report ---
    row("plain xgboost4j predict (nthread " + threads + ")", plainS, n, plainS);
    row("kiln model apply (ScoreJob's ModelApply -> noop)", applyS, n, plainS);
    row("  of which feature stages to the booster's inputs alone (diagnostic)", prepS, n, plainS);
    row("    of which reading the cached rows' model inputs (diagnostic)", readS, n, plainS);
    row("saved PipelineModel.transform -> noop (what ScoreJob ran before)", transformS, n, plainS);
    row("plain xgboost4j predictContrib", plainContribS, m, plainContribS);
    row("kiln model apply + contributions -> noop", applyContribS, m, plainContribS);
    row("saved PipelineModel.transform + contributions -> noop (before)", transformContribS, m, plainContribS);
    row("kiln model apply + top-" + EXPLAIN_K + " explanations -> noop", applyTopKS, m, plainContribS);
    if (endToEnd) {
      row("kiln score end to end, --explain 0", e2e0S, n, plainS);
      row("kiln score end to end, --explain " + EXPLAIN_K, e2e5S, m, plainContribS);
    }
    System.out.println();
    System.out.printf("%,d scored events x %d features (explanations: %,d of them), %,d history rows, %d threads, "
        + "median of %d after a warm-up%n", n, cols, m, historyRows, threads, repeats);
    System.out.println();
    System.out.println("| case | median s | rows/s | vs plain xgboost4j |");
    System.out.println("| --- | --- | --- | --- |");
    for (String[] t : table) {
      System.out.printf("| %s | %s | %s | %s |%n", (Object[]) t);
    }
    System.out.printf("(plain DMatrix construction from a float[]: %.3f s, not in the plain figures)%n", dmatrixS);
    System.out.printf("kiln model apply vs plain predict, median of the rounds' own ratios: %.2fx%n", applyPerRound);
    System.out.println();
    for (var e : lastJobs.entrySet()) {
      JobLog.print("Spark jobs of the last ScoreJob --explain " + e.getKey() + " run, by call site", e.getValue());
    }
    double other = e2e0S - checkS - featuresS - applyS - writeS;
    if (endToEnd) {
      System.out.println("Where an end-to-end --explain 0 run goes (pieces timed apart, medians):");
      System.out.println("| piece | s | share |");
      System.out.println("| --- | --- | --- |");
      piece("input check (read + validate the CSV: one pass)", checkS, e2e0S);
      piece("point-in-time features (input + history -> noop)", featuresS, e2e0S);
      piece("model apply (cached feature rows -> noop)", applyS, e2e0S);
      piece("Delta write of the batch (cached rows -> delta, by event_date)", writeS, e2e0S);
      piece("the rest (registry, model load, stats read-back, overlaps)", other, e2e0S);
    }

    json.put("scored_rows", n);
    json.put("history_rows", historyRows);
    json.put("features", cols);
    json.put("explain_rows", m);
    explainWhere.ifPresent(w -> json.put("explain_where", w));
    json.put("threads", threads);
    json.put("feature_partitions", partitions);
    json.put("repeats", repeats);
    json.put("max_abs_prob_diff", maxDiff);
    json.put("max_abs_prob_diff_pipeline", maxDiffPipeline);
    json.put("model", version.ref());
    json.put("run_id", run.runId());
    json.put("plain_dmatrix_s", dmatrixS);
    json.put("ratio_apply_vs_plain_rows_per_s", plainS / applyS);
    json.put("ratio_apply_vs_plain_per_round_median", applyPerRound);
    json.put("ratio_apply_contrib_vs_plain_rows_per_s", plainContribS / applyContribS);
    json.put("ratio_pipeline_transform_vs_plain_rows_per_s", plainS / transformS);
    if (endToEnd) {
      json.put("e2e_breakdown_s", Map.of("input_check", checkS, "features", featuresS, "model_apply", applyS,
          "delta_write", writeS, "rest", other));
    }
    Files.createDirectories(Path.of("bench/results"));
    Path out = Path.of("bench/results/score-" + n + ".json");
    Files.writeString(out, Json.toPrettyJson(json));
    System.out.println("wrote " + out);
    spark.stop();
  }

  /**
   * How often one point-in-time computation reads its inputs (the executed, final adaptive plan of one run: running
   * the Dataset's own adaptive plan makes its string the final plan, reused exchanges included; no bench lambdas
   * shipped to tasks: they could not load this source-launched class), then its median time to the noop sink. Timed
   * before the rows are cached: Spark would otherwise answer the same plan from the cache.
   */
  static double pointInTime(PointInTimeFeatures pit, Supplier<Dataset<Row>> history, TableRef historyRef,
                            Dataset<Row> in, TableRef inputRef) throws Exception {
    Dataset<Row> once = pit.compute(history.get(), historyRef, in, inputRef);
    once.queryExecution().toRdd().count();
    String fullPlan = once.queryExecution().executedPlan().toString();
    String plan = fullPlan.split("== Initial Plan ==")[0]; // the adaptive plan prints the initial plan after the final
    System.out.printf("point-in-time plan as executed: %d scans of the input CSV, %d of the history "
        + "(Delta/Parquet files), %d reused exchanges%n", count(plan, "FileScan csv"), count(plan, "FileScan parquet"),
        count(plan, "ReusedExchange"));
    json.put("pit_plan_csv_scans", count(plan, "FileScan csv"));
    json.put("pit_plan_history_scans", count(plan, "FileScan parquet"));
    json.put("pit_plan_reused_exchanges", count(plan, "ReusedExchange"));
    Files.createDirectories(Path.of("bench/results"));
    Files.writeString(Path.of("bench/results/score-pit-plan.txt"), fullPlan);
    return median("point-in-time features -> noop", new ArrayList<>(),
        () -> noop(pit.compute(history.get(), historyRef, in, inputRef)));
  }

  /** The rows as the XGBoost stage receives them: every stage before it (feature transforms, DenseFeatures). */
  static Dataset<Row> prepare(PipelineModel model, Dataset<Row> rows) {
    for (int i = 0; i < model.stages().length - 1; i++) {
      rows = model.stages()[i].transform(rows);
    }
    return rows;
  }

  static ScoreConfig scoreConfig(DataRoot root, String input, int explain, Optional<String> where,
                                 Optional<byte[]> salt) {
    return new ScoreConfig(root, MODEL, input, Optional.of("csv"), where, Optional.of(OUTPUT), "bench-e" + explain,
        explain, Optional.empty(), salt);
  }

  /** Dense row-major floats of the rows' {@code features} vectors. */
  static float[] toMatrix(Dataset<Row> prepared) {
    List<Row> vectors = prepared.select(FeaturePipeline.FEATURES).collectAsList();
    int cols = ((Vector) vectors.get(0).get(0)).size();
    float[] matrix = new float[vectors.size() * cols];
    for (int i = 0; i < vectors.size(); i++) {
      Vector v = vectors.get(i).getAs(0);
      for (int j = 0; j < cols; j++) {
        matrix[i * cols + j] = (float) v.apply(j);
      }
    }
    return matrix;
  }

  /**
   * Plain xgboost4j: a fresh DMatrix for every run, then {@code body} timed (the DMatrix construction goes to
   * {@code build}). Fresh because the booster caches its predictions per DMatrix: predicting the same one again is
   * ~free.
   */
  static TimedBody plain(float[] matrix, int cols, float missing, List<Double> build, DMatrixBody body) {
    return () -> {
      long t0 = System.nanoTime();
      DMatrix dm = new DMatrix(matrix, matrix.length / cols, cols, missing);
      long t1 = System.nanoTime();
      body.run(dm);
      double s = (System.nanoTime() - t1) / 1e9;
      dm.dispose();
      build.add((t1 - t0) / 1e9);
      return s;
    };
  }

  /** Seconds of the whole of {@code body}. */
  static TimedBody timed(ThrowingRunnable body) {
    return () -> {
      long t0 = System.nanoTime();
      body.run();
      return (System.nanoTime() - t0) / 1e9;
    };
  }

  /**
   * Median seconds of each case over REPEATS rounds after a warm-up round; a round runs every case once, in turn, so
   * that a shared machine's changing load weighs on all of them alike (the ratios between them are what counts).
   */
  static Map<String, Double> interleaved(Map<String, TimedBody> cases) throws Exception {
    Map<String, List<Double>> times = new LinkedHashMap<>();
    for (int r = 0; r <= repeats; r++) {
      for (var c : cases.entrySet()) {
        double s = c.getValue().run();
        System.out.printf("run %d: %s %.3f s%s%n", r, c.getKey(), s, r == 0 ? " (warm-up)" : "");
        if (r > 0) {
          times.computeIfAbsent(c.getKey(), k -> new ArrayList<>()).add(s);
        }
      }
    }
    Map<String, Double> medians = new LinkedHashMap<>();
    times.forEach((name, t) -> {
      json.put(name, t);
      medians.put(name, median(t));
    });
    return medians;
  }

  /** Median over the rounds of time(numerator case) / time(denominator case), from the times {@link #interleaved} kept. */
  @SuppressWarnings("unchecked")
  static double perRoundRatio(String numerator, String denominator) {
    List<Double> a = (List<Double>) json.get(numerator);
    List<Double> b = (List<Double>) json.get(denominator);
    List<Double> ratios = new ArrayList<>();
    for (int i = 0; i < a.size(); i++) {
      ratios.add(a.get(i) / b.get(i));
    }
    return median(ratios);
  }

  interface TimedBody {
    double run() throws Exception;
  }

  interface DMatrixBody {
    void run(DMatrix dm) throws ml.dmlc.xgboost4j.java.XGBoostError;
  }

  @SuppressWarnings("unchecked")
  static Dataset<Row> scoreInputRows(SparkSession spark, ScoreConfig config, ModelSignature signature) {
    try {
      Class<?> c = Class.forName("dev.kiln.score.ScoreInput");
      Method read = c.getDeclaredMethod("read", SparkSession.class, ScoreConfig.class, ModelSignature.class);
      read.setAccessible(true);
      Object in = read.invoke(null, spark, config, signature);
      Method rows = c.getDeclaredMethod("rows");
      rows.setAccessible(true);
      return (Dataset<Row>) rows.invoke(in);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  static Object explanations(PipelineModel model, int k) {
    try {
      Method prepare = Class.forName("dev.kiln.score.Explanations")
          .getDeclaredMethod("prepare", PipelineModel.class, int.class);
      prepare.setAccessible(true);
      return prepare.invoke(null, model, k);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The columns ScoreJob carries through the model apply (ScoreJob.carried). */
  @SuppressWarnings("unchecked")
  static List<Column> carried(dev.kiln.features.FeatureSetSpec spec, PointInTimeFeatures pit) {
    try {
      Method carried = ScoreJob.class.getDeclaredMethod("carried", dev.kiln.features.FeatureSetSpec.class,
          PointInTimeFeatures.class);
      carried.setAccessible(true);
      return (List<Column>) carried.invoke(null, spec, pit);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The event key, the score and Explanations' columns over the model apply, as ScoreJob selects them. */
  @SuppressWarnings("unchecked")
  static Dataset<Row> explained(ModelApply apply, Object explanations, Dataset<Row> rows, List<Column> carried,
                                String key) {
    try {
      Method columns = explanations.getClass().getDeclaredMethod("columns");
      columns.setAccessible(true);
      List<Column> out = new ArrayList<>();
      out.add(col(key));
      out.add(col("_score").as("score"));
      out.addAll((List<Column>) columns.invoke(explanations));
      return apply.apply(rows, carried, true).select(out.toArray(Column[]::new));
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The booster's input columns as the model apply computes them: every stage before the assembler (feature stages),
   * then the assembler's inputs cast to double.
   */
  static Dataset<Row> boosterInputs(PipelineModel model, Dataset<Row> rows) {
    List<org.apache.spark.ml.Transformer> stages = dev.kiln.common.PipelineStages.flat(model);
    Map<String, String> categories = new LinkedHashMap<>(); // indexer output -> its input: the apply's batches index
    for (int i = 0; i < stages.size() - 3; i++) {
      if (stages.get(i) instanceof org.apache.spark.ml.feature.StringIndexerModel indexer) {
        for (int c = 0; c < indexer.getInputCols().length; c++) {
          categories.put(indexer.getOutputCols()[c], indexer.getInputCols()[c]);
        }
        continue;
      }
      rows = stages.get(i).transform(rows);
    }
    var assembler = (org.apache.spark.ml.feature.VectorAssembler) stages.get(stages.size() - 3);
    return rows.select(java.util.Arrays.stream(assembler.getInputCols())
        .map(c -> categories.containsKey(c) ? col(categories.get(c)).cast("string") : col(c).cast("double"))
        .toArray(Column[]::new));
  }

  static Dataset<Row> readPredictions(SparkSession spark, DataRoot root, String batchId) {
    return spark.read().format("delta").load(root.table(TableRef.parse(OUTPUT, "predictions")))
        .where(col(ScoreJob.BATCH).equalTo(batchId));
  }

  /** Native xgboost opens local files only; artifacts may be a file: URI. */
  static Path localPath(String uri) {
    return uri.startsWith("file:") ? Path.of(java.net.URI.create(uri)) : Path.of(uri);
  }

  static int count(String text, String what) {
    return text.split(java.util.regex.Pattern.quote(what), -1).length - 1;
  }

  /** Runs every row through the plan and drops it: the cost of producing the rows, nothing written. */
  static void noop(Dataset<Row> df) {
    df.write().format("noop").mode("overwrite").save();
  }

  /** Median of REPEATS timed runs after one warm-up; each run printed. */
  static double median(String name, List<Double> times, ThrowingRunnable body) {
    for (int r = 0; r <= repeats; r++) {
      long t0 = System.nanoTime();
      try {
        body.run();
      } catch (Exception e) {
        throw new IllegalStateException(name, e);
      }
      double s = (System.nanoTime() - t0) / 1e9;
      System.out.printf("run %d: %s %.3f s%s%n", r, name, s, r == 0 ? " (warm-up)" : "");
      if (r > 0) {
        times.add(s);
      }
    }
    json.put(name, times);
    return median(times);
  }

  static double median(List<Double> v) {
    List<Double> s = new ArrayList<>(v);
    s.sort(Double::compare);
    return s.get(s.size() / 2);
  }

  /** ratio: this case's rows/s over plain xgboost4j's on the same work (1.00x: as fast). */
  static void row(String name, double s, long n, double plainS) {
    table.add(new String[] {name, String.format("%.3f", s), String.format("%,.0f", n / s),
        String.format("%.2fx", plainS / s)});
    json.put("row: " + name, Map.of("median_s", s, "rows_per_s", n / s, "vs_plain", plainS / s));
  }

  static void piece(String name, double s, double total) {
    System.out.printf("| %s | %.2f | %.0f%% |%n", name, s, 100 * s / total);
  }

  /**
   * Spark jobs seen while ScoreJob runs, with their call sites ({@code save at ScoreJob.java:158}): where the
   * end-to-end time goes, without changing ScoreJob. Time outside any job is driver work (planning, Delta log,
   * model loading).
   */
  static final class JobLog extends org.apache.spark.scheduler.SparkListener {
    record Job(int id, String site, long startNs, long endNs) {}

    private final Map<Integer, long[]> times = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<Integer, String> sites = new java.util.concurrent.ConcurrentHashMap<>();

    @Override
    public void onJobStart(org.apache.spark.scheduler.SparkListenerJobStart e) {
      sites.put(e.jobId(), site(e));
      times.put(e.jobId(), new long[] {System.nanoTime(), 0});
    }

    @Override
    public void onJobEnd(org.apache.spark.scheduler.SparkListenerJobEnd e) {
      long[] t = times.get(e.jobId());
      if (t != null) {
        t[1] = System.nanoTime();
      }
    }

    /**
     * The job's call site as Spark names its stages ({@code save at NativeMethodAccessorImpl.java:0}), with the first
     * Kiln frame of its stack: Spark skips only its own frames, so Delta's and XGBoost's would hide the Kiln line.
     */
    static String site(org.apache.spark.scheduler.SparkListenerJobStart e) {
      var stages = scala.collection.JavaConverters.seqAsJavaList(e.stageInfos());
      var last = stages.stream().max(java.util.Comparator.comparingInt(
          org.apache.spark.scheduler.StageInfo::stageId)).orElse(null);
      if (last == null) {
        return "?";
      }
      String kiln = last.details().lines().map(String::trim).filter(l -> l.startsWith("dev.kiln."))
          .findFirst().map(l -> l.replaceFirst("^dev\\.kiln\\.", "")).orElse("no Kiln frame");
      return last.name() + " / " + kiln;
    }

    void clear() {
      times.clear();
      sites.clear();
    }

    /** The jobs finished so far, plus the run's wall-clock bounds as a pseudo job -1. */
    List<Job> snapshot(long runStart, long runEnd) {
      // the listener bus is asynchronous: let it catch up with the last job's end
      try {
        Thread.sleep(500);
      } catch (InterruptedException ex) {
        Thread.currentThread().interrupt();
      }
      List<Job> out = new ArrayList<>();
      out.add(new Job(-1, "(whole run)", runStart, runEnd));
      times.forEach((id, t) -> out.add(new Job(id, sites.get(id), t[0], t[1] == 0 ? runEnd : t[1])));
      out.sort(java.util.Comparator.comparingInt(Job::id));
      return out;
    }

    static void print(String title, List<Job> jobs) {
      Job whole = jobs.get(0);
      // per call site: jobs and wall time, the union of their intervals (adaptive execution runs independent stages'
      // jobs at once, so summing durations would count time twice); outside every job: driver-only time
      Map<String, double[]> bySite = new LinkedHashMap<>();
      Map<String, List<long[]>> siteSpans = new LinkedHashMap<>();
      List<long[]> spans = new ArrayList<>();
      for (Job j : jobs.subList(1, jobs.size())) {
        bySite.computeIfAbsent(j.site(), x -> new double[2])[0]++;
        siteSpans.computeIfAbsent(j.site(), x -> new ArrayList<>()).add(new long[] {j.startNs(), j.endNs()});
        spans.add(new long[] {j.startNs(), j.endNs()});
      }
      siteSpans.forEach((site, sp) -> bySite.get(site)[1] = union(sp) / 1e9);
      long busy = union(spans);
      double total = (whole.endNs() - whole.startNs()) / 1e9;
      System.out.println();
      System.out.printf("%s (%.2f s, %d jobs; %.2f s in no job: driver-side work):%n", title, total,
          jobs.size() - 1, total - busy / 1e9);
      System.out.println("| call site (stage name / first Kiln frame) | jobs | wall s |");
      System.out.println("| --- | --- | --- |");
      bySite.entrySet().stream().sorted((x, y) -> Double.compare(y.getValue()[1], x.getValue()[1]))
          .forEach(e -> System.out.printf("| %s | %d | %.2f |%n", e.getKey(), (int) e.getValue()[0],
              e.getValue()[1]));
      Map<String, Object> j = new LinkedHashMap<>();
      j.put("total_s", total);
      j.put("outside_jobs_s", total - busy / 1e9);
      Map<String, Object> sites = new LinkedHashMap<>();
      bySite.forEach((k, v) -> sites.put(k, Map.of("jobs", (int) v[0], "s", v[1])));
      j.put("by_call_site", sites);
      json.put(title, j);
    }
  }

  /** Total length of the union of [start, end] intervals. */
  static long union(List<long[]> spans) {
    spans.sort(java.util.Comparator.comparingLong(x -> x[0]));
    long busy = 0;
    long until = Long.MIN_VALUE;
    for (long[] sp : spans) {
      long from = Math.max(sp[0], until);
      if (sp[1] > from) {
        busy += sp[1] - from;
      }
      until = Math.max(until, sp[1]);
    }
    return busy;
  }

  interface ThrowingRunnable {
    void run() throws Exception;
  }
}
