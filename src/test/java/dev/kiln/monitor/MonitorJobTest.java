package dev.kiln.monitor;

import static org.apache.spark.sql.functions.col;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.DataRoot;
import dev.kiln.generate.EventGenerator;
import dev.kiln.generate.GenerateConfig;
import dev.kiln.score.ScoreConfig;
import dev.kiln.score.ScoreJob;
import dev.kiln.testing.ChampionModel;
import dev.kiln.testing.Cli;
import dev.kiln.testing.GeneratedEvents;
import dev.kiln.testing.SharedSpark;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code kiln monitor} at fixed seeds: a fresh week of the training population passes (exit 0), the same week with a
 * shifted population (prices ×1.6, another device mix, a category never seen) alerts (exit 3) naming the drifted
 * features; labels that arrive later give model quality per day.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MonitorJobTest {
  @TempDir
  static Path tmp;

  private final SparkSession spark = SharedSpark.get();
  private DataRoot root;
  private Path fresh;
  private Path drifted;

  @BeforeAll
  void scoreAFreshAndADriftedWeek() {
    ChampionModel champion = ChampionModel.get();
    root = champion.root;
    Instant start = Instant.parse("2026-03-02T00:00:00Z");
    fresh = tmp.resolve("fresh");
    drifted = tmp.resolve("drifted");
    // a week at the training data's rate of events per day (windowed counts depend on it)
    long week = ChampionModel.ROWS * 7 / 60;
    new EventGenerator(new GenerateConfig(week, fresh, ChampionModel.SEED, 0, 1, start, 7, false,
        ChampionModel.ROWS)).generate();
    new EventGenerator(new GenerateConfig(week, drifted, ChampionModel.SEED, 0, 1, start, 7, true,
        ChampionModel.ROWS)).generate();
    score(fresh, "fresh-week");
    score(drifted, "drifted-week");
  }

  private void score(Path csvDir, String batch) {
    new ScoreJob(new ScoreConfig(root, "clicks@champion", csvDir.resolve("*.csv").toString(), Optional.of("csv"),
        Optional.empty(), Optional.of("predictions.monitored"), batch, 0, Optional.empty(),
        Optional.of(ChampionModel.salt()))).run(spark);
  }

  private Cli.Result monitor(String batch, Path report, String... extra) {
    List<String> args = new java.util.ArrayList<>(List.of("monitor", "--model", "clicks@champion", "--current",
        "predictions.monitored", "--batch-id", batch, "--report", report.toString(), "--data-root",
        root.toString()));
    args.addAll(List.of(extra));
    return Cli.run(args.toArray(String[]::new));
  }

  @Test
  void aFreshSampleOfTheSamePopulationPassesAndTheShiftedOneAlertsNamingTheDriftedFeatures() throws Exception {
    Path okReport = tmp.resolve("ok.html");
    Cli.Result ok = monitor("fresh-week", okReport);
    assertEquals(0, ok.exitCode(), ok.out() + ok.err());
    assertTrue(ok.out().startsWith("OK") || ok.out().startsWith("WARN"), ok.out());
    assertTrue(Files.readString(okReport).contains("id=\"verdict\""));

    Path alertReport = tmp.resolve("alert.html");
    Cli.Result alert = monitor("drifted-week", alertReport);
    assertEquals(3, alert.exitCode(), alert.out() + alert.err());
    assertTrue(alert.out().startsWith("ALERT"), alert.out());
    for (String feature : List.of("price_log", "device", "category")) {
      assertTrue(alert.out().contains("- " + feature + " drifted"), feature + " not named: " + alert.out());
    }
    assertTrue(alert.out().contains("new: vr"), alert.out());
    assertFalse(alert.out().contains("- hour drifted"), "hour did not shift: " + alert.out());
    assertTrue(Files.readString(alertReport).contains("ALERT"));

    Dataset<Row> monitoring = spark.read().format("delta").load(root.resolve("tables/meta/monitoring"));
    Set<String> alerted = monitoring.where(col("batch_id").equalTo("drifted-week")
            .and(col("kind").equalTo("drift")).and(col("status").equalTo("alert")))
        .select("subject").distinct().collectAsList().stream().map(r -> r.getString(0)).collect(Collectors.toSet());
    assertTrue(alerted.containsAll(Set.of("price_log", "device", "category")), alerted.toString());
    assertEquals("alert", monitoring.where(col("batch_id").equalTo("drifted-week")
        .and(col("kind").equalTo("verdict"))).select("status").first().getString(0));
    double unseen = monitoring.where(col("batch_id").equalTo("drifted-week").and(col("subject").equalTo("category"))
        .and(col("metric").equalTo("unseen_share"))).select("value").first().getDouble(0);
    assertTrue(unseen > 0.1 && unseen < 0.2, "share of the new category 'vr': " + unseen);
  }

  @Test
  void modelQualityPerDayOnceLabelsArrive() {
    Path before = tmp.resolve("before-labels.html");
    Cli.Result r = monitor("fresh-week", before, "--json");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("\"model_quality\":[]"), "no labels yet: " + r.out());
    // the week's labels arrive: its events are ingested into bronze.events with their labels
    GeneratedEvents.ingest(spark, root, fresh.toString());
    r = monitor("fresh-week", tmp.resolve("labels.html"), "--json");
    assertEquals(0, r.exitCode(), r.out() + r.err());
    Dataset<Row> quality = spark.read().format("delta").load(root.resolve("tables/meta/monitoring"))
        .where(col("kind").equalTo("model_quality").and(col("subject").equalTo("all")));
    double auc = quality.orderBy(col("monitored_at").desc()).select("value").first().getDouble(0);
    assertTrue(auc > 0.65 && auc < 0.95, "ROC AUC of the fresh week " + auc);
    long days = spark.read().format("delta").load(root.resolve("tables/meta/monitoring"))
        .where(col("kind").equalTo("model_quality").and(col("subject").notEqual("all"))
            .and(col("detail").isNotNull())).select("subject").distinct().count();
    assertEquals(7, days);
  }

  @Test
  void badInputIsOneLineAndExitTwo() throws Exception {
    Path bad = tmp.resolve("bad.yaml");
    Files.writeString(bad, "baseline: {recent_days: 14}\ndrift: {psi: {warn: 0.3, alert: 0.1}}\nquality: {}\n"
        + "model_quality: {}\n");
    for (String[] c : List.of(
        new String[] {"unknown batch 'nosuch'", "--batch-id", "nosuch"},
        new String[] {"warn >= 0 and alert >= warn", "--batch-id", "fresh-week", "--conf", bad.toString()},
        new String[] {"config file not found", "--batch-id", "fresh-week", "--conf", "no/such.yaml"},
        new String[] {"either --batch-id or --from/--to", "--batch-id", "x", "--from", "2026-03-02"},
        new String[] {"no registered model 'nosuch'", "--batch-id", "x", "--model", "nosuch@champion"},
        new String[] {"no predictions table predictions.none", "--batch-id", "x", "--current", "predictions.none"})) {
      List<String> args = new java.util.ArrayList<>(List.of("monitor", "--data-root", root.toString()));
      if (!List.of(c).contains("--model")) {
        args.addAll(List.of("--model", "clicks@champion"));
      }
      if (!List.of(c).contains("--current")) {
        args.addAll(List.of("--current", "predictions.monitored"));
      }
      args.addAll(List.of(c).subList(1, c.length));
      Cli.Result r = Cli.run(args.toArray(String[]::new));
      assertEquals(2, r.exitCode(), c[0] + ": " + r.out() + r.err());
      assertEquals(1, r.errLines().length, r.err());
      assertTrue(r.err().contains(c[0]), c[0] + " not in: " + r.err());
    }
  }
}
