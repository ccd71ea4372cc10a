package dev.kiln.monitor;

import static org.apache.spark.sql.functions.avg;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.floor;
import static org.apache.spark.sql.functions.least;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.when;

import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.PipelineStages;
import dev.kiln.common.StageTimes;
import dev.kiln.common.TableRef;
import dev.kiln.features.FeatureSetSpec;
import dev.kiln.features.FeatureStats;
import dev.kiln.features.TrainsetManifest;
import dev.kiln.monitor.MonitorReport.Status;
import dev.kiln.registry.ModelRegistry;
import dev.kiln.registry.ModelSignature;
import dev.kiln.registry.ResolvedModel;
import dev.kiln.registry.RunsTable;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Compares a batch (or a time window) of predictions with the model's baseline — the training split of its run's
 * trainset, binned on the bins {@code meta.feature_stats} recorded for that feature-table version — and judges drift
 * per feature and for the score, the data quality of the current rows (Deequ), and model quality where labels have
 * arrived. Every value goes to {@code meta.monitoring}; the verdict is ALERT when any alert threshold is crossed,
 * which {@code kiln monitor} turns into exit code 3.
 *
 * <p>Features are monitored as the model consumes them: a CTR as its rate (clicks / events), not its ever-growing
 * counts, so a later sample of the same population does not read as drift.
 */
public final class MonitorJob {
  private static final Logger LOG = LoggerFactory.getLogger(MonitorJob.class);
  private static final int SCORE_BINS = 10;
  private static final int AUC_BINS = 1000;
  private static final int FALLBACK_BINS = 20;

  /**
   * The report, what was monitored, and where things went.
   *
   * @param stageSeconds     where the run's time went, stage by stage ({@link StageTimes})
   * @param stagePeakHeapMib the driver's peak heap per stage in MiB ({@link StageTimes#peakHeapMib})
   */
  public record Result(MonitorReport report, String monitorId, Optional<String> reportPath, int rowsWritten,
                       Map<String, Double> stageSeconds, Map<String, Long> stagePeakHeapMib) {}

  private final MonitorConfig config;

  public MonitorJob(MonitorConfig config) {
    this.config = config;
  }

  /** One monitored feature: its output name, the expression over feature-table columns, numeric or categorical. */
  private record Feature(String name, Column expr, boolean numeric) {}

  public Result run(SparkSession spark) {
    StageTimes stages = new StageTimes();
    DataRoot root = config.dataRoot();
    MonitorThresholds thresholds = MonitorThresholds.load(config.thresholds());
    ResolvedModel resolved = ResolvedModel.of(spark, root, config.model());
    ModelRegistry.ModelVersion version = resolved.version();
    String alias = resolved.alias();
    ModelSignature signature = resolved.signature();
    RunsTable.Run run = resolved.run();
    TrainsetManifest manifest = resolved.trainset();
    if (!DeltaTables.exists(spark, manifest.dataPath())) {
      throw new KilnUserException("baseline not found: the data of trainset " + manifest.id() + " is gone ("
          + manifest.dataPath() + ")");
    }
    FeatureSetSpec spec = manifest.featureSetSpec();

    // current rows
    TableRef currentRef = TableRef.parse(config.current().orElse("predictions." + version.name()), "predictions");
    String currentPath = root.table(currentRef);
    long currentVersion = DeltaTables.latestVersion(spark, currentPath).orElseThrow(() -> new KilnUserException(
        "no predictions table " + currentRef + " (" + currentPath + "); score something first"));
    Dataset<Row> predictions = spark.read().format("delta").option("versionAsOf", currentVersion).load(currentPath)
        .where(col("model_name").equalTo(version.name()).and(col("model_version").equalTo(version.version())));
    String what;
    if (config.batchId().isPresent()) {
      predictions = predictions.where(col("batch_id").equalTo(config.batchId().get()));
      what = currentRef + " batch " + config.batchId().get();
    } else {
      Column time = col("`" + signature.eventTime() + "`");
      if (config.from().isPresent()) {
        predictions = predictions.where(time.geq(lit(Timestamp.from(config.from().get()))));
      }
      if (config.to().isPresent()) {
        predictions = predictions.where(time.lt(lit(Timestamp.from(config.to().get()))));
      }
      what = currentRef + " events " + config.from().map(Instant::toString).orElse("…") + " to "
          + config.to().map(Instant::toString).orElse("…");
    }
    predictions = predictions.persist(StorageLevel.MEMORY_AND_DISK());
    try {
      long currentRows = predictions.count();
      stages.lap("resolve model and read predictions");
      if (currentRows == 0) {
        throw new KilnUserException(config.batchId().isPresent()
            ? "unknown batch '" + config.batchId().get() + "': no predictions of " + version.name() + " in "
            + currentRef
            : "no predictions of " + version.name() + " in " + what);
      }
      return monitor(spark, root, thresholds, resolved, alias, signature, run, manifest, spec, currentRef,
          currentVersion, predictions, currentRows, what, stages);
    } finally {
      predictions.unpersist();
    }
  }

