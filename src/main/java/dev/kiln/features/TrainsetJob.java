package dev.kiln.features;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.percentile_approx;
import static org.apache.spark.sql.functions.pmod;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.unix_micros;
import static org.apache.spark.sql.functions.when;
import static org.apache.spark.sql.functions.xxhash64;

import dev.kiln.common.BuildInfo;
import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.HadoopFiles;
import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.StageTimes;
import dev.kiln.common.TableRef;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.DecimalType;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds a training set from a pinned version of a feature table: train / validation / test rows in
 * {@code trainsets/<id>/data} (Delta, partitioned by {@code split}) and {@code trainsets/<id>/manifest.json}, and a
 * row in {@code meta.trainsets}.
 *
 * <p>The random split assigns each row by a hash of its event key and the seed, so a row's split never depends on
 * partitioning or on which other rows exist. The time split puts the latest events in test. Rebuilding
 * ({@code asOf}) reads the feature table at the recorded Delta version and applies the recorded split boundaries,
 * so it returns the same rows whatever was ingested since; the fingerprint proves it.
 */
public final class TrainsetJob {
  private static final Logger LOG = LoggerFactory.getLogger(TrainsetJob.class);
  public static final TableRef REGISTRY = TableRef.meta("trainsets");
  static final StructType REGISTRY_SCHEMA = new StructType()
      .add("id", DataTypes.StringType, true)
      .add("created_at", DataTypes.TimestampType, true)
      .add("feature_table", DataTypes.StringType, true)
      .add("feature_table_version", DataTypes.LongType, true)
      .add("feature_set_version", DataTypes.IntegerType, true)
      .add("split_method", DataTypes.StringType, true)
      .add("seed", DataTypes.LongType, true)
      .add("train_rows", DataTypes.LongType, true)
      .add("validation_rows", DataTypes.LongType, true)
      .add("test_rows", DataTypes.LongType, true)
      .add("fingerprint", DataTypes.StringType, true)
      .add("rebuilt_from", DataTypes.StringType, true)
      .add("manifest", DataTypes.StringType, true);

  /**
   * @param reused       the trainset already existed (same inputs, same split): nothing was written
   * @param stageSeconds     where the run's time went, stage by stage ({@link StageTimes})
   * @param stagePeakHeapMib the driver's peak heap per stage in MiB ({@link StageTimes#peakHeapMib})
   */
  public record Result(TrainsetManifest manifest, boolean reused, Optional<Boolean> identicalToOriginal,
                       Map<String, Double> stageSeconds, Map<String, Long> stagePeakHeapMib) {}

  private final TrainsetConfig config;

  public TrainsetJob(TrainsetConfig config) {
    this.config = config;
  }

  public Result run(SparkSession spark) {
    StageTimes stages = new StageTimes();
    if (config.asOf().isPresent()) {
      return rebuild(spark, config.asOf().get(), stages);
    }
    DataRoot root = config.dataRoot();
    TableRef featureRef = featureTable(config.featureSet());
    String featurePath = root.table(featureRef);
    if (!DeltaTables.exists(spark, featurePath)) {
      throw new KilnUserException("feature table " + featureRef + " does not exist (" + featurePath
          + "); run kiln features first");
    }
    long latest = DeltaTables.latestVersion(spark, featurePath).orElseThrow();
    long version = config.featureVersion().orElse(latest);
    if (version < 0 || version > latest) {
      throw new KilnUserException(featureRef + " has no version " + version + " (latest is " + latest + ")");
    }
    FeatureTableState state = FeatureTableState.at(spark, featurePath, Optional.of(version))
        .orElseThrow(() -> new KilnUserException(featureRef + " version " + version
            + " was not written by kiln features (no feature-set record in its history)"));
    Dataset<Row> features = readVersion(spark, featurePath, featureRef, version);
    FeatureSetSpec spec = FeatureSetSpec.fromJson(state.specJson(), featureRef + " version " + version);
    stages.lap("read feature table"); // the checks and file listing: the rows themselves are read by the write

    TrainsetManifest.SplitSpec split = resolveSplit(features, spec);
    stages.lap("split"); // a time split's boundaries (one pass over the table); the random split costs nothing here
    String id = config.id().orElse(spec.name() + "-v" + state.featureSetVersion() + "-" + digest(featureRef + "@"
        + version + ":" + Json.toJson(split)).substring(0, 10));
    Optional<TrainsetManifest> existing = readManifest(spark, root, id);
    if (existing.isPresent()) {
      TrainsetManifest m = existing.get();
      if (!m.featureTable().equals(featureRef.toString()) || m.featureTableVersion() != version
          || !m.split().equals(split)) {
        throw new KilnUserException("trainset " + id + " already exists, built from " + m.featureTable() + " version "
            + m.featureTableVersion() + " with another split or version than asked (" + featureRef + " version "
            + version + "); choose another --id");
      }
      LOG.info("trainset {} already exists: same feature version and split", id);
      stages.lap("find existing trainset");
      writeStats(spark, root, spec, featureRef, version, features, stages);
      return new Result(m, true, Optional.empty(), stages.seconds(), stages.peakHeapMib());
    }
    TrainsetManifest draft = new TrainsetManifest(id, Instant.now().toString(), featureRef.toString(), version,
        spec.name(), state.featureSetVersion(), state.hash(), state.specJson(), state.sourceTable(),
        state.sourceVersion(), split, Map.of(), Map.of(), null, root.resolve("trainsets/" + id + "/data"), null,
        BuildInfo.gitCommit(), BuildInfo.libraryVersions());
    TrainsetManifest built = materialize(spark, draft, features, spec, stages);
    writeStats(spark, root, spec, featureRef, version, features, stages);
    return new Result(built, false, Optional.empty(), stages.seconds(), stages.peakHeapMib());
  }

