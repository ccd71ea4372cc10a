package dev.kiln.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.testing.ChildJvm;
import dev.kiln.testing.Cli;
import dev.kiln.testing.SharedSpark;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The registry on real Delta tables: registration, gated promotion, archive, history, bad input, and two promote
 * processes racing for the champion.
 */
class ModelRegistryTest {
  @TempDir
  Path tmp;

  private final SparkSession spark = SharedSpark.get();

  @Test
  void registerPromoteWithGateArchiveAndHistory() {
    DataRoot root = DataRoot.of(tmp.toString());
    addRun(root, "run-a", 0.700, 0.50);
    addRun(root, "run-b", 0.701, 0.45);
    String dr = tmp.toString();

    Cli.Result first = Cli.run("models", "register", "run-a", "--data-root", dr);
    assertEquals(0, first.exitCode(), first.err());
    assertTrue(first.out().contains("registered clicks version 1 (candidate"), first.out());
    long before = DeltaTables.latestVersion(spark, root.table(ModelRegistry.TABLE)).orElseThrow();
    assertTrue(Cli.run("models", "register", "run-a", "--data-root", dr).out().contains("version 1"));
    assertEquals(before, DeltaTables.latestVersion(spark, root.table(ModelRegistry.TABLE)).orElseThrow(),
        "registering the same run again writes nothing");
    assertTrue(Cli.run("models", "register", "run-b", "--data-root", dr).out().contains("clicks version 2"));
    assertEquals(ModelRegistry.LOG_RETENTION, DeltaTables.properties(spark, root.table(ModelRegistry.TABLE))
        .get("delta.logRetentionDuration"), "the history is the audit trail: kept long");

    Cli.Result promote1 = Cli.run("models", "promote", "1", "--if-better-than", "champion", "--data-root", dr);
    assertTrue(promote1.out().contains("promoted clicks version 1") && promote1.out().contains("no champion yet"),
        promote1.out());
    // +0.001 roc_auc is under the required 0.002: refused, nothing changes
    Cli.Result gated = Cli.run("models", "promote", "2", "--if-better-than", "champion", "--metric", "roc_auc",
        "--min-delta", "0.002", "--data-root", dr);
    assertEquals(0, gated.exitCode(), gated.err());
    assertTrue(gated.out().startsWith("not promoted: roc_auc 0.7010 is not better than version 1's 0.7000"),
        gated.out());
    assertEquals(List.of(1), champions(root));
    // lower log loss is better: 0.45 beats 0.50 by 0.05
    Cli.Result byLogLoss = Cli.run("models", "promote", "2", "--if-better-than", "champion", "--metric", "log_loss",
        "--min-delta", "0.01", "--data-root", dr);
    assertTrue(byLogLoss.out().contains("promoted clicks version 2") && byLogLoss.out().contains("version 1 archived"),
        byLogLoss.out());
    ModelRegistry registry = new ModelRegistry(spark, root);
    assertEquals(List.of(2), champions(root));
    assertEquals(ModelRegistry.Stage.ARCHIVED, registry.resolve("clicks", "1").stage());
    assertEquals("run-b", registry.resolve("clicks", "champion").runId());

    Cli.Result archived = Cli.run("models", "archive", "2", "--data-root", dr);
    assertTrue(archived.out().contains("archived clicks version 2"), archived.out());
    assertEquals(List.of(), champions(root));

    List<String> events = registry.history(Optional.of("clicks")).stream()
        .map(e -> e.details().get("event") + ":" + e.details().get("model_version")).toList();
    assertEquals(List.of("register:1", "register:2", "promote:1", "promote:2", "archive:2"), events);
    Cli.Result history = Cli.run("models", "history", "--data-root", dr);
    assertTrue(history.out().contains("promote") && history.out().contains("log_loss"), history.out());
    Cli.Result list = Cli.run("models", "list", "--data-root", dr);
    assertTrue(list.out().contains("archived") && list.out().contains("run-b"), list.out());
    // an archived version can come back (a rollback); --json for scripts
    Cli.Result rollback = Cli.run("models", "promote", "1", "--json", "--data-root", dr);
    assertEquals(0, rollback.exitCode(), rollback.err());
    assertTrue(rollback.out().contains("\"promoted\":true") && rollback.out().contains("\"stage\":\"champion\""),
        rollback.out());
    assertEquals(List.of(1), champions(root));
  }

  @Test
  void badInputIsOneLineExitTwo() {
    DataRoot root = DataRoot.of(tmp.toString());
    addRun(root, "run-a", 0.70, 0.5);
    String dr = tmp.toString();
    assertEquals(0, Cli.run("models", "register", "run-a", "--data-root", dr).exitCode());
    assertError("unknown alias 'best'", "models", "promote", "1", "--if-better-than", "best", "--data-root", dr);
    assertError("model 'clicks' has no version 7", "models", "promote", "7", "--data-root", dr);
    assertError("has no metric 'accuracy'", "models", "promote", "1", "--if-better-than", "1", "--metric", "accuracy",
        "--data-root", dr);
    assertError("no run 'nope'", "models", "register", "nope", "--data-root", dr);
    assertError("model name 'no spaces'", "models", "register", "run-a", "--name", "no spaces", "--data-root", dr);
    assertError("unknown alias 'latest'", "models", "promote", "1", "--if-better-than", "latest", "--data-root", dr);
    assertEquals(List.of(), champions(root), "nothing was promoted by the failed commands");
  }

