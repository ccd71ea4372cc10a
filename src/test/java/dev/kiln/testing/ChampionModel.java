package dev.kiln.testing;

import dev.kiln.common.DataRoot;
import dev.kiln.features.FeatureConfig;
import dev.kiln.features.FeatureJob;
import dev.kiln.features.TrainsetConfig;
import dev.kiln.features.TrainsetJob;
import dev.kiln.registry.ModelRegistry;
import dev.kiln.train.ModelType;
import dev.kiln.train.TrainConfig;
import dev.kiln.train.TrainJob;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;

/**
 * Test fixture: generated events (60 days from 2026-01-01) ingested, features.clicks computed, a trainset, and an
 * XGBoost model registered as {@code clicks} version 1 and promoted to champion — built once per test JVM and shared
 * by the scoring and monitoring tests, which write only their own predictions tables and batches under it.
 */
public final class ChampionModel {
  public static final long ROWS = 20_000;
  public static final long SEED = 11;
  private static ChampionModel instance;

  public final DataRoot root;
  /** The generated CSV (raw, un-hashed ids) that was ingested. */
  public final Path sourceCsvDir;
  public final Path dir;
  public final String runId;

  private ChampionModel(DataRoot root, Path dir, Path sourceCsvDir, String runId) {
    this.root = root;
    this.dir = dir;
    this.sourceCsvDir = sourceCsvDir;
    this.runId = runId;
  }

  public static synchronized ChampionModel get() {
    if (instance == null) {
      SparkSession spark = SharedSpark.get();
      try {
        Path dir = Files.createTempDirectory("kiln-champion");
        Path src = GeneratedEvents.generate(dir, ROWS, SEED, 1);
        DataRoot root = DataRoot.of(dir.resolve("root").toString());
        GeneratedEvents.ingest(spark, root, src.toString());
        new FeatureJob(new FeatureConfig(root, Path.of("conf/features/clicks.yaml"), Optional.empty(), false, true))
            .run(spark);
        String trainset = new TrainsetJob(new TrainsetConfig(root, "clicks", Optional.empty(),
            TrainsetConfig.Split.RANDOM, 0.2, 0.1, 42, Optional.empty(), Optional.empty(), Optional.empty()))
            .run(spark).manifest().id();
        TrainJob.Result r = new TrainJob(new TrainConfig(root, trainset, ModelType.XGBOOST, Optional.empty(),
            Map.of("n_estimators", "60"), 0.5, 42)).run(spark);
        ModelRegistry registry = new ModelRegistry(spark, root);
        ModelRegistry.ModelVersion v = registry.register(r.run().runId(), Optional.empty());
        registry.promote(Optional.of(v.name()), v.version(), Optional.empty());
        instance = new ChampionModel(root, dir, src, r.run().runId());
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    }
    return instance;
  }

  /** The salt {@link GeneratedEvents#ingest} hashes PII with: raw inputs must be hashed with it too. */
  public static byte[] salt() {
    return "salt-0123456789".getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }
}