  private Result monitor(SparkSession spark, DataRoot root, MonitorThresholds thresholds,
                         ResolvedModel resolved, String alias, ModelSignature signature,
                         RunsTable.Run run, TrainsetManifest manifest, FeatureSetSpec spec, TableRef currentRef,
                         long currentVersion, Dataset<Row> predictions, long currentRows, String what,
                         StageTimes stages) {
    ModelRegistry.ModelVersion version = resolved.version();
    Dataset<Row> trainset = recent(spark.read().format("delta").load(manifest.dataPath()), spec,
        thresholds.baseline().recentDays());
    Dataset<Row> baselineRows = trainset.where(col(TrainsetManifest.SPLIT_COLUMN).equalTo("train"));
    List<Feature> features = monitoredFeatures(spec);
    String key = signature.eventKey();
    Dataset<Row> baseline = select(baselineRows, features, key);
    Dataset<Row> current = select(predictions.select(col("`" + key + "`"), col("features.*")), features, key);
    List<String> numericNames = features.stream().filter(Feature::numeric).map(Feature::name).toList();
    List<String> categoricalNames = features.stream().filter(f -> !f.numeric()).map(Feature::name).toList();

    // numeric bins: the ones meta.feature_stats recorded for the trainset's feature-table version where there are
    List<Distributions.NumericBins> bins = numericBins(spark, root, spec, manifest, baseline, numericNames);
    Distributions.Both base = Distributions.of(baseline, bins, categoricalNames);
    Distributions.Both cur = Distributions.of(current, bins, categoricalNames);
    Map<String, Distributions.Numeric> baseNum = base.numeric();
    Map<String, Distributions.Numeric> curNum = cur.numeric();
    Map<String, Distributions.Categorical> baseCat = base.categorical();
    Map<String, Distributions.Categorical> curCat = cur.categorical();
    long baselineCount = base.rows();
    if (baselineCount == 0) {
      throw new KilnUserException("baseline not found: trainset " + manifest.id() + " has no training rows in its last "
          + thresholds.baseline().recentDays() + " days (baseline.recent_days in " + config.thresholds() + ")");
    }
    stages.lap("feature distributions");
    LOG.info("monitor: distributions of {} features, {} baseline and {} current rows ({} s)", features.size(),
        baselineCount, currentRows, seconds(stages));

    boolean judged = currentRows >= thresholds.drift().minRows();
    List<String> reasons = new ArrayList<>();
    List<MonitorReport.FeatureDrift> drift = new ArrayList<>();
    for (Distributions.NumericBins b : bins) {
      Distributions.Numeric bn = baseNum.get(b.column());
      Distributions.Numeric cn = curNum.get(b.column());
      double psi = DriftMetrics.psi(bn.bins(), cn.bins());
      double ks = cn.nonNull() == 0 || bn.nonNull() == 0 ? 0
          : DriftMetrics.ks(bn.atOrBelow(), bn.nonNull(), cn.atOrBelow(), cn.nonNull());
      Status status = judged ? Status.worst(thresholds.drift().psi().judge(psi), thresholds.drift().ks().judge(ks))
          : Status.OK;
      addReason(reasons, status, String.format(Locale.ROOT, "%s drifted: PSI %.3f, KS %.3f", b.column(), psi, ks));
      drift.add(new MonitorReport.FeatureDrift(b.column(), "numeric", psi, ks, null, null, status,
          histogram(b.labels(), bn.bins()), histogram(b.labels(), cn.bins())));
    }
    for (String c : categoricalNames) {
      Map<String, Long> bc = baseCat.get(c).counts();
      Map<String, Long> cc = curCat.get(c).counts();
      double psi = DriftMetrics.psi(bc, cc);
      double js = cc.isEmpty() || bc.isEmpty() ? 0 : DriftMetrics.jensenShannon(bc, cc);
      java.util.Set<String> known = new java.util.HashSet<>(signature.categories().getOrDefault(c,
          List.copyOf(bc.keySet())));
      long unseen = cc.entrySet().stream().filter(e -> !known.contains(e.getKey())).mapToLong(Map.Entry::getValue)
          .sum();
      double unseenShare = curCat.get(c).nonNull() == 0 ? 0 : (double) unseen / curCat.get(c).nonNull();
      Status status = judged ? Status.worst(Status.worst(thresholds.drift().psi().judge(psi),
          thresholds.drift().js().judge(js)), thresholds.drift().unseenShare().judge(unseenShare)) : Status.OK;
      TreeSet<String> newValues = new TreeSet<>(cc.keySet());
      newValues.removeAll(known);
      addReason(reasons, status, String.format(Locale.ROOT, "%s drifted: PSI %.3f, JS %.3f, %.1f%% unseen%s", c,
          psi, js, 100 * unseenShare, newValues.isEmpty() ? "" : " (new: " + String.join(", ",
              newValues.stream().limit(5).toList()) + ")"));
      List<String> labels = new ArrayList<>(new TreeSet<>(bc.keySet()));
      cc.keySet().stream().filter(v -> !bc.containsKey(v)).sorted().forEach(labels::add);
      drift.add(new MonitorReport.FeatureDrift(c, "categorical", psi, null, js, unseenShare, status,
          histogram(labels, bc), histogram(labels, cc)));
    }

    // the score against the model's scores on its held-out test split
    Distributions.NumericBins scoreBins = new Distributions.NumericBins("score", scoreEdges(), scoreEdges());
    Dataset<Row> testScores = resolved.pipeline()
        .transform(trainset.where(col(TrainsetManifest.SPLIT_COLUMN).equalTo("test")))
        .select(org.apache.spark.ml.functions.vector_to_array(col("probability"), "float64").getItem(1).as("score"));
    Distributions.Numeric baseScore = Distributions.of(testScores, List.of(scoreBins), List.of()).numeric()
        .get("score");
    PipelineStages.releaseBroadcasts(resolved.pipeline());
    Distributions.Numeric curScore = Distributions.of(predictions, List.of(scoreBins), List.of()).numeric()
        .get("score");
    double scorePsi = DriftMetrics.psi(baseScore.bins(), curScore.bins());
    Status scoreStatus = judged ? thresholds.drift().scorePsi().judge(scorePsi) : Status.OK;
    addReason(reasons, scoreStatus, String.format(Locale.ROOT, "the score distribution shifted: PSI %.3f",
        scorePsi));
    List<String> scoreLabels = scoreBins.labels().subList(1, SCORE_BINS + 1);
    MonitorReport.Histogram scoreBase = histogram(scoreLabels, Arrays.copyOfRange(baseScore.bins(), 1, SCORE_BINS + 1));
    MonitorReport.Histogram scoreCur = histogram(scoreLabels, Arrays.copyOfRange(curScore.bins(), 1, SCORE_BINS + 1));

    stages.lap("score distribution");
    LOG.info("monitor: score distribution against the test split ({} s)", seconds(stages));
    // data quality of the current rows
    Map<String, double[]> ranges = new LinkedHashMap<>();
    baseNum.forEach((name, n) -> {
      if (n.min() != null) {
        ranges.put(name, new double[] {n.min(), n.max()});
      }
    });
    Map<String, java.util.Set<String>> knownValues = new LinkedHashMap<>();
    for (String c : categoricalNames) {
      knownValues.put(c, new java.util.LinkedHashSet<>(signature.categories().getOrDefault(c,
          List.copyOf(baseCat.get(c).counts().keySet()))));
    }
    List<String> qualityColumns = new ArrayList<>(List.of(key));
    qualityColumns.addAll(features.stream().map(Feature::name).toList());
    List<QualityChecks.Metric> measured = QualityChecks.measure(current,
        new QualityChecks.Spec(key, qualityColumns, ranges, knownValues));
    MonitoringTable table = new MonitoringTable(spark, root);
    Optional<Long> previousRows = table.previousRows(version.name(), currentRef.toString());
    List<MonitorReport.Check> quality = new ArrayList<>();
    for (QualityChecks.Metric m : measured) {
      MonitorReport.Check check = judgeQuality(m, thresholds, baseNum, baseCat, previousRows);
      quality.add(check);
      addReason(reasons, check.status(), check.column() + ": " + check.detail());
    }

    stages.lap("data quality");
    LOG.info("monitor: {} data-quality metrics (Deequ) ({} s)", measured.size(), seconds(stages));
    // model quality where labels have arrived
    List<MonitorReport.DailyModelQuality> daily = new ArrayList<>();
    Optional<Double> overallAuc = modelQuality(spark, root, signature, predictions, daily);
    long labeled = daily.stream().mapToLong(MonitorReport.DailyModelQuality::labeled).sum();
    Double trainedAuc = run.metrics().get("roc_auc");
    Status aucStatus = Status.OK;
    if (overallAuc.isPresent() && trainedAuc != null && labeled >= thresholds.modelQuality().minLabeled()) {
      double dropped = trainedAuc - overallAuc.get();
      aucStatus = thresholds.modelQuality().aucDrop().judge(dropped);
      addReason(reasons, aucStatus, String.format(Locale.ROOT, "ROC AUC on %,d labeled events is %.3f, %.3f below "
          + "the %.3f measured at training", labeled, overallAuc.get(), dropped, trainedAuc));
    }

    stages.lap("model quality");
    Status verdict = Status.OK;
    for (MonitorReport.FeatureDrift f : drift) {
      verdict = Status.worst(verdict, f.status());
    }
    for (MonitorReport.Check c : quality) {
      verdict = Status.worst(verdict, c.status());
    }
    verdict = Status.worst(Status.worst(verdict, scoreStatus), aucStatus);
    // alerts before warnings: the first reasons are the ones that matter
    reasons.sort(java.util.Comparator.comparing((String r) -> r.startsWith("(warn)")));
    if (!judged) {
      reasons.add(0, String.format(Locale.ROOT, "only %,d rows: drift is shown but not judged (drift.min_rows %d)",
          currentRows, thresholds.drift().minRows()));
    }
    Instant now = Instant.now();
    MonitorReport report = new MonitorReport(version.name(), version.version(), alias, run.runId(), what, now,
        verdict, reasons, currentRows, baselineCount, drift, scoreBase, scoreCur, scorePsi, quality, daily);

    String monitorId = "monitor-" + version.name() + "-" + now.toString().replaceAll("[^0-9]", "").substring(0, 14)
        + "-" + UUID.randomUUID().toString().substring(0, 6);
    List<Row> rows = rows(monitorId, report, currentRef, currentVersion, thresholds, scoreStatus, overallAuc, trainedAuc,
        aucStatus, labeled);
    Map<String, Object> lineage = new LinkedHashMap<>();
    lineage.put("monitor_id", monitorId);
    lineage.put("model", version.ref());
    lineage.put("current", currentRef + "@" + currentVersion);
    config.batchId().ifPresent(b -> lineage.put("batch_id", b));
    lineage.put("baseline", "trainset " + manifest.id() + " (" + manifest.featureTable() + "@"
        + manifest.featureTableVersion() + ")");
    lineage.put("thresholds", config.thresholds().toString());
    lineage.put("verdict", verdict.id());
    table.append(monitorId, rows, lineage);

    Optional<Path> reportPath = config.report().or(() -> root.localDirectory()
        .map(d -> d.toPath().resolve("reports").resolve(monitorId + ".html")));
    stages.lap("write results");
    reportPath.ifPresent(p -> HtmlReport.write(report, p));
    stages.lap("report");
    LOG.info("monitor {} on {}: {} ({} reasons) in {} s", version.ref(), what, verdict.id(), reasons.size(),
        seconds(stages));
    return new Result(report, monitorId, reportPath.map(Path::toString), rows.size(), stages.seconds(),
        stages.peakHeapMib());
  }

