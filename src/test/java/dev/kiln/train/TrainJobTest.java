package dev.kiln.train;

import static org.apache.spark.sql.functions.col;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kiln.common.DataRoot;
import dev.kiln.common.Json;
import dev.kiln.features.FeatureConfig;
import dev.kiln.features.FeatureJob;
import dev.kiln.features.TrainsetConfig;
import dev.kiln.features.TrainsetJob;
import dev.kiln.features.TrainsetManifest;
import dev.kiln.registry.RunsTable;
import dev.kiln.testing.ChildJvm;
import dev.kiln.testing.Cli;
import dev.kiln.testing.GeneratedEvents;
import dev.kiln.testing.SharedSpark;
import dev.kiln.testing.TreeSnapshot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.evaluation.BinaryClassificationEvaluator;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every model type trained on one small trainset of generated events (time split), in this JVM; one XGBoost run goes
 * through {@code kiln train} in a child JVM as users run it (and a native crash there could not take the test JVM
 * down).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TrainJobTest {
  @TempDir
  static Path tmp;

  private final SparkSession spark = SharedSpark.get();
  private DataRoot root;
  private TrainsetManifest trainset;
  private final List<TrainJob.Result> results = new ArrayList<>();

  @BeforeAll
  void trainEveryModelType() {
    root = GeneratedEvents.ingested(spark, tmp, 20_000, 7);
    new FeatureJob(new FeatureConfig(root, Path.of("conf/features/clicks.yaml"), Optional.empty(), false, false))
        .run(spark);
    trainset = new TrainsetJob(new TrainsetConfig(root, "clicks", Optional.empty(), TrainsetConfig.Split.TIME, 0.2,
        0.1, 42, Optional.empty(), Optional.empty(), Optional.empty())).run(spark).manifest();
    results.add(train(ModelType.LOGREG, Map.of()));
    results.add(train(ModelType.GBT, Map.of("max_iter", "20")));
    results.add(train(ModelType.RF, Map.of("num_trees", "20")));
    results.add(trainInChildJvm(ModelType.XGBOOST, "n_estimators=100"));
    results.add(train(ModelType.XGBOOST, Map.of("n_estimators", "100")));
    results.add(train(ModelType.MLP, Map.of("epochs", "3")));
    results.add(train(ModelType.MLP, Map.of("epochs", "3")));
  }

  private TrainJob.Result trainInChildJvm(ModelType model, String setting) {
    Path log = tmp.resolve("train-" + results.size() + ".log");
    Process p = ChildJvm.start(ChildJvm.classpath(), List.of("-Xmx3g", "-Dspark.master=local[2]",
            "-Dspark.ui.enabled=false", "-Dspark.sql.shuffle.partitions=4"), "dev.kiln.cli.KilnCli",
        List.of("train", "--model", model.id(), "--trainset", trainset.id(), "--set", setting, "--data-root",
            root.toString(), "--json"), Map.of(), log);
    try {
      assertEquals(0, ChildJvm.await(p, java.time.Duration.ofMinutes(10), () -> readLog(log)), () -> readLog(log));
      String json = Files.readAllLines(log).stream().filter(l -> l.startsWith("{\"")).reduce((a, b) -> b)
          .orElseThrow(() -> new AssertionError(readLog(log)));
      com.fasterxml.jackson.databind.JsonNode node = Json.JSON.readTree(json);
      String runId = node.get("run_id").asText();
      RunsTable.Run run = new RunsTable(spark, root).get(runId);
      // where the run's time went, stage by stage, ending with recording the run
      Map<String, Double> stages = Json.JSON.convertValue(node.get("stage_seconds"),
          new com.fasterxml.jackson.core.type.TypeReference<Map<String, Double>>() {});
      assertTrue(stages != null && stages.containsKey("read and check trainset") && stages.containsKey("fit xgboost")
          && stages.containsKey("record run")
          && stages.values().stream().allMatch(v -> v >= 0), json);
      Map<String, Long> peakHeap = Json.JSON.convertValue(node.get("stage_peak_heap_mib"),
          new com.fasterxml.jackson.core.type.TypeReference<Map<String, Long>>() {});
      return new TrainJob.Result(run, null, stages, peakHeap);
    } catch (IOException | InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String readLog(Path log) {
    try {
      return Files.readString(log);
    } catch (IOException e) {
      return e.toString();
    }
  }

  private TrainJob.Result train(ModelType model, Map<String, String> overrides) {
    return new TrainJob(new TrainConfig(root, trainset.id(), model, Optional.empty(), overrides, 0.5, 42))
        .run(spark);
  }

  @Test
  void everyModelLearnsAndXgboostIsAtLeastAsGoodAsLogisticRegression() {
    for (TrainJob.Result r : results) {
      Map<String, Double> m = r.run().metrics();
      assertTrue(m.get("roc_auc") > 0.65 && m.get("roc_auc") < 0.95, r.run().modelType() + " " + m);
      assertTrue(m.get("log_loss") > 0 && m.get("log_loss") < 0.6, r.run().modelType() + " " + m);
      assertTrue(m.get("brier") > 0 && m.get("brier") < 0.2, r.run().modelType() + " " + m);
      assertEquals(trainset.rows().get("test"), Math.round(m.get("test_rows")));
      if (r.evaluation() != null) {
        assertEquals(Evaluation.ROC_BINS + 1, r.evaluation().roc().size());
      }
    }
    double logreg = results.get(0).run().metrics().get("roc_auc");
    double xgboost = results.get(3).run().metrics().get("roc_auc");
    System.out.printf("test ROC AUC on 20k events: logreg %.4f, gbt %.4f, rf %.4f, xgboost %.4f, mlp %.4f%n", logreg,
        results.get(1).run().metrics().get("roc_auc"), results.get(2).run().metrics().get("roc_auc"), xgboost,
        results.get(5).run().metrics().get("roc_auc"));
    assertTrue(xgboost >= logreg - 0.01, "xgboost " + xgboost + " vs logreg " + logreg);
  }

  @Test
  void sameTrainsetAndSeedGiveTheSameMetrics() {
    // one run in a child JVM, one here (other partitioning): the same model, so the same metrics up to the order of
    // floating-point sums
    Map<String, Double> a = results.get(3).run().metrics();
    Map<String, Double> b = results.get(4).run().metrics();
    assertEquals(a.keySet(), b.keySet());
    a.forEach((k, v) -> assertEquals(v, b.get(k), 1e-12, k));
  }

  @Test
  void runsRecordEveryInputVersionAndTheCliListsThem() {
    java.util.Set<String> listed = new java.util.HashSet<>();
    new RunsTable(spark, root).list().forEach(r -> listed.add(r.runId()));
    results.forEach(r -> assertTrue(listed.contains(r.run().runId()), "every run is listed: " + r.run().runId()));
    RunsTable.Run xgb = new RunsTable(spark, root).get(results.get(3).run().runId());
    assertEquals(trainset.id(), xgb.trainsetId());
    assertEquals(trainset.featureTableVersion(), xgb.featureTableVersion());
    assertEquals(trainset.sourceVersion(), xgb.sourceVersion());
    assertEquals("100", xgb.params().get("n_estimators"));
    assertEquals("6", xgb.params().get("max_depth"));
    assertEquals(42L, xgb.seed());
    assertTrue(xgb.libraryVersions().containsKey("spark"), xgb.libraryVersions().toString());

    Cli.Result list = Cli.run("runs", "list", "--data-root", root.toString());
    assertEquals(0, list.exitCode(), list.err());
    results.forEach(r -> assertTrue(list.out().contains(r.run().runId()), list.out()));
    Cli.Result compare = Cli.run("runs", "compare", results.get(0).run().runId(), results.get(3).run().runId(),
        "--data-root", root.toString());
    assertEquals(0, compare.exitCode(), compare.err());
    assertTrue(compare.out().contains("roc_auc") && compare.out().contains("n_estimators"), compare.out());
  }

  @Test
  void savedPipelineScoresLikeTheRun() {
    assertSavedPipelineScoresLikeTheRun(results.get(0).run());
  }

  /** The pipeline saved in the run's artifacts, loaded back and scored on the test split, gives the recorded AUC. */
  private void assertSavedPipelineScoresLikeTheRun(RunsTable.Run run) {
    PipelineModel model = PipelineModel.load(run.artifacts() + "/model");
    Dataset<Row> test = spark.read().format("delta").load(trainset.dataPath()).where(col("split").equalTo("test"));
    double auc = new BinaryClassificationEvaluator().setLabelCol("_label").setRawPredictionCol("probability")
        .setNumBins(0).evaluate(model.transform(test));
    assertEquals(run.metrics().get("roc_auc"), auc, 1e-9, run.runId());
  }

  @Test
  void theMlpIsReproducibleAndItsSavedPipelineAndZipScoreLikeTheRun() throws Exception {
    RunsTable.Run mlp = results.get(5).run();
    Map<String, Double> again = results.get(6).run().metrics();
    mlp.metrics().forEach((k, v) -> assertEquals(v, again.get(k), 1e-12, "same trainset + seed: " + k));
    assertSavedPipelineScoresLikeTheRun(mlp);
    Path zip = Path.of(java.net.URI.create(mlp.artifacts())).resolve("mlp.zip");
    var net = org.deeplearning4j.util.ModelSerializer.restoreMultiLayerNetwork(zip.toFile(), false);
    assertEquals(List.of(128L, 64L, 1L),
        List.of((long) net.layerSize(0), (long) net.layerSize(1), (long) net.layerSize(2)));
  }

  @Test
  void tuneRunsTrackedTrialsInParallelAndRegistersTheBest() throws IOException {
    Path space = tmp.resolve("logreg-space.yaml");
    Files.writeString(space, "model: logreg\nstrategy: grid\nmetric: log_loss\nfixed: {max_iter: 50}\n"
        // no reg_param 0: without regularization elastic_net changes nothing, and two trials would tie
        + "params:\n  reg_param: {values: [0.01, 0.3]}\n  elastic_net: {values: [0.0, 1.0]}\n");
    int runsBefore = new RunsTable(spark, root).list().size();
    Cli.Result r = Cli.run("tune", "--trainset", trainset.id(), "--space", space.toString(), "--trials", "3",
        "--parallelism", "2", "--register", "clicks-tuned", "--data-root", root.toString());
    assertEquals(0, r.exitCode(), r.err());
    List<RunsTable.Run> runs = new RunsTable(spark, root).list();
    assertEquals(runsBefore + 3, runs.size(), "grid of 4 capped at --trials 3, each a tracked run");
    assertEquals(3, runs.subList(0, 3).stream().map(x -> x.metrics().get("log_loss")).distinct().count(),
        "the trials differ, so 'the best' is one run");
    RunsTable.Run best = runs.subList(0, 3).stream()
        .min(java.util.Comparator.comparingDouble(x -> x.metrics().get("log_loss"))).orElseThrow();
    assertTrue(r.out().contains("best trial") && r.out().contains(best.runId()), r.out());
    // where the time went: the tune's own stages (all trials as one), then the trials' stages summed over them
    String secs = " \\d+\\.\\d s"; // a minus sign cannot match
    assertTrue(r.out().lines().anyMatch(l -> l.matches("  time: prepare runs table" + secs + " · trials" + secs
        + " · register best" + secs + " · write trials.json" + secs)), r.out());
    assertTrue(r.out().lines().anyMatch(l -> l.matches("  trials' time, summed over 3 trial\\(s\\): "
        + "read and check trainset" + secs + " · record start" + secs + " · fit" + secs + " · evaluate on test split"
        + secs + " · write artifacts" + secs + " · record run" + secs)), r.out());
    var registered = new dev.kiln.registry.ModelRegistry(spark, root).resolve("clicks-tuned", "1");
    assertEquals(best.runId(), registered.runId());
    assertEquals(dev.kiln.registry.ModelRegistry.Stage.CANDIDATE, registered.stage());
    assertTrue(runs.stream().anyMatch(x -> "0.3".equals(x.params().get("reg_param"))), "trial params recorded");

    Path bad = tmp.resolve("bad-space.yaml");
    Files.writeString(bad, "model: logreg\nstrategy: random\nmetric: roc_auc\nparams:\n  depth: {values: [1]}\n");
    Cli.Result refused = Cli.run("tune", "--trainset", trainset.id(), "--space", bad.toString(), "--data-root",
        root.toString());
    assertEquals(2, refused.exitCode());
    assertTrue(refused.err().contains("unknown parameter 'depth'") && refused.err().contains("bad-space.yaml"),
        refused.err());
    assertEquals(runsBefore + 3, new RunsTable(spark, root).list().size(), "nothing trained for a bad space");

    // --json: the same stages as stage_seconds, each trial with its own, and their sums
    Cli.Result json = Cli.run("tune", "--trainset", trainset.id(), "--space", space.toString(), "--trials", "1",
        "--data-root", root.toString(), "--json");
    assertEquals(0, json.exitCode(), json.err());
    JsonNode tune = Json.JSON.readTree(json.out().strip());
    assertStages(tune.get("stage_seconds"), "prepare runs table", "trials", "write trials.json");
    List<String> trainStages = List.of("read and check trainset", "record start", "fit", "evaluate on test split",
        "write artifacts", "record run");
    assertStages(tune.get("trials").get(0).get("stage_seconds"), trainStages.toArray(String[]::new));
    assertStages(tune.get("trial_stage_seconds"), trainStages.toArray(String[]::new));
    assertEquals(tune.get("trials").get(0).get("stage_seconds"), tune.get("trial_stage_seconds"), "one trial: its own");
  }

  /** {@code stage_seconds} names exactly these stages, each with a time of zero or more. */
  private static void assertStages(JsonNode stageSeconds, String... expected) {
    Map<String, Double> stages = Json.JSON.convertValue(stageSeconds,
        new com.fasterxml.jackson.core.type.TypeReference<Map<String, Double>>() {});
    assertEquals(java.util.Set.of(expected), stages.keySet(), String.valueOf(stageSeconds));
    assertTrue(stages.values().stream().allMatch(v -> v >= 0), String.valueOf(stageSeconds));
  }

  @Test
  void savedXgboostPipelineScoresLikeTheRun() {
    assertSavedPipelineScoresLikeTheRun(results.get(3).run());
  }

  @Test
  void xgboostRunsWriteTheNativeBoosterAndItsFeatureImportance() throws IOException {
    Path dir = Path.of(java.net.URI.create(results.get(3).run().artifacts()));
    JsonNode booster = Json.JSON.readTree(dir.resolve("xgboost.json").toFile());
    assertTrue(booster.has("learner"), "native XGBoost JSON model");
    assertTrue(Files.size(dir.resolve("xgboost.ubj")) > 1000);
    assertTrue(Files.isDirectory(dir.resolve("model/stages")), "the Spark pipeline model beside it");
    JsonNode importance = Json.JSON.readTree(dir.resolve("feature_importance.json").toFile());
    assertTrue(importance.has("a_user_ctr_imp"), importance.toString());
    assertTrue(Files.readString(dir.resolve("model_card.md")).contains(trainset.id()));
    assertTrue(Json.JSON.readTree(dir.resolve("metrics.json").toFile()).has("pr_auc"));
  }

  /**
   * The exported booster in Python's xgboost predicts what the JVM predicted, to 1e-5, from both formats. CI installs
   * Debian's python3-xgboost (.ci/run); elsewhere the test is skipped when no Python with xgboost is found.
   */
  @Test
  void pythonXgboostLoadsTheBoosterAndPredictsLikeTheJvm() throws Exception {
    Optional<String> python = PythonXgboost.find();
    if (python.isEmpty() && System.getenv("CI") != null) {
      throw new AssertionError("CI must provide Python's xgboost (apt-get install python3-xgboost)");
    }
    org.junit.jupiter.api.Assumptions.assumeTrue(python.isPresent(), "no python3 with xgboost here");
    Path dir = Path.of(java.net.URI.create(results.get(3).run().artifacts()));
    Path script = Path.of("src/test/resources/xgboost_crosscheck.py");
    Path pyLog = tmp.resolve("crosscheck.log");
    Process p = new ProcessBuilder(python.get(), script.toString(), dir.toString()).redirectErrorStream(true)
        .redirectOutput(pyLog.toFile()).start();
    int code = ChildJvm.await(p, java.time.Duration.ofMinutes(5), () -> readLog(pyLog));
    String out = Files.readString(pyLog);
    assertEquals(0, code, out);
    System.out.println("TrainJobTest: " + out.strip().replace("\n", "; "));
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("(xgboost\\.\\w+) rows=(\\d+) max_abs_diff=(\\S+)")
        .matcher(out);
    int formats = 0;
    while (m.find()) {
      formats++;
      assertTrue(Integer.parseInt(m.group(2)) > 100, out);
      assertTrue(Double.parseDouble(m.group(3)) <= 1e-5, m.group(1) + ": " + out);
    }
    assertEquals(2, formats, out);
  }

  @Test
  void badRequestsFailInOneLineAndRecordNothing() {
    Map<String, Long> before = TreeSnapshot.of(tmp.resolve("root"));
    String[][] cases = {
        {"--model", "svm", "--trainset", trainset.id()},
        {"--model", "xgboost", "--trainset", "no-such-trainset"},
        {"--model", "xgboost", "--trainset", trainset.id(), "--set", "max_depth=0"},
        {"--model", "xgboost", "--trainset", trainset.id(), "--set", "depth=3"},
        {"--model", "xgboost", "--trainset", trainset.id(), "--set", "num_workers=64"},
        {"--model", "logreg", "--trainset", trainset.id(), "--threshold", "1.5"},
        {"--model", "xgboost", "--trainset", trainset.id(), "--set", "device=tpu"},
        {"--model", "mlp", "--trainset", trainset.id(), "--set", "hidden1=0"},
        {"--model", "logreg", "--trainset", trainset.id(), "--register", "no spaces"}};
    String[] expected = {"unknown model type 'svm'", "no trainset 'no-such-trainset'", "max_depth = 0 is out of range",
        "unknown parameter 'depth'", "num_workers = 64", "--threshold", "device must be one of cpu, cuda",
"hidden1 = 0 is out of range", "model name 'no spaces'"};
    for (int i = 0; i < cases.length; i++) {
      List<String> args = new ArrayList<>(List.of("train", "--data-root", root.toString()));
      args.addAll(List.of(cases[i]));
      Cli.Result r = Cli.run(args.toArray(String[]::new));
      assertEquals(2, r.exitCode(), String.join(" ", cases[i]) + ": " + r.err());
      assertEquals(1, r.errLines().length, r.err());
      assertTrue(r.err().contains(expected[i]), r.err());
    }
    assertEquals(before, TreeSnapshot.of(tmp.resolve("root")));
  }

  @Test
  void aTrainSplitWithOneLabelClassIsRefused() throws IOException {
    DataRoot oneClass = DataRoot.of(tmp.resolve("one-class").toString());
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      rows.add(org.apache.spark.sql.RowFactory.create("e" + i, "u" + (i % 7),
          java.sql.Timestamp.from(java.time.Instant.parse("2026-01-01T00:00:00Z").plusSeconds(60L * i)), 0));
    }
    spark.createDataFrame(rows, new org.apache.spark.sql.types.StructType()
            .add("event_id", "string").add("user_id", "string").add("timestamp", "timestamp").add("label", "int"))
        .write().format("delta").save(oneClass.resolve("tables/bronze/events"));
    Path spec = tmp.resolve("one-class.yaml");
    Files.writeString(spec, String.join("\n", "name: oneclass", "version: 1", "event_key: event_id",
        "event_time: timestamp", "label: label", "time_features: [hour]",
        "aggregates: [{name: u_ctr, entity: user_id, function: ctr}]", ""));
    new FeatureJob(new FeatureConfig(oneClass, spec, Optional.empty(), false, false)).run(spark);
    String id = new TrainsetJob(new TrainsetConfig(oneClass, "oneclass", Optional.empty(),
        TrainsetConfig.Split.RANDOM, 0.2, 0.0, 42, Optional.empty(), Optional.empty(), Optional.empty()))
        .run(spark).manifest().id();
    Cli.Result r = Cli.run("train", "--model", "logreg", "--trainset", id, "--data-root", oneClass.toString());
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(r.err().contains("single label class"), r.err());
  }
}