  /**
   * Statistics of the feature-table version a trainset is built from, unless recorded already: the baseline
   * monitoring bins a model's inputs on. Computed here rather than by every {@code kiln features} run, because only
   * the versions models are trained on are ever compared against.
   */
  private static void writeStats(SparkSession spark, DataRoot root, FeatureSetSpec spec, TableRef featureRef,
                                 long version, Dataset<Row> features, StageTimes stages) {
    if (new FeatureStats(spark, root).writeIfAbsent(spec, featureRef, version, features)) {
      LOG.info("statistics of {} version {} written to {}", featureRef, version, FeatureStats.TABLE);
    }
    stages.lap("statistics");
  }

  /** Rebuilds a recorded trainset from its manifest as {@code <id>-r<n>} and says whether the rows are identical. */
  private Result rebuild(SparkSession spark, String originalId, StageTimes stages) {
    DataRoot root = config.dataRoot();
    TrainsetManifest original = readManifest(spark, root, originalId).orElseThrow(() -> new KilnUserException(
        "no trainset '" + originalId + "' (no " + root.resolve("trainsets/" + originalId + "/manifest.json") + ")"));
    TableRef featureRef = TableRef.parse(original.featureTable(), "features");
    Dataset<Row> features = readVersion(spark, root.table(featureRef), featureRef, original.featureTableVersion(),
        "; trainset " + originalId + " itself is intact (" + original.dataPath() + ")");
    String id = originalId + "-r1";
    for (int n = 2; readManifest(spark, root, id).isPresent(); n++) {
      id = originalId + "-r" + n;
    }
    stages.lap("read feature table"); // the recorded version; its split is recorded too, nothing to compute
    TrainsetManifest draft = new TrainsetManifest(id, Instant.now().toString(), original.featureTable(),
        original.featureTableVersion(), original.featureSet(), original.featureSetVersion(),
        original.featureSetHash(), original.spec(), original.sourceTable(), original.sourceVersion(),
        original.split(), Map.of(), Map.of(), null, root.resolve("trainsets/" + id + "/data"), originalId,
        BuildInfo.gitCommit(), BuildInfo.libraryVersions());
    TrainsetManifest rebuilt = materialize(spark, draft, features, original.featureSetSpec(), stages);
    writeStats(spark, root, original.featureSetSpec(), featureRef, original.featureTableVersion(), features, stages);
    boolean identical = rebuilt.fingerprint().equals(original.fingerprint()) && rebuilt.rows().equals(original.rows());
    return new Result(rebuilt, false, Optional.of(identical), stages.seconds(), stages.peakHeapMib());
  }

  static TableRef featureTable(String featureSet) {
    String name = featureSet.trim();
    if (name.endsWith(".yaml") || name.endsWith(".yml")) {
      name = FeatureSetSpec.load(java.nio.file.Path.of(name)).name();
    }
    return TableRef.parse(name, "features");
  }

  private static Dataset<Row> readVersion(SparkSession spark, String path, TableRef ref, long version) {
    return readVersion(spark, path, ref, version, "");
  }

