package dev.kiln.train;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kiln.common.DataRoot;
import dev.kiln.common.Json;
import dev.kiln.features.FeatureConfig;
import dev.kiln.features.FeatureJob;
import dev.kiln.features.TrainsetConfig;
import dev.kiln.features.TrainsetJob;
import dev.kiln.features.TrainsetManifest;
import dev.kiln.testing.Cli;
import dev.kiln.testing.GeneratedEvents;
import dev.kiln.testing.SharedSpark;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * A training run that fails after it started is recorded in {@code meta.runs} as failed with its error, its partial
 * artifacts are removed, {@code kiln runs list} shows it, it can't become a model, and later runs are unaffected. The
 * assertions go through the CLI's JSON ({@code kiln runs list --json}), as a user or a script sees the runs.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FailedRunTest {
  @TempDir
  static Path tmp;

  private final SparkSession spark = SharedSpark.get();
  private DataRoot root;
  private TrainsetManifest trainset;

  @BeforeAll
  void smallTrainset() {
    root = GeneratedEvents.ingested(spark, tmp, 3_000, 5);
    new FeatureJob(new FeatureConfig(root, Path.of("conf/features/clicks.yaml"), Optional.empty(), false, false))
        .run(spark);
    trainset = new TrainsetJob(new TrainsetConfig(root, "clicks", Optional.empty(), TrainsetConfig.Split.RANDOM, 0.2,
        0.1, 42, Optional.empty(), Optional.empty(), Optional.empty())).run(spark).manifest();
  }

  @AfterEach
  void noFault() {
    TrainJob.faultBeforeFinish = null;
  }

  /** {@code kiln runs list --json}: run id to its JSON. */
  private Map<String, JsonNode> listedRuns() throws Exception {
    Cli.Result r = Cli.run("runs", "list", "--json", "--data-root", root.toString());
    assertEquals(0, r.exitCode(), r.err());
    Map<String, JsonNode> runs = new LinkedHashMap<>();
    for (String line : r.out().strip().split("\\R")) {
      if (line.startsWith("{")) {
        JsonNode n = Json.JSON.readTree(line);
        runs.put(n.get("run_id").asText(), n);
      }
    }
    return runs;
  }

  private List<String> newRuns(Map<String, JsonNode> before) throws Exception {
    List<String> added = new ArrayList<>(listedRuns().keySet());
    added.removeAll(before.keySet());
    return added;
  }

  private boolean artifactsExist(String runId) {
    return Files.exists(Path.of(java.net.URI.create(root.resolve("artifacts/" + runId))));
  }

  private static String text(JsonNode run, String field) {
    return run.hasNonNull(field) ? run.get(field).asText() : null;
  }

  @Test
  void badDataMidRunIsRecordedAsFailedWithItsError() throws Exception {
    // a training row with label 2: the label check (two classes among 0..2) passes, the fit then fails in a Spark task
    String label = trainset.featureSetSpec().label();
    var rows = spark.read().format("delta").load(trainset.dataPath());
    rows.where(col(TrainsetManifest.SPLIT_COLUMN).equalTo("train")).limit(1)
        .withColumn(label, lit(2).cast(rows.schema().apply(label).dataType()))
        .write().format("delta").mode("append").save(trainset.dataPath());
    try {
      Map<String, JsonNode> before = listedRuns();
      Cli.Result r = Cli.run("train", "--model", "gbt", "--trainset", trainset.id(), "--set", "max_iter=3",
          "--data-root", root.toString());
      assertEquals(1, r.exitCode(), "an internal failure, as before: " + r.err());
      assertTrue(r.err().contains("but got 2.0"), "the fault happened where expected: " + r.err());

      List<String> added = newRuns(before);
      assertEquals(1, added.size(), "the failed run is listed by kiln runs list: " + added);
      JsonNode run = listedRuns().get(added.get(0));
      assertEquals("failed", text(run, "status"), run.toString());
      assertTrue(text(run, "error") != null && text(run, "error").contains("Labels MUST be in {0, 1}, but got 2.0"),
          run.toString());
      assertEquals("gbt", text(run, "model_type"));
      assertNotNull(text(run, "ended_at"), run.toString());
      assertEquals(null, text(run, "artifacts"), "nothing left to point at: " + run);
      assertFalse(artifactsExist(added.get(0)));
      Cli.Result table = Cli.run("runs", "list", "--data-root", root.toString());
      assertTrue(table.out().lines().anyMatch(l -> l.contains(added.get(0)) && l.contains("failed")), table.out());

      Cli.Result register = Cli.run("models", "register", added.get(0), "--data-root", root.toString());
      assertEquals(2, register.exitCode(), register.out() + register.err());
      assertEquals(1, register.errLines().length, register.err());
      assertTrue(register.err().contains("failed"), register.err());
    } finally {
      io.delta.tables.DeltaTable.forPath(spark, trainset.dataPath()).delete(col(label).equalTo(2));
    }
  }

  @Test
  void aRunFailingAfterItsArtifactsAreWrittenLeavesNoModelAndALaterRunIsUnaffected() throws Exception {
    Map<String, JsonNode> before = listedRuns();
    AtomicReference<String> faultAt = new AtomicReference<>();
    AtomicReference<Boolean> modelWritten = new AtomicReference<>(false);
    AtomicReference<String> statusDuringRun = new AtomicReference<>();
    TrainJob.faultBeforeFinish = dir -> {
      faultAt.set(dir);
      modelWritten.set(Files.isDirectory(Path.of(java.net.URI.create(dir)).resolve("model/stages")));
      try {
        String runId = dir.substring(dir.lastIndexOf('/') + 1);
        statusDuringRun.set(text(listedRuns().get(runId), "status"));
      } catch (Exception e) {
        statusDuringRun.set(e.toString());
      }
      throw new IllegalStateException("injected: executor lost after the model was saved");
    };
    RuntimeException e = assertThrows(RuntimeException.class, () -> new TrainJob(new TrainConfig(root, trainset.id(),
        ModelType.LOGREG, Optional.empty(), Map.of("max_iter", "20"), 0.5, 42)).run(spark));
    assertTrue(e.getMessage().contains("injected"), e.toString());
    assertNotNull(faultAt.get(), "the fault happened");
    assertTrue(modelWritten.get(), "the fault hit with the model already saved");
    assertEquals("running", statusDuringRun.get(), "a started run is listed as running");
    TrainJob.faultBeforeFinish = null;

    List<String> added = newRuns(before);
    assertEquals(1, added.size(), added.toString());
    String failed = added.get(0);
    JsonNode run = listedRuns().get(failed);
    assertEquals("failed", text(run, "status"), run.toString());
    assertTrue(text(run, "error").contains("injected: executor lost"), run.toString());
    assertFalse(artifactsExist(failed), "the partial artifacts are removed");
    Cli.Result show = Cli.run("runs", "show", failed, "--json", "--data-root", root.toString());
    assertEquals(0, show.exitCode(), show.err());
    assertTrue(show.out().contains("\"status\":\"failed\""), show.out());

    // the next run on the same trainset finishes normally and is the one a model can come from
    Cli.Result ok = Cli.run("train", "--model", "logreg", "--trainset", trainset.id(), "--set", "max_iter=20",
        "--register", "--json", "--data-root", root.toString());
    assertEquals(0, ok.exitCode(), ok.err());
    added = newRuns(before);
    assertEquals(2, added.size(), added.toString());
    added.remove(failed);
    String finished = added.get(0);
    JsonNode good = listedRuns().get(finished);
    assertEquals("finished", text(good, "status"), good.toString());
    assertEquals(null, text(good, "error"));
    assertTrue(good.get("metrics").get("roc_auc").asDouble() > 0.5, good.toString());
    assertTrue(artifactsExist(finished));
    assertEquals("failed", text(listedRuns().get(failed), "status"), "the failed run stays failed");
    Cli.Result models = Cli.run("models", "list", "--json", "--data-root", root.toString());
    assertEquals(0, models.exitCode(), models.err());
    assertTrue(models.out().contains(finished) && !models.out().contains(failed), models.out());
  }
}
