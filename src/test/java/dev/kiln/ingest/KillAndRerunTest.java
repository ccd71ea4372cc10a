package dev.kiln.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kiln.common.DataRoot;
import dev.kiln.common.Json;
import dev.kiln.generate.EventGenerator;
import dev.kiln.generate.GenerateConfig;
import dev.kiln.generate.GenerateResult;
import dev.kiln.testing.ChildJvm;
import dev.kiln.testing.SharedSpark;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills real {@code kiln ingest} child processes (SIGKILL, no shutdown hooks) at several points of a batch, re-runs,
 * and checks the result is exactly what one clean run gives.
 */
class KillAndRerunTest {
  private static final String SALT = "kill-test-salt-99";

  @TempDir
  Path tmp;

  private final SparkSession spark = SharedSpark.get();

  record KillPoint(String name, Predicate<Path> reached) {}

  @Test
  void killedRunsThenARerunEqualOneCleanRun() throws Exception {
    Path src = tmp.resolve("src");
    GenerateResult truth = new EventGenerator(new GenerateConfig(200_000, src, 11, 0.01, 2)).generate();
    Path saltFile = tmp.resolve("salt");
    Files.writeString(saltFile, SALT);
    Path killedRoot = tmp.resolve("killed");

    List<KillPoint> points = List.of(
        new KillPoint("after the batch was journaled, before any data",
            root -> Files.exists(root.resolve("tables/meta/ingest_log/_delta_log/00000000000000000000.json"))),
        new KillPoint("while bronze data files are being written, before the bronze commit",
            root -> hasParquet(root.resolve("tables/bronze/events"))
                && !Files.exists(root.resolve("tables/bronze/events/_delta_log/00000000000000000000.json"))),
        new KillPoint("after the bronze commit, before the batch is marked committed",
            root -> Files.exists(root.resolve("tables/bronze/events/_delta_log/00000000000000000000.json"))));

    List<String> killedAt = new ArrayList<>();
    for (KillPoint point : points) {
      Process p = startIngest(src, killedRoot, saltFile, tmp.resolve("child-" + killedAt.size() + ".log"));
      if (waitFor(p, () -> point.reached().test(killedRoot), 180)) {
        p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        killedAt.add(point.name());
      } else {
        p.waitFor(30, TimeUnit.SECONDS);
      }
    }
    // The first two points are wide (seconds); the third is narrow and may be missed by the poll.
    assertTrue(killedAt.size() >= 2, "kills landed at: " + killedAt);

    Path finalLog = tmp.resolve("final.log");
    Process last = startIngest(src, killedRoot, saltFile, finalLog);
    assertTrue(last.waitFor(300, TimeUnit.SECONDS), "final run timed out");
    assertEquals(0, last.exitValue(), Files.readString(finalLog));

    DataRoot clean = DataRoot.of(tmp.resolve("clean").toString());
    IngestResult cleanResult = new IngestJob(new IngestConfig(clean, src.toString(), SourceFormat.CSV, "events",
        Path.of("conf/schemas/events.yaml"), Optional.of(SALT.getBytes(StandardCharsets.UTF_8)))).run(spark);
    assertEquals(truth.expectedAccepted(), cleanResult.accepted());

    DataRoot killed = DataRoot.of(killedRoot.toString());
    assertSameRows(table(clean, "bronze").drop("_ingested_at"), table(killed, "bronze").drop("_ingested_at"));
    assertSameRows(table(clean, "quarantine").drop("ingested_at"), table(killed, "quarantine").drop("ingested_at"));

    Dataset<Row> log = spark.read().format("delta").load(killed.resolve("tables/meta/ingest_log"));
    assertEquals(1, log.where("status = 'committed'").count(), "exactly one committed batch");
    Row committed = log.where("status = 'committed'").first();
    assertEquals(truth.linesWritten(), (long) committed.<Long>getAs("read"));
    assertEquals(truth.expectedAccepted(), (long) committed.<Long>getAs("accepted"));
    assertEquals(truth.expectedDuplicates(), (long) committed.<Long>getAs("duplicates"));

    // and once more: nothing new
    Process again = startIngest(src, killedRoot, saltFile, tmp.resolve("again.log"));
    assertTrue(again.waitFor(300, TimeUnit.SECONDS));
    JsonNode summary = Json.JSON.readTree(lastLine(tmp.resolve("again.log")));
    assertEquals(0, summary.get("read").asLong());
    assertEquals(2, summary.get("files_already_ingested").asInt());
  }

  private Dataset<Row> table(DataRoot root, String layer) {
    return spark.read().format("delta").load(root.resolve("tables/" + layer + "/events"));
  }

  private static void assertSameRows(Dataset<Row> expected, Dataset<Row> actual) {
    assertEquals(expected.count(), actual.count());
    assertEquals(0, expected.exceptAll(actual).count());
    assertEquals(0, actual.exceptAll(expected).count());
  }

  private static boolean hasParquet(Path dir) {
    if (!Files.isDirectory(dir)) {
      return false;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      return s.anyMatch(p -> p.toString().endsWith(".parquet"));
    } catch (IOException | java.io.UncheckedIOException e) {
      return false; // files come and go while the child writes
    }
  }

  private static boolean waitFor(Process p, java.util.function.BooleanSupplier condition, int seconds)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (System.nanoTime() < deadline && p.isAlive()) {
      if (condition.getAsBoolean()) {
        return true;
      }
      Thread.sleep(20);
    }
    return false;
  }

  private static Process startIngest(Path src, Path root, Path saltFile, Path log) {
    return ChildJvm.start(ChildJvm.classpath(),
        List.of("-Xmx2g", "-Dspark.master=local[2]", "-Dspark.ui.enabled=false", "-Dspark.sql.shuffle.partitions=4"),
        "dev.kiln.cli.KilnCli",
        List.of("ingest", "--source", src.toString(), "--table", "events", "--data-root", root.toString(),
            "--pii-salt-file", saltFile.toString(), "--json"),
        java.util.Map.of(), log);
  }

  private static String lastLine(Path log) throws IOException {
    List<String> lines = Files.readAllLines(log);
    for (int i = lines.size() - 1; i >= 0; i--) {
      if (lines.get(i).startsWith("{")) {
        return lines.get(i);
      }
    }
    throw new AssertionError("no JSON summary in " + log + ":\n" + String.join("\n", lines));
  }
}