  /**
   * The table at {@code version}, or a one-line user error when Delta can no longer give it: its log entry was
   * cleaned up ({@code delta.logRetentionDuration}) or VACUUM deleted data files it needs. {@code note} ends it.
   */
  private static Dataset<Row> readVersion(SparkSession spark, String path, TableRef ref, long version, String note) {
    boolean kept = DeltaTables.commits(spark, path, Optional.empty()).stream().anyMatch(c -> c.version() == version);
    if (!kept) {
      throw new KilnUserException(ref + " version " + version + " is no longer in the table's log (cleaned up after "
          + "delta.logRetentionDuration); it cannot be read" + note);
    }
    Dataset<Row> table;
    String[] files;
    try {
      table = spark.read().format("delta").option("versionAsOf", version).load(path);
      files = table.inputFiles();
    } catch (RuntimeException e) {
      throw new KilnUserException(ref + " version " + version + " cannot be read (" + e.getMessage().lines()
          .findFirst().orElse("") + ")" + note);
    }
    long missing = 0;
    try {
      FileSystem fs = new Path(path).getFileSystem(spark.sparkContext().hadoopConfiguration());
      for (String f : files) {
        if (!fs.exists(new Path(f))) {
          missing++;
        }
      }
    } catch (IOException e) {
      throw new KilnUserException("cannot inspect " + ref + " (" + path + "): " + e.getMessage());
    }
    if (missing > 0) {
      throw new KilnUserException(ref + " version " + version + " can no longer be read: " + missing + " of its "
          + files.length + " data files were deleted by VACUUM" + note);
    }
    return table;
  }

  /** The split with concrete boundaries: a time split's quantiles are resolved here and recorded. */
  private TrainsetManifest.SplitSpec resolveSplit(Dataset<Row> features, FeatureSetSpec spec) {
    if (config.split() == TrainsetConfig.Split.RANDOM) {
      return new TrainsetManifest.SplitSpec("random", config.testFraction(), config.validationFraction(),
          config.seed(), null, null);
    }
    Instant testFrom;
    Instant validationFrom;
    if (config.testFrom().isPresent()) {
      testFrom = config.testFrom().get();
      validationFrom = config.validationFrom().orElse(testFrom);
    } else {
      double t = 1 - config.testFraction();
      double v = t - config.validationFraction();
      Row q = features.agg(percentile_approx(unix_micros(col(spec.eventTime())), lit(new double[] {v, t}),
          lit(100_000))).first();
      if (q.isNullAt(0)) {
        throw new KilnUserException("the feature table is empty: nothing to split");
      }
      List<Long> micros = q.getList(0);
      validationFrom = config.validationFrom().orElse(Instant.EPOCH.plusNanos(micros.get(0) * 1000));
      testFrom = Instant.EPOCH.plusNanos(micros.get(1) * 1000);
    }
    return new TrainsetManifest.SplitSpec("time", config.testFraction(), config.validationFraction(), config.seed(),
        testFrom.toString(), validationFrom.toString());
  }

  static Column splitColumn(TrainsetManifest.SplitSpec split, FeatureSetSpec spec) {
    if (split.method().equals("random")) {
      // uniform in [0, 1) from the key alone: stable under repartitioning and new data
      Column u = pmod(xxhash64(lit(split.seed()), col(spec.eventKey())), lit(1_000_000L)).divide(1e6);
      return when(u.lt(split.testFraction()), "test")
          .when(u.lt(split.testFraction() + split.validationFraction()), "validation")
          .otherwise("train");
    }
    Column t = col(spec.eventTime());
    return when(t.geq(lit(Timestamp.from(Instant.parse(split.testFrom())))), "test")
        .when(t.geq(lit(Timestamp.from(Instant.parse(split.validationFrom())))), "validation")
        .otherwise("train");
  }

