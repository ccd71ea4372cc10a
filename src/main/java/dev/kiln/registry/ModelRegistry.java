package dev.kiln.registry;

import static org.apache.spark.sql.functions.col;

import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.TableRef;
import dev.kiln.common.Messages;
import io.delta.exceptions.DeltaConcurrentModificationException;
import io.delta.tables.DeltaTable;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code meta.models}: registered model versions and their stage (candidate, champion, archived), one row per
 * (model name, version). A version is a run from {@code meta.runs}; each model name has at most one champion.
 *
 * <p>Every change is a compare-and-swap on the table version: the change is decided on the snapshot at version
 * {@code N} and committed as an overwrite of the (small) table that carries Delta's idempotent-write marker ({@code txnAppId = kiln-models},
 * {@code txnVersion = N + 1}). A writer that decided on a stale snapshot either fails Delta's conflict check
 * ({@code ConcurrentTransactionException}) or is skipped because {@code N + 1} was already taken; either way it
 * re-reads and decides again. So two concurrent promotions can never both act on the same champion, and each
 * committed change, with what it replaced, is in the table's Delta history (kept for ten years, see
 * {@link #LOG_RETENTION}).
 */
public final class ModelRegistry {
  private static final Logger LOG = LoggerFactory.getLogger(ModelRegistry.class);
  public static final TableRef TABLE = TableRef.meta("models");
  static final String TXN_APP_ID = "kiln-models";
  /** The registry's history is its audit trail: keep the Delta log far longer than the 30-day default. */
  static final String LOG_RETENTION = "interval 3650 days";
  private static final int MAX_ATTEMPTS = 20;
  /** Widens the gap between deciding and committing; only the concurrency test sets it. */
  static final String PAUSE_PROPERTY = "kiln.registry.pauseBeforeCommitMs";
  private static final Set<String> LOWER_IS_BETTER = Set.of("log_loss", "brier");

  public static final StructType SCHEMA = new StructType()
      .add("model_name", DataTypes.StringType, false)
      .add("version", DataTypes.IntegerType, false)
      .add("stage", DataTypes.StringType, false)
      .add("run_id", DataTypes.StringType, false)
      .add("model_type", DataTypes.StringType, true)
      .add("trainset_id", DataTypes.StringType, true)
      .add("metrics", DataTypes.createMapType(DataTypes.StringType, DataTypes.DoubleType), true)
      .add("artifacts", DataTypes.StringType, true)
      .add("registered_at", DataTypes.TimestampType, true)
      .add("stage_changed_at", DataTypes.TimestampType, true)
      .add("stage_reason", DataTypes.StringType, true)
      // JSON ModelSignature; null in rows registered before signatures existed (filled in on first use)
      .add("signature", DataTypes.StringType, true);

  /** Where a model version stands. */
  public enum Stage {
    CANDIDATE, CHAMPION, ARCHIVED;

    @com.fasterxml.jackson.annotation.JsonValue
    public String id() {
      return name().toLowerCase(Locale.ROOT);
    }

    static Stage parse(String text) {
      for (Stage s : values()) {
        if (s.id().equals(text)) {
          return s;
        }
      }
      throw new KilnUserException("unknown stage '" + text + "' (expected candidate, champion or archived)");
    }
  }

  /** One registered version, as stored. */
  public record ModelVersion(String name, int version, Stage stage, String runId, String modelType,
                             String trainsetId, Map<String, Double> metrics, String artifacts,
                             Timestamp registeredAt, Timestamp stageChangedAt, String stageReason,
                             @com.fasterxml.jackson.annotation.JsonIgnore String signatureJson) {
    ModelVersion withStage(Stage newStage, String reason, Timestamp at) {
      return new ModelVersion(name, version, newStage, runId, modelType, trainsetId, metrics, artifacts, registeredAt,
          at, reason, signatureJson);
    }

    ModelVersion withSignature(String json) {
      return new ModelVersion(name, version, stage, runId, modelType, trainsetId, metrics, artifacts, registeredAt,
          stageChangedAt, stageReason, json);
    }

    /** {@code name@version}, e.g. {@code clicks@3}. */
    public String ref() {
      return name + "@" + version;
    }

    Row toRow() {
      return RowFactory.create(name, version, stage.id(), runId, modelType, trainsetId,
          scala.collection.JavaConverters.mapAsScalaMapConverter(metrics).asScala(), artifacts, registeredAt,
          stageChangedAt, stageReason, signatureJson);
    }

    static ModelVersion fromRow(Row r) {
      boolean hasSignature = Arrays.asList(r.schema().fieldNames()).contains("signature");
      return new ModelVersion(r.getString(0), r.getInt(1), Stage.parse(r.getString(2)), r.getString(3),
          r.getString(4), r.getString(5), r.getJavaMap(6), r.getString(7), r.getTimestamp(8), r.getTimestamp(9),
          r.getString(10), hasSignature ? r.getString(r.fieldIndex("signature")) : null);
    }
  }

  /**
   * The condition of {@code promote --if-better-than}: the version's {@code metric} must beat the reference's by at
   * least {@code minDelta} (higher is better, except for log_loss and brier).
   *
   * @param reference {@code champion} or a version number
   */
  public record Gate(String reference, String metric, double minDelta) {
    public Gate {
      if (!"champion".equals(reference) && !reference.matches("\\d+")) {
        throw new KilnUserException("unknown alias '" + reference + "' for --if-better-than (expected champion or a "
            + "version number)");
      }
      if (minDelta < 0 || Double.isNaN(minDelta)) {
        throw new KilnUserException("--min-delta must be >= 0 (got " + minDelta + ")");
      }
    }
  }

  /** What a promotion did: whether it happened, over which champion, why, after how many attempts. */
  public record Promotion(boolean promoted, ModelVersion version, Optional<ModelVersion> previousChampion,
                          String reason, int attempts) {}

  /** A committed registry change, from the table's Delta history. */
  public record Event(long tableVersion, Timestamp at, Map<String, Object> details) {}

  private final SparkSession spark;
  private final String path;
  private final DataRoot root;

  public ModelRegistry(SparkSession spark, DataRoot root) {
    this.spark = spark;
    this.root = root;
    this.path = root.table(TABLE);
  }

  /**
   * Registers a run as the next version of {@code name} (default: the run's feature set, e.g. {@code clicks}) in
   * stage candidate. Registering the same run under the same name again returns the existing version.
   */
  public ModelVersion register(String runId, Optional<String> name) {
    RunsTable.Run run = requireFinished(new RunsTable(spark, root).get(runId));
    String modelName = requireValidName(name.orElseGet(() -> defaultName(run)));
    String signature = signatureOrNull(run);
    return transact(snapshot -> {
      Optional<ModelVersion> existing = snapshot.stream()
          .filter(v -> v.name().equals(modelName) && v.runId().equals(runId)).findFirst();
      if (existing.isPresent()) {
        return Change.none(existing.get());
      }
      int next = snapshot.stream().filter(v -> v.name().equals(modelName)).mapToInt(ModelVersion::version).max()
          .orElse(0) + 1;
      Timestamp now = Timestamp.from(Instant.now());
      ModelVersion v = new ModelVersion(modelName, next, Stage.CANDIDATE, runId, run.modelType(), run.trainsetId(),
          run.metrics(), run.artifacts(), now, now, "registered from run " + runId, signature);
      return new Change<>(v, List.of(v), event("register", v, Map.of("run_id", runId)));
    }).result();
  }

  /**
   * The run's signature, or null when it cannot be derived now (its trainset or model files are gone): registering
   * does not depend on it; scoring derives it on first use or says in one line why it cannot.
   */
  private String signatureOrNull(RunsTable.Run run) {
    try {
      return ModelSignature.of(spark, root, run).toJson();
    } catch (Exception e) { // also Hadoop's checked exceptions, which Scala code throws undeclared
      LOG.warn("run {}: no input signature stored with the registration ({})", run.runId(),
          Messages.firstLine(e.getMessage(), e.getClass().getSimpleName()));
      return null;
    }
  }

  /** Only a finished run has a model: a failed or unfinished one is refused in one line. */
  static RunsTable.Run requireFinished(RunsTable.Run run) {
    if (run.finished()) {
      return run;
    }
    throw new KilnUserException("run " + run.runId() + (run.failed() ? " failed (" + run.error() + ")"
        : " is " + run.status() + " (not finished: still training, or stopped before it recorded its end)")
        + "; only a finished run has a model");
  }

  /** Model names start with a letter and use letters, digits, '_', '.', '-'. */
  public static String requireValidName(String name) {
    if (!name.matches("[A-Za-z][A-Za-z0-9_.-]*")) {
      throw new KilnUserException("model name '" + name + "' must start with a letter and use letters, digits, "
          + "'_', '.', '-'");
    }
    return name;
  }

  /**
   * Makes {@code version} the champion of {@code name}; the previous champion is archived in the same commit. With a
   * gate, the promotion happens only when the version beats the gate's reference (no champion yet passes).
   */
  public Promotion promote(Optional<String> name, int version, Optional<Gate> gate) {
    Attempted<Promotion> done = transact(snapshot -> {
      String modelName = resolveName(snapshot, name);
      ModelVersion candidate = find(snapshot, modelName, version);
      Optional<ModelVersion> champion = champion(snapshot, modelName);
      if (champion.isPresent() && champion.get().version() == version) {
        return Change.none(new Promotion(false, candidate, champion, "version " + version + " is already the champion",
            0));
      }
      Optional<String> refusal = gate.flatMap(g -> refusal(snapshot, modelName, candidate, champion, g));
      if (refusal.isPresent()) {
        return Change.none(new Promotion(false, candidate, champion, refusal.get(), 0));
      }
      Timestamp now = Timestamp.from(Instant.now());
      String reason = gate.map(g -> passReason(candidate, champion, g)).orElse("promoted");
      List<ModelVersion> rows = new ArrayList<>();
      rows.add(candidate.withStage(Stage.CHAMPION, reason, now));
      champion.ifPresent(c -> rows.add(c.withStage(Stage.ARCHIVED, "replaced by version " + version, now)));
      Map<String, Object> details = new LinkedHashMap<>();
      details.put("previous_champion", champion.map(ModelVersion::version).orElse(null));
      details.put("reason", reason);
      return new Change<>(new Promotion(true, rows.get(0), champion, reason, 0), rows,
          event("promote", candidate, details));
    });
    Promotion p = done.result();
    return new Promotion(p.promoted(), p.version(), p.previousChampion(), p.reason(), done.attempts());
  }

  /** Moves a version to archived (a champion too: the model then has no champion until the next promotion). */
  public ModelVersion archive(Optional<String> name, int version) {
    return transact(snapshot -> {
      ModelVersion v = find(snapshot, resolveName(snapshot, name), version);
      if (v.stage() == Stage.ARCHIVED) {
        return Change.none(v);
      }
      ModelVersion archived = v.withStage(Stage.ARCHIVED, "archived (was " + v.stage().id() + ")",
          Timestamp.from(Instant.now()));
      return new Change<>(archived, List.of(archived), event("archive", v, Map.of("from", v.stage().id())));
    }).result();
  }

  /** Every version of {@code name} (all names when empty), by name then version. */
  public List<ModelVersion> list(Optional<String> name) {
    if (!DeltaTables.exists(spark, path)) {
      return List.of();
    }
    return read(Optional.empty()).stream().filter(v -> name.isEmpty() || v.name().equals(name.get()))
        .sorted(Comparator.comparing(ModelVersion::name).thenComparing(ModelVersion::version)).toList();
  }

  /**
   * A version by number or alias: {@code champion}, or {@code candidate} (the newest version in stage candidate).
   * What {@code kiln score --model NAME@champion} uses.
   */
  public ModelVersion resolve(String name, String versionOrAlias) {
    List<ModelVersion> all = list(Optional.of(name));
    if (all.isEmpty()) {
      throw new KilnUserException("no registered model '" + name + "' in " + TABLE);
    }
    if (versionOrAlias.matches("\\d+")) {
      return find(all, name, Integer.parseInt(versionOrAlias));
    }
    if ("candidate".equals(versionOrAlias)) {
      return all.stream().filter(v -> v.stage() == Stage.CANDIDATE).max(Comparator.comparing(ModelVersion::version))
          .orElseThrow(() -> new KilnUserException("model '" + name + "' has no candidate version"));
    }
    if (!"champion".equals(versionOrAlias)) {
      throw new KilnUserException("unknown alias '" + versionOrAlias + "' (expected champion, candidate or a version "
          + "number)");
    }
    return champion(all, name).orElseThrow(() -> new KilnUserException("model '" + name + "' has no champion yet "
        + "(kiln models promote VERSION)"));
  }

  /** {@link #resolve(String, String)} where the name may be left out when only one model is registered. */
  public ModelVersion resolve(Optional<String> name, String versionOrAlias) {
    return resolve(name.isPresent() ? name.get() : resolveName(list(Optional.empty()), name), versionOrAlias);
  }

  /** {@code NAME@ALIAS} (alias: champion, candidate or a version number) resolved to a version. */
  public ModelVersion resolve(String reference) {
    int at = reference.indexOf('@');
    if (at <= 0 || at == reference.length() - 1) {
      throw new KilnUserException("model '" + reference + "' must be NAME@champion, NAME@candidate or NAME@VERSION");
    }
    return resolve(requireValidName(reference.substring(0, at)), reference.substring(at + 1));
  }

  /**
   * The version's input signature. Versions registered before signatures existed get theirs derived from the run's
   * trainset now and stored (a registry change like any other), so this happens once per version.
   */
  public ModelSignature signature(ModelVersion v) {
    if (v.signatureJson() != null) {
      return ModelSignature.fromJson(v.signatureJson());
    }
    String json = ModelSignature.of(spark, root, new RunsTable(spark, root).get(v.runId())).toJson();
    transact(snapshot -> {
      ModelVersion current = find(snapshot, v.name(), v.version());
      if (current.signatureJson() != null) {
        return Change.none(current);
      }
      ModelVersion filled = current.withSignature(json);
      return new Change<>(filled, List.of(filled), event("signature", current, Map.of("backfilled", true)));
    });
    LOG.info("model {}: stored its input signature (derived from trainset {})", v.ref(), v.trainsetId());
    return ModelSignature.fromJson(json);
  }

  /** The registry's committed changes, oldest first (register, promote, archive) with what each replaced. */
  public List<Event> history(Optional<String> name) {
    if (!DeltaTables.exists(spark, path)) {
      return List.of();
    }
    List<Event> events = new ArrayList<>();
    for (Row r : DeltaTable.forPath(spark, path).history().where(col("userMetadata").isNotNull())
        .select("version", "timestamp", "userMetadata").orderBy("version").collectAsList()) {
      Map<String, Object> meta = Json.parseObject(r.getString(2));
      if (meta.containsKey("event") && (name.isEmpty() || name.get().equals(meta.get("model_name")))) {
        events.add(new Event(r.getLong(0), r.getTimestamp(1), meta));
      }
    }
    return events;
  }

  // ---------------------------------------------------------------------------------------------------------------

  /** A decided change: the rows to upsert (none = nothing to write) and the commit's event metadata. */
  private record Change<T>(T result, List<ModelVersion> rows, Map<String, Object> event) {
    static <T> Change<T> none(T result) {
      return new Change<>(result, List.of(), Map.of());
    }
  }

  private record Attempted<T>(T result, int attempts) {}

  /** Decide on the snapshot at version N, commit as N + 1 or re-decide: see the class comment. */
  private <T> Attempted<T> transact(Function<List<ModelVersion>, Change<T>> decide) {
    DeltaTables.requireDeltaOrAbsent(spark, path, TABLE);
    if (!DeltaTables.exists(spark, path)) {
      DeltaTables.createIfAbsent(spark, path, SCHEMA, Optional.empty(),
          Map.of("delta.logRetentionDuration", LOG_RETENTION),
          DeltaTables.commitMetadata("models", Map.of("action", "create table")));
    }
    for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      long snapshotVersion = DeltaTables.latestVersion(spark, path).orElseThrow();
      List<ModelVersion> snapshot = read(Optional.of(snapshotVersion));
      Change<T> change = decide.apply(snapshot);
      if (change.rows().isEmpty()) {
        return new Attempted<>(change.result(), attempt);
      }
      pauseForTest();
      String token = UUID.randomUUID().toString();
      Map<String, Object> event = new LinkedHashMap<>(change.event());
      event.put("token", token);
      event.put("read_version", snapshotVersion);
      try {
        commit(snapshot, change.rows(), snapshotVersion + 1, DeltaTables.commitMetadata("models", event));
        if (committed(snapshotVersion + 1, token)) {
          return new Attempted<>(change.result(), attempt);
        }
        LOG.info("registry: version {} was taken by another writer; deciding again", snapshotVersion + 1);
      } catch (DeltaConcurrentModificationException e) {
        LOG.info("registry: concurrent change ({}); deciding again", e.getClass().getSimpleName());
      }
      sleepQuietly(50L * attempt + ThreadLocalRandom.current().nextLong(200));
    }
    throw new IllegalStateException("gave up changing " + TABLE + " after " + MAX_ATTEMPTS + " concurrent conflicts");
  }

  /**
   * Writes the whole new state (the snapshot with {@code changed} rows replaced or added) as one overwrite: the
   * registry is small, and an overwrite is one Spark job where a MERGE is several.
   */
  private void commit(List<ModelVersion> snapshot, List<ModelVersion> changed, long txnVersion, String userMetadata) {
    Map<String, ModelVersion> state = new LinkedHashMap<>();
    for (ModelVersion v : snapshot) {
      state.put(v.name() + "/" + v.version(), v);
    }
    for (ModelVersion v : changed) {
      state.put(v.name() + "/" + v.version(), v);
    }
    spark.createDataFrame(state.values().stream().map(ModelVersion::toRow).toList(), SCHEMA).coalesce(1)
        .write().format("delta").mode("overwrite")
        .option("overwriteSchema", "true") // tables created before the signature column gain it here
        .option("txnAppId", TXN_APP_ID).option("txnVersion", txnVersion).option("userMetadata", userMetadata)
        .save(path);
  }

  private boolean committed(long version, String token) {
    List<Row> rows = DeltaTable.forPath(spark, path).history().where(col("version").equalTo(version))
        .select("userMetadata").collectAsList();
    return !rows.isEmpty() && rows.get(0).getString(0) != null && rows.get(0).getString(0).contains(token);
  }

  private List<ModelVersion> read(Optional<Long> version) {
    var reader = spark.read().format("delta");
    if (version.isPresent()) {
      reader = reader.option("versionAsOf", version.get());
    }
    return reader.load(path).collectAsList().stream().map(ModelVersion::fromRow).toList();
  }

  private static Map<String, Object> event(String kind, ModelVersion v, Map<String, Object> extra) {
    Map<String, Object> e = new LinkedHashMap<>();
    e.put("event", kind);
    e.put("model_name", v.name());
    e.put("model_version", v.version());
    e.putAll(extra);
    return e;
  }

  private static String defaultName(RunsTable.Run run) {
    String table = run.featureTable() == null ? "model" : run.featureTable();
    return table.substring(table.lastIndexOf('.') + 1);
  }

  private static String resolveName(List<ModelVersion> snapshot, Optional<String> name) {
    if (name.isPresent()) {
      return name.get();
    }
    List<String> names = snapshot.stream().map(ModelVersion::name).distinct().sorted().toList();
    if (names.size() == 1) {
      return names.get(0);
    }
    throw new KilnUserException(names.isEmpty() ? "no models registered yet (kiln models register RUN)"
        : "several models are registered (" + String.join(", ", names) + "): say which with --name");
  }

  private static ModelVersion find(List<ModelVersion> snapshot, String name, int version) {
    return snapshot.stream().filter(v -> v.name().equals(name) && v.version() == version).findFirst()
        .orElseThrow(() -> new KilnUserException("model '" + name + "' has no version " + version + " in " + TABLE));
  }

  private static Optional<ModelVersion> champion(List<ModelVersion> snapshot, String name) {
    return snapshot.stream().filter(v -> v.name().equals(name) && v.stage() == Stage.CHAMPION).findFirst();
  }

  private static Optional<String> refusal(List<ModelVersion> snapshot, String name, ModelVersion candidate,
                                          Optional<ModelVersion> champion, Gate gate) {
    Optional<ModelVersion> reference = gate.reference().equals("champion") ? champion
        : Optional.of(find(snapshot, name, Integer.parseInt(gate.reference())));
    if (reference.isEmpty()) {
      return Optional.empty();
    }
    double mine = metric(candidate, gate.metric());
    double theirs = metric(reference.get(), gate.metric());
    double gain = LOWER_IS_BETTER.contains(gate.metric()) ? theirs - mine : mine - theirs;
    if (gain >= gate.minDelta()) {
      return Optional.empty();
    }
    return Optional.of(String.format(Locale.ROOT, "%s %.4f is not better than version %d's %.4f by %.4f", gate.metric(),
        mine, reference.get().version(), theirs, gate.minDelta()));
  }

  private static String passReason(ModelVersion candidate, Optional<ModelVersion> champion, Gate gate) {
    if (champion.isEmpty() && gate.reference().equals("champion")) {
      return "no champion yet";
    }
    return String.format(Locale.ROOT, "%s %.4f beats version %s by at least %.4f", gate.metric(),
        metric(candidate, gate.metric()), gate.reference().equals("champion")
            ? String.valueOf(champion.get().version()) : gate.reference(), gate.minDelta());
  }

  private static double metric(ModelVersion v, String metric) {
    Double value = v.metrics().get(metric);
    if (value == null) {
      throw new KilnUserException("version " + v.version() + " of '" + v.name() + "' has no metric '" + metric
          + "' (it has " + String.join(", ", new java.util.TreeSet<>(v.metrics().keySet())) + ")");
    }
    return value;
  }

  private static void pauseForTest() {
    long ms = Long.getLong(PAUSE_PROPERTY, 0L);
    if (ms > 0) {
      sleepQuietly(ms);
    }
  }

  private static void sleepQuietly(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}