  /** The trainset rows of its last {@code days} days (all rows when 0). */
  private static Dataset<Row> recent(Dataset<Row> trainset, FeatureSetSpec spec, int days) {
    if (days == 0) {
      return trainset;
    }
    // the end of the training split (a time split's test rows come later than every training row)
    Row last = trainset.where(col(TrainsetManifest.SPLIT_COLUMN).equalTo("train"))
        .agg(org.apache.spark.sql.functions.max(col("`" + spec.eventTime() + "`"))).first();
    if (last.isNullAt(0)) {
      return trainset;
    }
    Timestamp from = Timestamp.from(last.getTimestamp(0).toInstant().minus(java.time.Duration.ofDays(days)));
    return trainset.where(col("`" + spec.eventTime() + "`").gt(lit(from)));
  }

  private static String seconds(StageTimes stages) {
    return String.format(Locale.ROOT, "%.1f", stages.elapsed());
  }

  /** Time, categorical and numeric features and the aggregates, with each CTR as its rate. */
  private static List<Feature> monitoredFeatures(FeatureSetSpec spec) {
    List<Feature> out = new ArrayList<>();
    for (String t : spec.timeFeatures()) {
      out.add(new Feature(t, col(t).cast(DataTypes.DoubleType), true));
    }
    for (FeatureSetSpec.Categorical c : spec.categorical()) {
      out.add(new Feature(c.column(), col("`" + c.column() + "`").cast(DataTypes.StringType), false));
    }
    for (FeatureSetSpec.Numeric n : spec.numeric()) {
      out.add(new Feature(n.name(), col("`" + n.name() + "`").cast(DataTypes.DoubleType), true));
    }
    for (FeatureSetSpec.Aggregate a : spec.aggregates()) {
      Column value = a.function().equals("ctr")
          ? when(col(a.ctrEventsColumn()).gt(0), col(a.ctrClicksColumn()).cast(DataTypes.DoubleType)
              .divide(col(a.ctrEventsColumn())))
          : col("`" + a.name() + "`").cast(DataTypes.DoubleType);
      out.add(new Feature(a.name(), value, true));
    }
    return out;
  }

