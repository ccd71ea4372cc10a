package dev.kiln.cli;

import dev.kiln.common.DataRoot;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.Secrets;
import dev.kiln.common.SparkSessions;
import dev.kiln.features.FeatureConfig;
import dev.kiln.features.FeatureJob;
import dev.kiln.features.FeatureResult;
import dev.kiln.features.TrainsetConfig;
import dev.kiln.features.TrainsetJob;
import dev.kiln.features.TrainsetManifest;
import dev.kiln.generate.EventGenerator;
import dev.kiln.generate.GenerateConfig;
import dev.kiln.generate.GenerateResult;
import dev.kiln.ingest.IngestConfig;
import dev.kiln.ingest.IngestJob;
import dev.kiln.ingest.IngestResult;
import dev.kiln.ingest.SourceFormat;
import dev.kiln.monitor.MonitorConfig;
import dev.kiln.monitor.MonitorJob;
import dev.kiln.monitor.MonitorReport;
import dev.kiln.score.ScoreConfig;
import dev.kiln.score.ScoreJob;
import dev.kiln.registry.ModelRegistry;
import dev.kiln.registry.RunsTable;
import dev.kiln.train.ModelType;
import dev.kiln.train.TrainConfig;
import dev.kiln.train.TrainJob;
import java.io.File;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The whole platform end to end on embedded local Spark; grows as stages land. */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = {"Run the pipeline end to end on an embedded local Spark: generate sample events (with 1%% bad "
        + "rows), ingest them into Delta bronze + quarantine, compute point-in-time features into features.clicks"
        + ", build a training set, train XGBoost on it and register the model as champion, then score the next "
        + "week's events (once as the same population, once shifted) and monitor both for drift. Re-running adds "
        + "nothing."})
final class DemoCommand implements Callable<Integer> {
  @Option(names = "--rows", defaultValue = "100000", description = "Events to generate (default: ${DEFAULT-VALUE}).")
  long rows;

  @Option(names = "--seed", defaultValue = "42", description = "Random seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--dirty", defaultValue = "0.01", paramLabel = "FRACTION",
      description = "Share of generated rows with a defect (default: ${DEFAULT-VALUE}).")
  double dirty;

  @Mixin
  CommonOptions common;


