package dev.kiln.features;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kiln.common.DataRoot;
import dev.kiln.testing.DeltaLogFiles;
import dev.kiln.testing.GeneratedEvents;
import dev.kiln.testing.KillPoints;
import dev.kiln.testing.SharedSpark;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills real {@code kiln features} child processes (SIGKILL) during the first run's overwrite and during a later
 * run's MERGE — while the new feature files exist before the commit, and after the commit before the statistics —
 * re-runs, and checks the feature table and its statistics are exactly what clean runs give. Each child is stopped at
 * its point by {@link dev.kiln.testing.PausingLogStore} and the data root checked to be in that state before the kill;
 * every point must be hit.
 */
class FeaturesKillTest {
  private static final Path SPEC = Path.of("conf/features/clicks.yaml");

  @TempDir
  Path tmp;

  private final SparkSession spark = SharedSpark.get();

  @Test
  void killedDuringOverwriteAndMergeThenRerunsEqualCleanRuns() throws Exception {
    Path src = GeneratedEvents.generate(tmp, 6_000, 11, 2);
    String first = src.resolve("events-00000.csv").toString();
    String second = src.resolve("events-00001.csv").toString();

    DataRoot clean = DataRoot.of(tmp.resolve("clean").toString());
    GeneratedEvents.ingest(spark, clean, first);
    features(clean);
    GeneratedEvents.ingest(spark, clean, second);
    features(clean);

    Path killedRoot = tmp.resolve("killed");
    DataRoot killed = DataRoot.of(killedRoot.toString());
    Path table = killedRoot.resolve("tables/features/clicks");
    Path stats = killedRoot.resolve("tables/meta/feature_stats");
    List<String> cli = List.of("features", "--feature-set", SPEC.toString(), "--stats", "--data-root",
        killedRoot.toString());
    Duration limit = Duration.ofSeconds(240);
    List<KillPoints.Outcome> outcomes = new ArrayList<>();

    GeneratedEvents.ingest(spark, killed, first);
    List<KillPoints.Point> overwrite = List.of(
        new KillPoints.Point("first run: while the overwrite's feature files exist, before its commit",
            "before tables/features/clicks adds mode=full",
            root -> KillPoints.expect(
                !DeltaLogFiles.uncommittedDataFiles(table).isEmpty(), "no uncommitted feature files",
                DeltaLogFiles.commitsWith(table, "job", "features", "mode", "full").isEmpty(),
                "the overwrite is committed")),
        new KillPoints.Point("first run: after the overwrite's commit, before properties and statistics",
            "after tables/features/clicks adds mode=full",
            root -> KillPoints.expect(
                DeltaLogFiles.commitsWith(table, "job", "features", "mode", "full").size() == 1,
                "not one overwrite commit",
                DeltaLogFiles.commitsWith(table, "action", "properties").isEmpty(), "properties were set",
                DeltaLogFiles.commitsWith(stats, "action", "stats").isEmpty(), "statistics were written")));
    outcomes.addAll(KillPoints.killAtEach(overwrite, killedRoot, cli, tmp, limit));
    features(killed);

    GeneratedEvents.ingest(spark, killed, second);
    List<KillPoints.Point> merge = List.of(
        new KillPoints.Point("second run: while the MERGE's feature files exist, before its commit",
            "before tables/features/clicks adds mode=incremental",
            root -> KillPoints.expect(
                !DeltaLogFiles.uncommittedDataFiles(table).isEmpty(), "no uncommitted feature files",
                DeltaLogFiles.commitsWith(table, "mode", "incremental").isEmpty(), "the MERGE is committed")),
        new KillPoints.Point("second run: after the MERGE's commit, before its statistics",
            "after tables/features/clicks adds mode=incremental",
            root -> {
              List<DeltaLogFiles.Commit> merges = DeltaLogFiles.commitsWith(table, "mode", "incremental");
              return KillPoints.expect(
                  merges.size() == 1, "not one MERGE commit",
                  merges.isEmpty() || DeltaLogFiles.commitsWith(stats, "action", "stats", "table_version",
                      String.valueOf(merges.get(0).version())).isEmpty(), "its statistics were written");
            }));
    outcomes.addAll(KillPoints.killAtEach(merge, killedRoot, cli, tmp, limit));
    features(killed);

    List<KillPoints.Point> all = new ArrayList<>(overwrite);
    all.addAll(merge);
    assertEquals(KillPoints.names(all), KillPoints.hit(outcomes), KillPoints.report(outcomes));

    assertSameRows(read(clean, "features/clicks"), read(killed, "features/clicks"));
    assertSameRows(read(clean, "meta/feature_stats").drop("computed_at"),
        read(killed, "meta/feature_stats").drop("computed_at"));
    FeatureTableState cleanState = FeatureTableState.at(spark, clean.resolve("tables/features/clicks"),
        Optional.empty()).orElseThrow();
    FeatureTableState killedState = FeatureTableState.at(spark, table.toString(), Optional.empty()).orElseThrow();
    assertEquals(cleanState.sourceVersion(), killedState.sourceVersion());
    assertEquals(cleanState.hash(), killedState.hash());
    assertEquals(dev.kiln.common.DeltaTables.properties(spark, clean.resolve("tables/features/clicks")),
        dev.kiln.common.DeltaTables.properties(spark, table.toString()));
  }

  private FeatureResult features(DataRoot root) {
    return new FeatureJob(new FeatureConfig(root, SPEC, Optional.empty(), false, true)).run(spark);
  }

  private Dataset<Row> read(DataRoot root, String table) {
    return spark.read().format("delta").load(root.resolve("tables/" + table));
  }

  private static void assertSameRows(Dataset<Row> expected, Dataset<Row> actual) {
    assertEquals(expected.count(), actual.count());
    assertEquals(0, expected.exceptAll(actual).count());
    assertEquals(0, actual.exceptAll(expected).count());
  }

}