  private static Dataset<Row> select(Dataset<Row> rows, List<Feature> features, String key) {
    List<Column> cols = new ArrayList<>();
    cols.add(col("`" + key + "`"));
    features.forEach(f -> cols.add(f.expr().as(f.name())));
    return rows.select(cols.toArray(Column[]::new));
  }

  private static List<Distributions.NumericBins> numericBins(SparkSession spark, DataRoot root, FeatureSetSpec spec,
                                                             TrainsetManifest manifest, Dataset<Row> baseline,
                                                             List<String> numeric) {
    Map<String, double[][]> recorded = new TreeMap<>(); // feature -> {edges, quantiles}
    String statsPath = root.table(FeatureStats.TABLE);
    if (DeltaTables.exists(spark, statsPath)) {
      for (Row r : new FeatureStats(spark, root).read(spec.name(), manifest.featureTableVersion())
          .where(col("kind").equalTo("numeric")).select("feature", "hist_edges", "quantiles").collectAsList()) {
        if (!r.isNullAt(1)) {
          recorded.put(r.getString(0), new double[][] {doubles(r.getList(1)),
              r.isNullAt(2) ? new double[0] : doubles(r.getList(2))});
        }
      }
    }
    List<String> missing = numeric.stream().filter(n -> !recorded.containsKey(n) && !isRate(spec, n)).toList();
    if (!missing.isEmpty()) {
      LOG.info("no recorded bins for {} in {}: equal-width bins over the training split", missing,
          FeatureStats.TABLE);
      List<Column> aggs = new ArrayList<>();
      missing.forEach(m -> {
        aggs.add(org.apache.spark.sql.functions.min(col(m)));
        aggs.add(org.apache.spark.sql.functions.max(col(m)));
      });
      Row r = baseline.agg(aggs.get(0), aggs.subList(1, aggs.size()).toArray(Column[]::new)).first();
      for (int i = 0; i < missing.size(); i++) {
        double lo = r.isNullAt(2 * i) ? 0 : r.getDouble(2 * i);
        double hi = r.isNullAt(2 * i + 1) ? 1 : r.getDouble(2 * i + 1);
        recorded.put(missing.get(i), new double[][] {equalWidth(lo, hi, FALLBACK_BINS), new double[0]});
      }
    }
    List<Distributions.NumericBins> out = new ArrayList<>();
    for (String n : numeric) {
      double[][] r = isRate(spec, n) ? new double[][] {equalWidth(0, 1, FALLBACK_BINS), new double[0]}
          : recorded.get(n);
      double[] edges = Arrays.stream(r[0]).distinct().sorted().toArray();
      if (edges.length < 2) {
        edges = new double[] {edges.length == 0 ? 0 : edges[0], (edges.length == 0 ? 0 : edges[0]) + 1};
      }
      double[] grid = java.util.stream.DoubleStream.concat(Arrays.stream(edges), Arrays.stream(r[1])).distinct()
          .sorted().toArray();
      out.add(new Distributions.NumericBins(n, edges, grid));
    }
    return out;
  }