  private TrainsetManifest materialize(SparkSession spark, TrainsetManifest draft, Dataset<Row> features,
                                       FeatureSetSpec spec, StageTimes stages) {
    String split = TrainsetManifest.SPLIT_COLUMN;
    Dataset<Row> rows = features.withColumn(split, splitColumn(draft.split(), spec));
    String meta = DeltaTables.commitMetadata("trainset", Map.of("trainset", draft.id(), "feature_table",
        draft.featureTable(), "feature_table_version", draft.featureTableVersion()));
    // Created first only to carry the table properties: no Parquet dictionaries for the (nearly) unique event key
    // and time (see DeltaTables.withoutDictionary); the overwrite keeps them.
    DeltaTables.createIfAbsent(spark, draft.dataPath(), rows.schema(), Optional.of(split),
        DeltaTables.withoutDictionary(List.of(spec.eventKey(), spec.eventTime())),
        DeltaTables.commitMetadata("trainset", Map.of("trainset", draft.id(), "action", "create table")));
    rows.write().format("delta").mode("overwrite").option("overwriteSchema", "true").option("userMetadata", meta)
        .partitionBy(split).save(draft.dataPath());
    stages.lap("write trainset"); // reading the feature rows and assigning each its split happen in the write

    // rows, positives and an order-independent fingerprint per split, in one pass over what was written
    Dataset<Row> written = spark.read().format("delta").load(draft.dataPath());
    Column[] all = Arrays.stream(written.columns()).map(c -> col(c)).toArray(Column[]::new);
    List<Row> perSplit = written.groupBy(split).agg(count(lit(1)),
        sum(col(spec.label()).cast(DataTypes.LongType)),
        sum(xxhash64(all).cast(new DecimalType(38, 0)))).collectAsList();
    stages.lap("count and fingerprint");
    Map<String, Long> counts = new TreeMap<>();
    Map<String, Long> positives = new TreeMap<>();
    StringBuilder fingerprintInput = new StringBuilder();
    TrainsetManifest.SPLITS.forEach(s -> {
      counts.put(s, 0L);
      positives.put(s, 0L);
    });
    perSplit.stream().sorted((a, b) -> a.getString(0).compareTo(b.getString(0))).forEach(r -> {
      counts.put(r.getString(0), r.getLong(1));
      positives.put(r.getString(0), r.isNullAt(2) ? 0L : r.getLong(2));
      fingerprintInput.append(r.getString(0)).append('=').append(r.getDecimal(3)).append(';');
    });
    if (counts.get("train") == 0 || counts.get("test") == 0) {
      throw new KilnUserException("the split leaves " + (counts.get("train") == 0 ? "train" : "test") + " empty ("
          + counts + "); change the fractions or boundaries");
    }
    TrainsetManifest manifest = new TrainsetManifest(draft.id(), draft.createdAt(), draft.featureTable(),
        draft.featureTableVersion(), draft.featureSet(), draft.featureSetVersion(), draft.featureSetHash(),
        draft.spec(), draft.sourceTable(), draft.sourceVersion(), draft.split(), counts, positives,
        digest(fingerprintInput.toString()), draft.dataPath(), draft.rebuiltFrom(), draft.gitCommit(),
        draft.libraryVersions());
    register(spark, manifest);
    writeManifest(spark, config.dataRoot(), manifest);
    stages.lap("record manifest");
    LOG.info("trainset {}: {} from {} version {}", manifest.id(), counts, manifest.featureTable(),
        manifest.featureTableVersion());
    return manifest;
  }

  /** Appends the trainset to {@code meta.trainsets}; an idempotent write, so a re-run after a kill adds no twin. */
  private void register(SparkSession spark, TrainsetManifest m) {
    Row row = RowFactory.create(m.id(), Timestamp.from(Instant.parse(m.createdAt())), m.featureTable(),
        m.featureTableVersion(), m.featureSetVersion(), m.split().method(), m.split().seed(), m.rows().get("train"),
        m.rows().get("validation"), m.rows().get("test"), m.fingerprint(), m.rebuiltFrom(), Json.toJson(m));
    DeltaTables.appendOnce(spark, config.dataRoot().table(REGISTRY), REGISTRY, REGISTRY_SCHEMA, List.of(row),
        "kiln-trainset:" + m.id(), 0, "trainset", Map.of("trainset", m.id()));
  }

  /** The manifest of trainset {@code id}, if it was completed. */
  public static Optional<TrainsetManifest> readManifest(SparkSession spark, DataRoot root, String id) {
    if (!id.matches("[A-Za-z0-9._-]+")) {
      throw new KilnUserException("invalid trainset id '" + id + "'");
    }
    String file = root.resolve("trainsets/" + id + "/manifest.json");
    return HadoopFiles.read(spark, file).map(json -> {
      try {
        return Json.JSON.readValue(json, TrainsetManifest.class);
      } catch (IOException e) {
        throw new KilnUserException("unreadable trainset manifest (" + file + "): " + e.getMessage());
      }
    });
  }

  /** Written last, atomically: a trainset exists once its manifest does. */
  private static void writeManifest(SparkSession spark, DataRoot root, TrainsetManifest m) {
    HadoopFiles.writeAtomically(spark, root.resolve("trainsets/" + m.id() + "/manifest.json"), Json.toPrettyJson(m));
  }

  private static String digest(String text) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
          .digest(text.getBytes(StandardCharsets.UTF_8)), 0, 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
