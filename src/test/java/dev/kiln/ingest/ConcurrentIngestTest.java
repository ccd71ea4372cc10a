package dev.kiln.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.generate.EventGenerator;
import dev.kiln.generate.GenerateConfig;
import dev.kiln.generate.GenerateResult;
import dev.kiln.testing.ChildJvm;
import dev.kiln.testing.SharedSpark;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two ingest processes into one table at the same time, from different files: whatever the interleaving, no row
 * may be lost or doubled, and a run that loses the race for a batch number says so and writes nothing.
 */
class ConcurrentIngestTest {
  @TempDir
  Path tmp;

  private final SparkSession spark = SharedSpark.get();

  @Test
  void concurrentIngestsIntoOneTableLoseNothing() throws Exception {
    GenerateResult a = new EventGenerator(new GenerateConfig(30_000, tmp.resolve("a"), 1, 0.01, 1)).generate();
    // B: the same events under other ids, so nothing in B duplicates A
    Files.createDirectories(tmp.resolve("b"));
    List<String> lines = Files.readAllLines(tmp.resolve("a/events-00000.csv"));
    List<String> renamed = new ArrayList<>(List.of(lines.get(0)));
    lines.subList(1, lines.size()).forEach(l -> renamed.add(l.replaceFirst("^ev", "evb")));
    Files.write(tmp.resolve("b/events.csv"), renamed);
    Files.writeString(tmp.resolve("salt"), "concurrent-salt-1");
    Path root = tmp.resolve("root");

    Process pa = start("a", root, tmp.resolve("a.log"));
    Process pb = start("b", root, tmp.resolve("b.log"));
    assertTrue(pa.waitFor(300, TimeUnit.SECONDS) && pb.waitFor(300, TimeUnit.SECONDS), "timed out");
    for (String run : List.of("a", "b")) {
      Process p = run.equals("a") ? pa : pb;
      String log = Files.readString(tmp.resolve(run + ".log"));
      if (p.exitValue() != 0) {
        assertEquals(2, p.exitValue(), log);
        assertTrue(log.contains("error: another ingest into bronze.events is running"), log);
        System.out.println("ConcurrentIngestTest: run " + run + " lost the race for a batch number and re-ran");
        Process again = start(run, root, tmp.resolve(run + "-again.log"));
        assertTrue(again.waitFor(300, TimeUnit.SECONDS));
        assertEquals(0, again.exitValue(), Files.readString(tmp.resolve(run + "-again.log")));
      }
    }

    Dataset<Row> bronze = spark.read().format("delta").load(root.resolve("tables/bronze/events").toString());
    assertEquals(2 * a.expectedAccepted(), bronze.count());
    assertEquals(2 * a.expectedAccepted(), bronze.select("event_id").distinct().count());
    Dataset<Row> log = spark.read().format("delta").load(root.resolve("tables/meta/ingest_log").toString());
    assertEquals(2, log.where("status = 'committed'").count(), "one committed batch per source");
    assertEquals(0, log.groupBy("batch_seq", "status").count().where("count > 1").count(),
        "a batch number is started and committed once");
  }

  private Process start(String source, Path root, Path log) {
    return ChildJvm.start(ChildJvm.classpath(),
        List.of("-Xmx1g", "-Dspark.master=local[1]", "-Dspark.ui.enabled=false", "-Dspark.sql.shuffle.partitions=2"),
        "dev.kiln.cli.KilnCli",
        List.of("ingest", "--source", tmp.resolve(source).toString(), "--table", "events", "--data-root",
            root.toString(), "--pii-salt-file", tmp.resolve("salt").toString()),
        Map.of(), log);
  }
}