  private static boolean isRate(FeatureSetSpec spec, String name) {
    return spec.aggregates().stream().anyMatch(a -> a.name().equals(name) && a.function().equals("ctr"));
  }

  private static double[] equalWidth(double lo, double hi, int n) {
    double width = hi > lo ? (hi - lo) / n : 1;
    double[] e = new double[n + 1];
    for (int i = 0; i <= n; i++) {
      e[i] = lo + i * width;
    }
    return e;
  }

  private static double[] scoreEdges() {
    double[] e = new double[SCORE_BINS + 1];
    for (int i = 0; i <= SCORE_BINS; i++) {
      e[i] = (double) i / SCORE_BINS;
    }
    return e;
  }

  private static double[] doubles(List<Object> values) {
    return values.stream().filter(java.util.Objects::nonNull).mapToDouble(v -> ((Number) v).doubleValue())
        .toArray();
  }

  private static MonitorReport.Histogram histogram(List<String> labels, long[] counts) {
    double total = Math.max(1, Arrays.stream(counts).sum());
    return new MonitorReport.Histogram(labels, Arrays.stream(counts).mapToObj(c -> c / total).toList());
  }

  private static MonitorReport.Histogram histogram(List<String> labels, Map<String, Long> counts) {
    double total = Math.max(1, counts.values().stream().mapToLong(Long::longValue).sum());
    return new MonitorReport.Histogram(labels, labels.stream().map(l -> counts.getOrDefault(l, 0L) / total)
        .toList());
  }

