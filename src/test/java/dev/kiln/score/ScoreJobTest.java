package dev.kiln.score;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat;
import static org.apache.spark.sql.functions.date_format;
import static org.apache.spark.sql.functions.expr;
import static org.apache.spark.sql.functions.lit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.KilnUserException;
import dev.kiln.registry.ModelRegistry;
import dev.kiln.testing.ChampionModel;
import dev.kiln.testing.Cli;
import dev.kiln.testing.SharedSpark;
import io.delta.tables.DeltaTable;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** {@code kiln score} on the shared champion model: parity with the feature table, idempotent batches, signatures. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ScoreJobTest {
  @TempDir
  static Path tmp;

  private final SparkSession spark = SharedSpark.get();
  private ChampionModel champion;
  private DataRoot root;
  /** Raw events (un-hashed ids, no label) from the 10 days after the training data. */
  private String laterCsv;

  @BeforeAll
  void setUp() {
    champion = ChampionModel.get();
    root = champion.root;
    // later events of the same users and items: the last 10 days of the source moved 60 days on, new ids, no label
    Dataset<Row> source = rawSource().where(col("timestamp").geq("2026-02-20"));
    laterCsv = tmp.resolve("later").toString();
    source.withColumn("event_id", concat(lit("later-"), col("event_id")))
        .withColumn("timestamp", date_format(expr("CAST(timestamp AS TIMESTAMP) + INTERVAL 60 DAYS"),
            "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"))
        .drop("label").coalesce(1).write().option("header", "true").csv(laterCsv);
  }

  private Dataset<Row> rawSource() {
    return spark.read().option("header", "true").csv(champion.sourceCsvDir.toString());
  }

  private ScoreJob.Result score(String model, String input, Optional<String> where, String output, String batch,
                                int explain) {
    return new ScoreJob(new ScoreConfig(root, model, input, Optional.empty(), where, Optional.of(output), batch,
        explain, Optional.empty(), Optional.of(ChampionModel.salt()))).run(spark);
  }

  private Dataset<Row> table(String name) {
    return spark.read().format("delta").load(root.resolve("tables/predictions/" + name));
  }

  @Test
  void scoringTimeFeaturesEqualTheFeatureTableForEventsInBoth() {
    // the raw CSV of events already ingested, without its label, scored as if new: its PII is hashed like ingest did
    String input = tmp.resolve("known").toString();
    rawSource().where(col("timestamp").geq("2026-02-15")).drop("label").coalesce(1).write()
        .option("header", "true").csv(input);
    ScoreJob.Result r = score("clicks@champion", input + "/*.csv", Optional.empty(), "parity", "b1", 0);
    Dataset<Row> features = spark.read().format("delta").load(root.resolve("tables/features/clicks"));
    Dataset<Row> scored = table("parity").select(col("event_id"), col("features.*"));
    String[] columns = scored.columns();
    assertTrue(columns.length > 15, String.join(",", columns));
    Column[] expected = java.util.Arrays.stream(columns).map(c -> col("`" + c + "`")).toArray(Column[]::new);
    Dataset<Row> fromTable = features.select(expected).join(scored.select("event_id"), "event_id");
    assertEquals(r.rows(), scored.count());
    assertTrue(r.rows() > 1000, "rows " + r.rows());
    assertEquals(r.rows(), fromTable.count());
    assertEquals(0, scored.exceptAll(fromTable).count(), "scoring-time features differ from features.clicks");
    assertEquals(0, fromTable.exceptAll(scored).count());
  }

  @Test
  void newEventsGetScoresAndRescoringABatchReplacesIt() {
    ScoreJob.Result first = score("clicks@champion", laterCsv + "/*.csv", Optional.empty(), "later", "day-1", 0);
    long rows = rawSource().where(col("timestamp").geq("2026-02-20")).count();
    assertEquals(rows, first.rows());
    assertEquals(1, first.version());
    assertEquals("champion", first.alias());
    ScoreJob.Result again = score("clicks@1", laterCsv + "/*.csv", Optional.empty(), "later", "day-1", 0);
    Dataset<Row> table = table("later");
    assertEquals(rows, table.count(), "re-scoring batch day-1 must replace it, not add to it");
    assertEquals(first.tableVersion() + 1, again.tableVersion(), "one commit per batch");
    assertEquals("1", table.select("model_alias").distinct().first().getString(0));
    score("clicks@champion", laterCsv + "/*.csv", Optional.of("device = 'mobile'"), "later", "day-2", 0);
    long second = table("later").where(col("batch_id").equalTo("day-2")).count();
    assertTrue(second > 0 && second < rows, "filtered batch " + second);
    assertEquals(rows + second, table("later").count());
    Row row = table.where(col("batch_id").equalTo("day-1")).select("score", "predicted_label", "run_id",
        "input", "input_version", "event_date").first();
    assertTrue(row.getDouble(0) > 0 && row.getDouble(0) < 1);
    assertEquals(champion.runId, row.getString(2));
    assertNull(row.get(4));
    // probabilities from the saved pipeline, not some other path: mean score near the training click rate
    double mean = first.meanScore();
    assertTrue(mean > 0.05 && mean < 0.5, "mean score " + mean);
  }

  @Test
  void shapContributionsAndBiasAddUpToTheMargin() {
    score("clicks@champion", laterCsv + "/*.csv", Optional.empty(), "explained", "x", 100);
    List<Row> rows = table("explained").select("score", "margin", "contribution_bias", "contributions")
        .limit(200).collectAsList();
    assertFalse(rows.isEmpty());
    for (Row r : rows) {
      double sum = r.getDouble(2);
      List<Row> contributions = r.getList(3);
      assertEquals(15, contributions.size(), "all 15 inputs when K exceeds them");
      for (Row c : contributions) {
        sum += c.getDouble(1);
      }
      assertEquals(r.getDouble(1), sum, 1e-4, "contributions + bias = margin");
      assertEquals(r.getDouble(0), 1 / (1 + Math.exp(-r.getDouble(1))), 1e-5, "sigmoid(margin) = score");
      double previous = Double.MAX_VALUE;
      for (Row c : contributions) {
        assertTrue(Math.abs(c.getDouble(1)) <= previous, "sorted by |contribution|");
        previous = Math.abs(c.getDouble(1));
      }
    }
    score("clicks@champion", laterCsv + "/*.csv", Optional.empty(), "explained", "x", 3);
    Row top3 = table("explained").select("contributions").first();
    assertEquals(3, top3.getList(0).size());
    assertTrue(top3.<Row>getList(0).stream().allMatch(c -> !c.getString(0).startsWith("a_")),
        "feature names without pipeline prefixes: " + top3);
  }

  @Test
  void inputsThatDoNotMatchTheSignatureAreRefusedInOneLineAndNothingIsWritten() {
    Dataset<Row> later = spark.read().option("header", "true").csv(laterCsv);
    String noPrice = tmp.resolve("no-price").toString();
    later.drop("price", "device").write().option("header", "true").csv(noPrice);
    Cli.Result r = Cli.run("score", "--model", "clicks@champion", "--input", noPrice, "--format", "csv",
        "--output", "predictions.refused", "--batch-id", "b", "--data-root", root.toString());
    assertEquals(2, r.exitCode(), r.err());
    assertEquals(1, r.errLines().length, r.err());
    assertTrue(r.err().contains("missing columns device, price"), r.err());

    String badPrice = tmp.resolve("bad-price").toString();
    later.withColumn("price", expr("CASE WHEN rand(1) < 0.01 THEN 'cheap' ELSE price END")).write()
        .option("header", "true").csv(badPrice);
    r = Cli.run("score", "--model", "clicks@champion", "--input", badPrice, "--format", "csv",
        "--output", "predictions.refused", "--batch-id", "b", "--data-root", root.toString());
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(r.err().matches("(?s)error: input .* values of price are not double\\s*"), r.err());

    String typed = tmp.resolve("typed").toString();
    later.withColumn("price", col("price").cast("double").gt(10)).write().parquet(typed);
    r = Cli.run("score", "--model", "clicks@champion", "--input", typed, "--format", "parquet",
        "--output", "predictions.refused", "--batch-id", "b", "--data-root", root.toString());
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(r.err().contains("wrong type: price is boolean (expected double)"), r.err());

    String empty = tmp.resolve("empty").toString();
    later.limit(0).write().parquet(empty);
    r = Cli.run("score", "--model", "clicks@champion", "--input", empty, "--format", "parquet",
        "--output", "predictions.refused", "--batch-id", "b", "--data-root", root.toString());
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(r.err().contains("no rows to score"), r.err());

    for (String[] bad : List.of(new String[] {"nosuch@champion", "no registered model 'nosuch'"},
        new String[] {"clicks@best", "unknown alias 'best'"}, new String[] {"clicks@7", "has no version 7"},
        new String[] {"clicks", "must be NAME@champion"}, new String[] {"clicks@candidate", "no candidate"})) {
      r = Cli.run("score", "--model", bad[0], "--input", laterCsv, "--format", "csv", "--output",
          "predictions.refused", "--batch-id", "b", "--data-root", root.toString());
      assertEquals(2, r.exitCode(), bad[0] + ": " + r.err());
      assertTrue(r.err().contains(bad[1]), r.err());
    }
    r = Cli.run("score", "--model", "clicks@champion", "--input", "bronze.nosuch", "--output", "predictions.refused",
        "--batch-id", "b", "--data-root", root.toString());
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(r.err().contains("input table bronze.nosuch does not exist"), r.err());
    assertFalse(DeltaTables.exists(spark, root.resolve("tables/predictions/refused")), "nothing written");
  }

  @Test
  void aVersionRegisteredBeforeSignaturesGetsOneDerivedAndStored() {
    String models = root.resolve("tables/meta/models");
    ModelRegistry registry = new ModelRegistry(spark, root);
    String stored = registry.resolve("clicks@champion").signatureJson();
    assertTrue(stored != null && stored.contains("\"price\""), stored);
    DeltaTable.forPath(spark, models).update(Map.of("signature", lit(null).cast("string")));
    assertNull(registry.resolve("clicks@champion").signatureJson());
    ScoreJob.Result r = score("clicks@champion", "bronze.events", Optional.of("event_date = '2026-02-28'"),
        "backfill", "b", 0);
    assertTrue(r.rows() > 0);
    assertEquals("bronze.events", table("backfill").select("input").first().getString(0));
    assertEquals(stored, registry.resolve("clicks@champion").signatureJson(), "backfilled from the trainset");
    assertThrows(KilnUserException.class, () -> score("clicks@champion", "bronze.events",
        Optional.of("no_such_column = 1"), "backfill", "b", 0));
  }
}
