package dev.kiln.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.kiln.common.DataRoot;
import dev.kiln.testing.DeltaLogFiles;
import dev.kiln.testing.KillPoints;
import dev.kiln.testing.SharedSpark;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills real {@code kiln models register} and {@code kiln models promote} child processes (SIGKILL) while the
 * registry's new state is written but not committed, and after its commit before the command has confirmed it;
 * re-runs, and checks the registry (rows and history) is exactly what clean runs give. The promotion replaces a
 * champion, so its one commit also archives the old one. Each child is stopped at its point by
 * {@link dev.kiln.testing.PausingLogStore} and the data root checked to be in that state before the kill; every
 * point must be hit.
 */
class RegistryKillTest {
  @TempDir
  Path tmp;

  private final SparkSession spark = SharedSpark.get();

  @Test
  void killedDuringRegisterAndPromoteThenRerunsEqualCleanRuns() throws Exception {
    DataRoot clean = DataRoot.of(tmp.resolve("clean").toString());
    Path killedRoot = tmp.resolve("killed");
    DataRoot killed = DataRoot.of(killedRoot.toString());
    for (DataRoot root : List.of(clean, killed)) {
      addRun(root, "run-a", 0.70);
      addRun(root, "run-b", 0.72);
      ModelRegistry registry = new ModelRegistry(spark, root);
      registry.register("run-a", Optional.empty());
      registry.promote(Optional.empty(), 1, Optional.empty());
    }
    ModelRegistry cleanRegistry = new ModelRegistry(spark, clean);
    cleanRegistry.register("run-b", Optional.empty());
    cleanRegistry.promote(Optional.empty(), 2, Optional.empty());

    Path models = killedRoot.resolve("tables/meta/models");
    String dr = killedRoot.toString();
    Duration limit = Duration.ofSeconds(180);
    ModelRegistry registry = new ModelRegistry(spark, killed);
    List<KillPoints.Outcome> outcomes = new ArrayList<>();

    List<KillPoints.Point> register = List.of(
        new KillPoints.Point("register: while the registry's new files exist, before its commit",
            "before tables/meta/models adds event=register model_version=2",
            root -> KillPoints.expect(
                !DeltaLogFiles.uncommittedDataFiles(models).isEmpty(), "no uncommitted registry files",
                events(models, "register", "2").isEmpty(), "version 2's registration is committed")),
        new KillPoints.Point("register: after its commit, before the command confirmed it",
            "after tables/meta/models adds event=register model_version=2",
            root -> KillPoints.expect(
                events(models, "register", "2").size() == 1, "not one registration of version 2")));
    outcomes.addAll(KillPoints.killAtEach(register, killedRoot,
        List.of("models", "register", "run-b", "--data-root", dr), tmp, limit));
    assertEquals(2, registry.register("run-b", Optional.empty()).version());

    List<KillPoints.Point> promote = List.of(
        new KillPoints.Point("promote: while the registry's new files exist, before its commit",
            "before tables/meta/models adds event=promote model_version=2",
            root -> KillPoints.expect(
                !DeltaLogFiles.uncommittedDataFiles(models).isEmpty(), "no uncommitted registry files",
                events(models, "promote", "2").isEmpty(), "the promotion of version 2 is committed")),
        new KillPoints.Point("promote: after its commit, before the command confirmed it",
            "after tables/meta/models adds event=promote model_version=2",
            root -> KillPoints.expect(
                events(models, "promote", "2").size() == 1, "not one promotion of version 2")));
    outcomes.addAll(KillPoints.killAtEach(promote, killedRoot,
        List.of("models", "promote", "2", "--data-root", dr), tmp, limit));
    ModelRegistry.Promotion rerun = registry.promote(Optional.empty(), 2, Optional.empty());
    assertFalse(rerun.promoted(), "the killed promotion had committed: " + rerun.reason());

    List<KillPoints.Point> all = new ArrayList<>(register);
    all.addAll(promote);
    assertEquals(KillPoints.names(all), KillPoints.hit(outcomes), KillPoints.report(outcomes));

    assertSameRows(rows(clean), rows(killed));
    assertEquals(history(cleanRegistry), history(registry));
    assertEquals(List.of("register:1", "promote:1", "register:2", "promote:2"), history(registry));
    assertEquals("run-b", registry.resolve("clicks", "champion").runId());
    assertEquals(ModelRegistry.Stage.ARCHIVED, registry.resolve("clicks", "1").stage());
  }

  /** Registry commits of {@code event} for model version {@code version}. */
  private static List<DeltaLogFiles.Commit> events(Path models, String event, String version) {
    return DeltaLogFiles.commitsWith(models, "event", event, "model_version", version);
  }

  private Dataset<Row> rows(DataRoot root) {
    return spark.read().format("delta").load(root.table(ModelRegistry.TABLE))
        .drop("registered_at", "stage_changed_at")
        // set operations take no maps, and a map's order is not its content
        .withColumn("metrics", org.apache.spark.sql.functions.expr("to_json(array_sort(map_entries(metrics)))"));
  }

  private static List<String> history(ModelRegistry registry) {
    return registry.history(Optional.empty()).stream()
        .map(e -> e.details().get("event") + ":" + e.details().get("model_version")).toList();
  }

  private static void assertSameRows(Dataset<Row> expected, Dataset<Row> actual) {
    assertEquals(expected.count(), actual.count());
    assertEquals(0, expected.exceptAll(actual).count());
    assertEquals(0, actual.exceptAll(expected).count());
  }

  private void addRun(DataRoot root, String runId, double rocAuc) {
    Timestamp at = Timestamp.from(Instant.parse("2026-01-01T00:00:00Z"));
    new RunsTable(spark, root).append(new RunsTable.Run(runId, "xgboost", Map.of("max_depth", "6"),
        Map.of("roc_auc", rocAuc, "log_loss", 0.5), 42, "trainset-x", "features.clicks", 3, 1, "bronze.events", 2,
        1000, "abc", Map.of("spark", "3.5.9"), 2, at, at, 1.0, "/models/" + runId));
  }
}