  private static void addReason(List<String> reasons, Status status, String text) {
    if (status != Status.OK) {
      reasons.add((status == Status.ALERT ? "" : "(warn) ") + text);
    }
  }

  private static MonitorReport.Check judgeQuality(QualityChecks.Metric m, MonitorThresholds t,
                                                  Map<String, Distributions.Numeric> baseNum,
                                                  Map<String, Distributions.Categorical> baseCat,
                                                  Optional<Long> previousRows) {
    MonitorThresholds.Quality q = t.quality();
    return switch (m.name()) {
      case "null_rate" -> {
        double base = baselineNullRate(m.column(), baseNum, baseCat);
        double increase = Math.max(0, m.value() - base);
        yield new MonitorReport.Check(m.name(), m.column(), m.value(), q.nullRateIncrease().alert() + base,
            q.nullRateIncrease().judge(increase), m.detail() + String.format(Locale.ROOT, " (baseline %.3f)", base));
      }
      case "duplicate_key_rate" -> new MonitorReport.Check(m.name(), m.column(), m.value(),
          q.duplicateKeyRate().alert(), q.duplicateKeyRate().judge(m.value()), m.detail());
      case "out_of_range_rate" -> new MonitorReport.Check(m.name(), m.column(), m.value(), q.outOfRangeRate().alert(),
          q.outOfRangeRate().judge(m.value()), m.detail());
      case "unknown_value_rate" -> new MonitorReport.Check(m.name(), m.column(), m.value(),
          t.drift().unseenShare().alert(), t.drift().unseenShare().judge(m.value()), m.detail());
      case "rows" -> {
        if (previousRows.isEmpty() || previousRows.get() == 0) {
          yield new MonitorReport.Check(m.name(), m.column(), m.value(), null, Status.OK,
              "no earlier monitored batch to compare with");
        }
        double change = Math.abs(m.value() - previousRows.get()) / previousRows.get();
        yield new MonitorReport.Check(m.name(), m.column(), m.value(), q.rowCountChange().alert(),
            q.rowCountChange().judge(change), String.format(Locale.ROOT, "%,d rows, %+.0f%% against the previous "
                + "monitored batch (%,d)", (long) m.value(), 100 * (m.value() - previousRows.get())
                / previousRows.get(), previousRows.get()));
      }
      default -> new MonitorReport.Check(m.name(), m.column(), m.value(), null, Status.OK, m.detail());
    };
  }