  @Override
  public Integer call() {
    PrintWriter out = common.out();
    DataRoot root = common.dataRoot();
    File local = root.localDirectory().orElseThrow(() -> new KilnUserException(
        "the demo needs a local --data-root (got " + root + ")"));
    Path sourceDir = local.toPath().resolve("source/events");

    GenerateResult gen = new EventGenerator(new GenerateConfig(rows, sourceDir, seed, dirty, 0)).generateIfAbsent();
    step(out, 1, "generate", gen.reused()
        ? String.format("reusing %,d lines in %s", gen.linesWritten(), sourceDir)
        : String.format("%,d lines (%,d with defects, %,d duplicates) in %s", gen.linesWritten(),
            gen.expectedQuarantined(), gen.expectedDuplicates(), sourceDir));

    Optional<byte[]> salt = Secrets.piiSalt(Optional.empty());
    if (salt.isEmpty()) {
      Path saltFile = local.toPath().resolve("secrets/pii-salt");
      if (Secrets.createSaltFileIfAbsent(saltFile)) {
        out.println("    created a random PII salt in " + saltFile + " (keep it: same salt, same hashes)");
      }
      salt = Optional.of(Secrets.readSaltFile(saltFile));
    }
    IngestConfig ingest = new IngestConfig(root, sourceDir.toString(), SourceFormat.CSV, "events",
        Path.of("conf/schemas/events.yaml"), salt);
    IngestResult result = new IngestJob(ingest).run(SparkSessions.getOrCreate("kiln demo"));
    step(out, 2, "ingest", result.batches().isEmpty() ? "nothing new (already ingested)"
        : String.format("read %,d = accepted %,d + quarantined %,d + duplicates %,d", result.read(),
            result.accepted(), result.quarantined(), result.duplicates()));
    var spark = SparkSessions.getOrCreate("kiln demo");
    FeatureResult features = new FeatureJob(new FeatureConfig(root, Path.of("conf/features/clicks.yaml"),
        Optional.empty(), false, false)).run(spark);
    step(out, 3, "features", features.mode().equals("up-to-date") ? "nothing new (features.clicks is up to date)"
        : String.format("%s: %,d new rows, %,d updated; %s has %,d rows (%.0f s)", features.mode(),
            features.newRows(), features.updatedRows(), features.featureTable(), features.tableRows(),
            features.seconds()));
    TrainsetJob.Result trainset = new TrainsetJob(new TrainsetConfig(root, "clicks", Optional.empty(),
        TrainsetConfig.Split.RANDOM, 0.2, 0.1, seed, Optional.empty(), Optional.empty(), Optional.empty()))
        .run(spark);
    TrainsetManifest m = trainset.manifest();
    step(out, 4, "trainset", String.format("%s%s: train %,d, validation %,d, test %,d rows", m.id(),
        trainset.reused() ? " (exists)" : "", m.rows().get("train"), m.rows().get("validation"),
        m.rows().get("test")));

    // train once per trainset: a second demo run finds the run and trains nothing
    RunsTable runs = new RunsTable(spark, root);
    Optional<RunsTable.Run> existing = runs.list().stream()
        .filter(r -> r.finished() && r.trainsetId().equals(m.id()) && r.modelType().equals("xgboost")).findFirst();
    RunsTable.Run run = existing.orElseGet(() -> new TrainJob(new TrainConfig(root, m.id(), ModelType.XGBOOST,
        Optional.empty(), java.util.Map.of(), 0.5, seed)).run(spark).run());
    step(out, 5, "train", String.format("%s%s: XGBoost test ROC AUC %.4f, PR AUC %.4f", run.runId(),
        existing.isPresent() ? " (nothing new: exists)" : String.format(" in %.0f s", run.durationS()),
        run.metrics().get("roc_auc"), run.metrics().get("pr_auc")));
    ModelRegistry registry = new ModelRegistry(spark, root);
    ModelRegistry.ModelVersion version = registry.register(run.runId(), Optional.empty());
    ModelRegistry.Promotion promotion = registry.promote(Optional.of(version.name()), version.version(),
        Optional.of(new ModelRegistry.Gate("champion", "roc_auc", 0.002)));
    step(out, 6, "register", ModelsCommand.describe(promotion.promoted() ? promotion.version() : version)
        + (promotion.promoted() ? "" : "; " + promotion.reason()));

    // the week after the training data, as new events without labels: once as the same population, once shifted
    long weekRows = Math.max(1000, rows * 7 / 60);
    java.time.Instant weekStart = GenerateConfig.DEFAULT_START.plus(java.time.Duration.ofDays(GenerateConfig
        .DEFAULT_DAYS));
    int n = 7;
    for (boolean drift : new boolean[] {false, true}) {
      String batch = "week-" + weekStart.toString().substring(0, 10) + (drift ? "-drifted" : "");
      Path weekDir = local.toPath().resolve("source/" + batch);
      new EventGenerator(new GenerateConfig(weekRows, weekDir, seed, 0, 1, weekStart, 7, drift, rows))
          .generateIfAbsent();
      Optional<String[]> done = DemoBatches.monitored(spark, root, batch);
      if (done.isPresent()) {
        step(out, n++, "score", batch + " nothing new (scored already)");
        step(out, n++, "monitor", done.get()[0] + " (monitored already); report " + done.get()[1]);
        continue;
      }
      ScoreJob.Result scored = new ScoreJob(new ScoreConfig(root, "clicks@champion", weekDir.resolve("*.csv")
          .toString(), Optional.of("csv"), Optional.empty(), Optional.empty(), batch, 3, Optional.empty(), salt))
          .run(spark);
      step(out, n++, "score", String.format("%s: %,d events%s into %s (mean score %.3f, top 3 SHAP "
          + "contributions each) in %.0f s", batch, scored.rows(), drift ? " of a shifted population" : "",
          scored.table(), scored.meanScore(), scored.seconds()));
      MonitorJob.Result monitored = new MonitorJob(new MonitorConfig(root, "clicks@champion", Optional.empty(),
          Optional.of(batch), Optional.empty(), Optional.empty(), MonitorConfig.DEFAULT_THRESHOLDS, Optional.empty()))
          .run(spark);
      MonitorReport report = monitored.report();
      step(out, n++, "monitor", report.verdict() + (report.reasons().isEmpty() ? ""
          : ": " + String.join("; ", report.reasons().subList(0, Math.min(3, report.reasons().size())))
          + (report.reasons().size() > 3 ? "; ..." : "")));
      monitored.reportPath().ifPresent(p -> out.println("              report " + p));
    }
    if (common.json) {
      out.println(dev.kiln.common.Json.toJson(Summaries.ingestJson(result)));
    }
    out.println();
    out.println("Tables under " + root + "/tables:");
    out.println("  bronze.events      " + result.bronzePath());
    out.println("  quarantine.events  " + result.quarantinePath());
    out.println("  meta.ingest_log    " + root.resolve("tables/meta/ingest_log"));
    out.println("  features.clicks    " + features.path());
    out.println("  meta.feature_stats " + root.resolve("tables/meta/feature_stats"));
    out.println("  predictions.clicks " + root.resolve("tables/predictions/clicks"));
    out.println("  meta.monitoring    " + root.resolve("tables/meta/monitoring"));
    out.println("Training set: " + root.resolve("trainsets/" + m.id()) + " (manifest.json, data/)");
    out.println("Model: " + run.artifacts() + " (model/, metrics.json, model_card.md, xgboost.json)");
    out.println("Try: ./kiln sql \"SELECT hour, avg(label) ctr, count(*) n FROM features.clicks GROUP BY hour "
        + "ORDER BY hour\" --data-root " + root);
    return 0;
  }

  /** The demo's scoring batches already monitored: their verdict and report, so a second run adds nothing. */
  static final class DemoBatches {
    private DemoBatches() {}

    static Optional<String[]> monitored(org.apache.spark.sql.SparkSession spark, DataRoot root, String batch) {
      String path = root.table(dev.kiln.monitor.MonitoringTable.TABLE);
      if (!dev.kiln.common.DeltaTables.exists(spark, path)) {
        return Optional.empty();
      }
      var rows = spark.read().format("delta").load(path)
          .where("kind = 'verdict' AND batch_id = '" + batch + "'").orderBy(
              org.apache.spark.sql.functions.col("monitored_at").desc()).select("status", "monitor_id").limit(1)
          .collectAsList();
      return rows.isEmpty() ? Optional.empty() : Optional.of(new String[] {rows.get(0).getString(0).toUpperCase(),
          root.localDirectory().orElseThrow().toPath().resolve("reports/" + rows.get(0).getString(1) + ".html")
              .toString()});
    }
  }

  private static void step(PrintWriter out, int n, String name, String detail) {
    out.printf("%-4s %-9s %s%n", "[" + n + "]", name, detail);
    out.flush();
  }
}
