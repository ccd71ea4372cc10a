package dev.kiln.score;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.testing.ChampionModel;
import dev.kiln.testing.ChildJvm;
import dev.kiln.testing.SharedSpark;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A scoring run SIGKILLed while it writes — its data files on disk, its commit not yet in the Delta log — leaves no
 * partial batch, and the re-run writes the batch exactly once.
 */
class ScoreKillTest {
  @TempDir
  static Path tmp;

  @Test
  void aRunKilledBetweenWritingFilesAndCommittingLeavesNothingAndTheRerunIsExact() throws Exception {
    SparkSession spark = SharedSpark.get();
    ChampionModel champion = ChampionModel.get();
    String input = champion.sourceCsvDir.resolve("*.csv").toString();
    boolean hit = false;
    String table = null;
    for (int attempt = 1; attempt <= 3 && !hit; attempt++) {
      table = "killed" + attempt;
      Path dir = Path.of(java.net.URI.create(champion.root.table(new dev.kiln.common.TableRef("predictions",
          table))));
      Path log = tmp.resolve("score-" + attempt + ".log");
      Process p = ChildJvm.start(ChildJvm.classpath(), List.of("-Xmx2g", "-Dspark.master=local[2]",
              "-Dspark.ui.enabled=false", "-Dspark.sql.shuffle.partitions=4"), "dev.kiln.cli.KilnCli",
          List.of("score", "--model", "clicks@champion", "--input", input, "--format", "csv", "--output",
              "predictions." + table, "--batch-id", "b1", "--data-root", champion.root.toString()),
          Map.of("KILN_PII_SALT", new String(ChampionModel.salt())), log);
      try {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
        while (p.isAlive() && System.nanoTime() < deadline) {
          // version 0 is the empty table the run creates first; version 1 would be the batch's commit
          if (hasDataFiles(dir) && !Files.exists(dir.resolve("_delta_log/00000000000000000001.json"))) {
            p.destroyForcibly(); // SIGKILL: the batch's data files written, its commit not yet made
            hit = true;
            break;
          }
          Thread.sleep(2);
        }
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the child did not end");
      } finally {
        p.destroyForcibly();
      }
      if (hit) {
        assertTrue(p.exitValue() != 0, "killed");
        assertFalse(Files.readString(log).contains("scored "), "the run must not have finished");
        assertTrue(hasDataFiles(dir), "the killed run had written data files");
        assertFalse(Files.exists(dir.resolve("_delta_log/00000000000000000001.json")), "but no commit");
        assertEquals(0, spark.read().format("delta").load(dir.toUri().toString()).count(), "no partial batch");
      }
    }
    assertTrue(hit, "the kill never landed between the data files and the commit in 3 attempts");
    ScoreJob.Result rerun = new ScoreJob(new ScoreConfig(champion.root, "clicks@champion", input, Optional.of("csv"),
        Optional.empty(), Optional.of("predictions." + table), "b1", 0, Optional.empty(),
        Optional.of(ChampionModel.salt()))).run(spark);
    assertEquals(ChampionModel.ROWS, rerun.rows());
    assertEquals(ChampionModel.ROWS, spark.read().format("delta").load(champion.root.resolve("tables/predictions/"
        + table)).count(), "the batch exactly once; the killed run's files are not part of the table");
  }

  private static boolean hasDataFiles(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return false;
    }
    try (Stream<Path> files = Files.walk(dir)) {
      return files.anyMatch(f -> f.getFileName().toString().endsWith(".parquet")
          && !f.toString().contains("_delta_log"));
    } catch (java.io.UncheckedIOException e) {
      return false; // a file or folder appeared or went while walking: look again
    }
  }
}
