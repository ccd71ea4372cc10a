package dev.kiln.features;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.Json;
import dev.kiln.tables.TableCatalog;
import dev.kiln.tables.TableOps;
import dev.kiln.testing.GeneratedEvents;
import dev.kiln.testing.SharedSpark;
import io.delta.tables.DeltaTable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Jobs that share one SparkSession on parallel threads (tune trials, the pipeline runner) must not see each other's
 * commit settings: each commit carries its own job's {@code userMetadata}, and the shared session's configuration is
 * left as it was.
 */
class SharedSessionCommitsTest {
  private static final String RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled";

  @TempDir
  Path tmp;

  private final SparkSession spark = SharedSpark.get();

  @AfterEach
  void sessionConfIsUntouched() {
    assertEquals(Optional.empty(), option("spark.databricks.delta.commitInfo.userMetadata"), "userMetadata left in the shared session");
    assertEquals(Optional.empty(), option(RETENTION_CHECK), "retention check changed in the shared session");
  }

  /** What the session has set for {@code key} (getOption would also answer a registered setting's default). */
  private Optional<String> option(String key) {
    return Optional.ofNullable(spark.conf().getAll().get(key).getOrElse(() -> null));
  }

  /** Two feature sets computed at the same time in one session: a full overwrite each, then a MERGE each. */
  @Test
  void concurrentFeatureRunsEachRecordTheirOwnLineage() throws Exception {
    Path src = GeneratedEvents.generate(tmp, 1_200, 5, 2);
    DataRoot root = DataRoot.of(tmp.resolve("root").toString());
    Path specA = spec("share_a");
    Path specB = spec("share_b");
    GeneratedEvents.ingest(spark, root, src.resolve("events-00000.csv").toString());
    List<Window> first = concurrently(() -> features(root, specA), () -> features(root, specB));
    GeneratedEvents.ingest(spark, root, src.resolve("events-00001.csv").toString());
    List<Window> second = concurrently(() -> features(root, specA), () -> features(root, specB));
    assertOverlap(first);
    assertOverlap(second);
    for (String name : List.of("share_a", "share_b")) {
      List<Row> history = DeltaTable.forPath(spark, root.resolve("tables/features/" + name)).history()
          .select("version", "operation", "userMetadata").orderBy("version").collectAsList();
      List<String> dataOps = new ArrayList<>();
      for (Row r : history) {
        assertFalse(r.isNullAt(2), name + " version " + r.getLong(0) + " (" + r.getString(1) + ") has no lineage");
        JsonNode meta = Json.JSON.readTree(r.getString(2));
        assertEquals("features", meta.path("job").asText(), name + " version " + r.getLong(0) + ": " + meta);
        if (meta.has("feature_set")) {
          assertEquals(name, meta.path("feature_set").asText(), name + " version " + r.getLong(0) + ": " + meta);
          dataOps.add(r.getString(1) + ":" + meta.path("mode").asText());
        }
      }
      assertEquals(List.of("WRITE:full", "MERGE:incremental"), dataOps, name + " " + history);
    }
  }

  /** Table creations (Delta's table builder, which takes no commit options) on two threads at once. */
  @Test
  void concurrentTableCreationsEachRecordTheirOwnMetadata() throws Exception {
    StructType schema = new StructType().add("id", DataTypes.LongType);
    int rounds = 6;
    List<Callable<Void>> jobs = new ArrayList<>();
    for (String job : List.of("left", "right")) {
      jobs.add(() -> {
        for (int i = 0; i < rounds; i++) {
          DeltaTables.createIfAbsent(spark, "file:" + tmp.resolve(job + "-" + i), schema, Optional.empty(),
              DeltaTables.commitMetadata("test-" + job, Map.of("round", i)));
        }
        return null;
      });
    }
    assertOverlap(concurrently(jobs.get(0), jobs.get(1)));
    for (String job : List.of("left", "right")) {
      for (int i = 0; i < rounds; i++) {
        Row r = DeltaTable.forPath(spark, "file:" + tmp.resolve(job + "-" + i)).history()
            .select("userMetadata").first();
        assertNotNull(r.getString(0), job + "-" + i + " has no lineage");
        JsonNode meta = Json.JSON.readTree(r.getString(0));
        assertEquals("test-" + job, meta.path("job").asText(), job + "-" + i + ": " + meta);
        assertEquals(i, meta.path("round").asInt(), job + "-" + i + ": " + meta);
      }
    }
  }

  /** A forced VACUUM lifts Delta's retention check for itself only. */
  @Test
  void forcedVacuumDeletesOldFilesWithoutTouchingTheSession() {
    DataRoot root = DataRoot.of(tmp.resolve("root").toString());
    String path = root.resolve("tables/bronze/small");
    for (int i = 0; i < 3; i++) {
      spark.range(10).write().format("delta").mode("overwrite").save(path);
    }
    TableOps ops = new TableOps(spark, new TableCatalog(spark, root));
    TableOps.Maintenance m = ops.vacuum("bronze.small", 0, true);
    assertTrue(m.storedFilesAfter() < m.storedFilesBefore(), m.toString());
  }

  private FeatureResult features(DataRoot root, Path spec) {
    return new FeatureJob(new FeatureConfig(root, spec, Optional.empty(), false, false)).run(spark);
  }

  private Path spec(String name) throws Exception {
    String text = Files.readString(IncrementalFeaturesTest.SPEC).replace("name: clicks", "name: " + name);
    Path p = tmp.resolve(name + ".yaml");
    Files.writeString(p, text);
    return p;
  }

  private record Window(long start, long end) {}

  /** Runs both on their own threads, started together; returns when each ran, rethrowing the first failure. */
  private static List<Window> concurrently(Callable<?> a, Callable<?> b) throws Exception {
    CyclicBarrier start = new CyclicBarrier(2);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<Window>> futures = new ArrayList<>();
      for (Callable<?> c : List.of(a, b)) {
        futures.add(pool.submit(() -> {
          start.await(1, TimeUnit.MINUTES);
          long t0 = System.nanoTime();
          c.call();
          return new Window(t0, System.nanoTime());
        }));
      }
      List<Window> out = new ArrayList<>();
      for (Future<Window> f : futures) {
        out.add(f.get(10, TimeUnit.MINUTES));
      }
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  /** The race this test is about happened: the two jobs were running at the same time. */
  private static void assertOverlap(List<Window> w) {
    assertTrue(w.get(0).start() < w.get(1).end() && w.get(1).start() < w.get(0).end(), "jobs did not overlap: " + w);
  }
}