  private static double baselineNullRate(String column, Map<String, Distributions.Numeric> baseNum,
                                         Map<String, Distributions.Categorical> baseCat) {
    if (baseNum.containsKey(column)) {
      Distributions.Numeric n = baseNum.get(column);
      return n.nonNull() + n.nulls() == 0 ? 0 : (double) n.nulls() / (n.nonNull() + n.nulls());
    }
    if (baseCat.containsKey(column)) {
      Distributions.Categorical c = baseCat.get(column);
      return c.nonNull() + c.nulls() == 0 ? 0 : (double) c.nulls() / (c.nonNull() + c.nulls());
    }
    return 0;
  }

  /**
   * ROC AUC, mean score and observed rate per day for the current events whose label is in the model's source table
   * by now (labels arrive after scoring); scores binned in thousandths, so only counts reach the driver.
   */
  private static Optional<Double> modelQuality(SparkSession spark, DataRoot root, ModelSignature signature,
                                               Dataset<Row> predictions,
                                               List<MonitorReport.DailyModelQuality> daily) {
    TableRef sourceRef = TableRef.parse(signature.sourceTable(), "bronze");
    String sourcePath = root.table(sourceRef);
    if (!DeltaTables.exists(spark, sourcePath)) {
      return Optional.empty();
    }
    String key = signature.eventKey();
    Dataset<Row> source = spark.read().format("delta").load(sourcePath);
    if (Arrays.asList(source.columns()).contains("event_date")) {
      // only the partitions of the monitored days: labels of other days cannot match
      Row days = predictions.agg(org.apache.spark.sql.functions.min(col("event_date")),
          org.apache.spark.sql.functions.max(col("event_date"))).first();
      source = source.where(col("event_date").between(days.get(0), days.get(1)));
    }
    Dataset<Row> labels = source
        .where(col("`" + signature.label() + "`").isNotNull())
        .select(col("`" + key + "`"), col("`" + signature.label() + "`").cast(DataTypes.IntegerType).as("_y"));
    Dataset<Row> joined = predictions.select(col("`" + key + "`"), col("event_date"), col("score"))
        .join(labels, new String[] {key}, "left");
    Column bin = least(floor(col("score").multiply(AUC_BINS)), lit(AUC_BINS - 1)).cast(DataTypes.IntegerType);
    List<Row> cells = joined.groupBy(col("event_date"), bin.as("bin")).agg(count(lit(1)).as("n"),
        sum(when(col("_y").isNotNull(), 1L).otherwise(0L)).as("labeled"),
        sum(when(col("_y").equalTo(1), 1L).otherwise(0L)).as("pos"), sum(col("score")).as("score_sum"))
        .collectAsList();
    Map<LocalDate, long[][]> byDay = new TreeMap<>(); // day -> {neg[], pos[], {rows, labeled}}
    Map<LocalDate, double[]> scoreSums = new TreeMap<>();
    long[] allNeg = new long[AUC_BINS];
    long[] allPos = new long[AUC_BINS];
    for (Row r : cells) {
      LocalDate day = r.getDate(0).toLocalDate();
      long[][] d = byDay.computeIfAbsent(day, k -> new long[][] {new long[AUC_BINS], new long[AUC_BINS], new long[2]});
      int b = r.isNullAt(1) ? 0 : r.getInt(1);
      long labeledHere = r.getLong(3);
      long pos = r.getLong(4);
      d[0][b] += labeledHere - pos;
      d[1][b] += pos;
      d[2][0] += r.getLong(2);
      d[2][1] += labeledHere;
      allNeg[b] += labeledHere - pos;
      allPos[b] += pos;
      scoreSums.computeIfAbsent(day, k -> new double[1])[0] += r.isNullAt(5) ? 0 : r.getDouble(5);
    }
    long labeledTotal = 0;
    for (Map.Entry<LocalDate, long[][]> e : byDay.entrySet()) {
      long[][] d = e.getValue();
      if (d[2][1] == 0) {
        continue; // no label for this day yet
      }
      labeledTotal += d[2][1];
      double auc = DriftMetrics.rocAuc(d[0], d[1]);
      long positives = Arrays.stream(d[1]).sum();
      daily.add(new MonitorReport.DailyModelQuality(e.getKey(), d[2][0], d[2][1], Double.isNaN(auc) ? null : auc,
          scoreSums.get(e.getKey())[0] / d[2][0], (double) positives / d[2][1]));
    }
    double overall = DriftMetrics.rocAuc(allNeg, allPos);
    return labeledTotal == 0 || Double.isNaN(overall) ? Optional.empty() : Optional.of(overall);
  }