  /**
   * Versions 2 and 3 are promoted by two processes at once, both deciding on the snapshot where version 1 is the
   * champion (each pauses between deciding and committing). Whatever the order: exactly one champion, and it is 3
   * (the better one); the loser of the race re-decided on the new state; the history is a chain.
   */
  @Test
  void concurrentPromotionsLeaveExactlyOneChampion() throws Exception {
    DataRoot root = DataRoot.of(tmp.toString());
    addRun(root, "run-1", 0.70, 0.5);
    addRun(root, "run-2", 0.72, 0.5);
    addRun(root, "run-3", 0.75, 0.5);
    ModelRegistry registry = new ModelRegistry(spark, root);
    for (String run : List.of("run-1", "run-2", "run-3")) {
      registry.register(run, Optional.empty());
    }
    assertTrue(registry.promote(Optional.empty(), 1, Optional.empty()).promoted());

    Process p2 = promote(root, 2, tmp.resolve("p2.log"));
    Process p3 = promote(root, 3, tmp.resolve("p3.log"));
    assertTrue(p2.waitFor(300, TimeUnit.SECONDS) && p3.waitFor(300, TimeUnit.SECONDS), "timed out");
    String log2 = Files.readString(tmp.resolve("p2.log"));
    String log3 = Files.readString(tmp.resolve("p3.log"));
    assertEquals(0, p2.exitValue(), log2);
    assertEquals(0, p3.exitValue(), log3);

    assertEquals(List.of(3), champions(root), log2 + log3);
    assertTrue(log3.contains("promoted clicks version 3"), log3);
    boolean twoFirst = log2.contains("promoted clicks version 2");
    if (twoFirst) {
      assertTrue(log3.contains("after 2 attempts") || log3.contains("attempts)"), "3 re-decided after 2 won: " + log3);
    } else {
      assertTrue(log2.contains("not promoted: roc_auc 0.7200 is not better than version 3's"), log2);
    }
    // the history is a chain: each promotion replaced the champion the previous one made
    List<ModelRegistry.Event> promotions = registry.history(Optional.empty()).stream()
        .filter(e -> "promote".equals(e.details().get("event"))).toList();
    List<Integer> chain = new ArrayList<>();
    Object previous = null;
    for (ModelRegistry.Event e : promotions) {
      assertEquals(previous, e.details().get("previous_champion"), "promotion " + e.details());
      previous = e.details().get("model_version");
      chain.add((Integer) previous);
    }
    assertEquals(twoFirst ? List.of(1, 2, 3) : List.of(1, 3), chain);
    System.out.println("ModelRegistryTest: concurrent promotions committed " + chain + (twoFirst
        ? " (2 won the race, 3 retried and beat it)" : " (3 won the race, 2 retried and was refused)"));
  }

  private Process promote(DataRoot root, int version, Path log) {
    return ChildJvm.start(ChildJvm.classpath(),
        List.of("-Xmx1g", "-Dspark.master=local[1]", "-Dspark.ui.enabled=false", "-Dspark.sql.shuffle.partitions=2",
            "-D" + ModelRegistry.PAUSE_PROPERTY + "=2000"),
        "dev.kiln.cli.KilnCli",
        List.of("models", "promote", String.valueOf(version), "--if-better-than", "champion", "--min-delta", "0.002",
            "--data-root", root.toString()),
        Map.of(), log);
  }

  private List<Integer> champions(DataRoot root) {
    return new ModelRegistry(spark, root).list(Optional.empty()).stream()
        .filter(v -> v.stage() == ModelRegistry.Stage.CHAMPION).map(ModelRegistry.ModelVersion::version).toList();
  }

  private static void assertError(String expected, String... args) {
    Cli.Result r = Cli.run(args);
    assertEquals(2, r.exitCode(), r.out() + r.err());
    assertEquals(1, r.errLines().length, r.err());
    assertTrue(r.err().contains(expected), r.err());
  }

  private void addRun(DataRoot root, String runId, double rocAuc, double logLoss) {
    Timestamp now = Timestamp.from(Instant.now());
    new RunsTable(spark, root).append(new RunsTable.Run(runId, "xgboost", Map.of("max_depth", "6"),
        Map.of("roc_auc", rocAuc, "log_loss", logLoss), 42, "trainset-x", "features.clicks", 3, 1, "bronze.events", 2,
        1000, "abc", Map.of("spark", "3.5.9"), 2, now, now, 1.0, root.resolve("artifacts/" + runId)));
  }
}