  private List<Row> rows(String monitorId, MonitorReport report, TableRef currentRef, long currentVersion,
                         MonitorThresholds t, Status scoreStatus, Optional<Double> overallAuc, Double trainedAuc, Status aucStatus,
                         long labeled) {
    MonitoringTable.RunKey k = new MonitoringTable.RunKey(monitorId, Timestamp.from(report.monitoredAt()),
        report.modelName(), report.modelVersion(), report.runId(), currentRef.toString(), currentVersion,
        config.batchId().orElse(null), config.from().map(Timestamp::from).orElse(null),
        config.to().map(Timestamp::from).orElse(null));
    List<Row> rows = new ArrayList<>();
    for (MonitorReport.FeatureDrift f : report.features()) {
      rows.add(k.row("drift", f.feature(), "psi", f.psi(), t.drift().psi().alert(), f.status(), f.kind()));
      if (f.ks() != null) {
        rows.add(k.row("drift", f.feature(), "ks", f.ks(), t.drift().ks().alert(), f.status(), f.kind()));
      }
      if (f.js() != null) {
        rows.add(k.row("drift", f.feature(), "js", f.js(), t.drift().js().alert(), f.status(), f.kind()));
        rows.add(k.row("drift", f.feature(), "unseen_share", f.unseenShare(), t.drift().unseenShare().alert(),
            f.status(), f.kind()));
      }
    }
    rows.add(k.row("score_drift", "score", "psi", report.scorePsi(), t.drift().scorePsi().alert(), scoreStatus, null));
    for (MonitorReport.Check c : report.quality()) {
      rows.add(k.row("quality", c.column(), c.name(), c.value(), c.threshold(), c.status(), c.detail()));
    }
    for (MonitorReport.DailyModelQuality d : report.modelQuality()) {
      rows.add(k.row("model_quality", d.day().toString(), "roc_auc", d.rocAuc(), null, Status.OK,
          String.format(Locale.ROOT, "%d labeled of %d", d.labeled(), d.rows())));
    }
    overallAuc.ifPresent(a -> rows.add(k.row("model_quality", "all", "roc_auc", a,
        trainedAuc == null ? null : trainedAuc - t.modelQuality().aucDrop().alert(), aucStatus,
        labeled + " labeled")));
    rows.add(k.row("verdict", null, "verdict", (double) report.verdict().ordinal(), null, report.verdict(),
        String.join("; ", report.reasons())));
    return rows;
  }
}
