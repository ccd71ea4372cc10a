package dev.kiln.train;

import dev.kiln.common.DataRoot;
import dev.kiln.common.HadoopFiles;
import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.StageTimes;
import dev.kiln.registry.ModelRegistry;
import dev.kiln.registry.RunsTable;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hyper-parameter search: every trial is a full {@link TrainJob} run (tracked in {@code meta.runs}), trials run
 * {@code parallelism} at a time as concurrent Spark jobs in one session, and the best trial by the space's metric can
 * be registered as a candidate. All trials' parameters are checked before the first one trains.
 */
public final class TuneJob {
  private static final Logger LOG = LoggerFactory.getLogger(TuneJob.class);
  private static final DateTimeFormatter ID_TIME = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")
      .withZone(ZoneOffset.UTC);

  /**
   * @param register model name to register the best trial under (empty: don't register; "" = the default name)
   */
  public record Config(DataRoot dataRoot, String trainsetId, Path spaceFile, int trials, int parallelism, long seed,
                       Optional<String> register) {
    public Config {
      if (trials < 1) {
        throw new KilnUserException("--trials must be at least 1 (got " + trials + ")");
      }
      if (parallelism < 1) {
        throw new KilnUserException("--parallelism must be at least 1 (got " + parallelism + ")");
      }
    }
  }

  /**
   * One trial: its overrides, the run it produced, where that run's time went and its peak heap per stage
   * ({@link TrainJob.Result}; trials side by side share the heap, so each one's peaks include the others').
   */
  public record Trial(int number, Map<String, String> overrides, RunsTable.Run run,
                      Map<String, Double> stageSeconds, Map<String, Long> stagePeakHeapMib) {}

  /**
   * @param stageSeconds      where the tune's wall time went, stage by stage ({@link StageTimes}): all trials are one
   *                          stage, however many ran at a time
   * @param stagePeakHeapMib  the driver's peak heap per stage in MiB ({@link StageTimes#peakHeapMib}); that of the
   *                          trials stage is at least every trial's own
   * @param trialStageSeconds the trials' own stages, summed over the trials (with {@code parallelism} above 1 they
   *                          add up to more than the wall time of the trials stage)
   */
  public record Result(String tuneId, String metric, List<Trial> trials, Trial best,
                       Optional<ModelRegistry.ModelVersion> registered, Map<String, Double> stageSeconds,
                       Map<String, Long> stagePeakHeapMib, Map<String, Double> trialStageSeconds) {}

  private final Config config;
  private final TuneSpace space;
  private final List<Map<String, String>> overrides;

  /** Reads the space and resolves every trial's parameters: a bad one fails before any training. */
  public TuneJob(Config config) {
    this.config = config;
    this.space = TuneSpace.read(config.spaceFile());
    this.overrides = new ArrayList<>();
    for (Map<String, String> trial : space.trials(config.trials(), config.seed())) {
      Map<String, String> rounded = new LinkedHashMap<>();
      trial.forEach((k, v) -> rounded.put(k, ModelParams.isInteger(space.modelType(), k)
          ? String.valueOf(Math.round(Double.parseDouble(v))) : v));
      try {
        ModelParams.resolve(space.modelType(), Optional.empty(), rounded);
      } catch (KilnUserException e) {
        throw new KilnUserException(e.getMessage().replace("(--set)", "(" + config.spaceFile() + ")"));
      }
      overrides.add(rounded);
    }
    config.register().filter(n -> !n.isBlank()).ifPresent(ModelRegistry::requireValidName);
  }

  public Result run(SparkSession spark) {
    StageTimes stages = new StageTimes();
    String tuneId = "tune-" + ID_TIME.format(Instant.now());
    List<Map<String, String>> plan = withWorkers(spark);
    LOG.info("{}: {} {} trial(s) of {} on trainset {}, {} at a time, best by {}", tuneId, plan.size(),
        space.strategy(), space.model(), config.trainsetId(), config.parallelism(), space.metric());
    new RunsTable(spark, config.dataRoot()).prepare(); // once, not by trials racing on a new table or its schema
    stages.lap("prepare runs table");
    ExecutorService pool = Executors.newFixedThreadPool(config.parallelism());
    List<Trial> trials = new ArrayList<>();
    try {
      List<Future<TrainJob.Result>> futures = new ArrayList<>();
      for (Map<String, String> o : plan) {
        futures.add(pool.submit(() -> new TrainJob(new TrainConfig(config.dataRoot(), config.trainsetId(),
            space.modelType(), Optional.empty(), o, 0.5, config.seed())).run(spark)));
      }
      for (int i = 0; i < futures.size(); i++) {
        TrainJob.Result result = futures.get(i).get();
        RunsTable.Run run = result.run();
        trials.add(new Trial(i + 1, plan.get(i), run, result.stageSeconds(), result.stagePeakHeapMib()));
        LOG.info("{}: trial {}/{} {} = {} ({})", tuneId, i + 1, plan.size(), space.metric(),
            String.format("%.4f", run.metrics().get(space.metric())), plan.get(i));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException re) {
        throw re;
      }
      throw new IllegalStateException(e.getCause());
    } finally {
      pool.shutdownNow();
      awaitTrials(pool);
    }
    stages.lap("trials"); // wall time of all trials, --parallelism at a time
    StageTimes summed = new StageTimes();
    trials.forEach(t -> t.stageSeconds().forEach(summed::add));
    Comparator<Trial> byMetric = Comparator.comparingDouble(t -> t.run().metrics().get(space.metric()));
    // Stream.max keeps the first of equals: on a tie the earlier trial wins
    Trial best = trials.stream().max(space.lowerIsBetter() ? byMetric.reversed() : byMetric).orElseThrow();
    Optional<ModelRegistry.ModelVersion> registered = config.register().map(name ->
        new ModelRegistry(spark, config.dataRoot()).register(best.run().runId(),
            Optional.of(name).filter(n -> !n.isBlank())));
    if (registered.isPresent()) {
      stages.lap("register best");
    }
    Map<String, Object> summary = new LinkedHashMap<>();
    summary.put("tune_id", tuneId);
    summary.put("space", space);
    summary.put("trainset_id", config.trainsetId());
    summary.put("best_run", best.run().runId());
    summary.put("trials", trials.stream().map(t -> Map.of("trial", t.number(), "params", t.overrides(), "run_id",
        t.run().runId(), "metrics", t.run().metrics())).toList());
    HadoopFiles.writeAtomically(spark, config.dataRoot().resolve("artifacts/" + tuneId + "/trials.json"),
        Json.toPrettyJson(summary));
    stages.lap("write trials.json");
    return new Result(tuneId, space.metric(), trials, best, registered, stages.seconds(), stages.peakHeapMib(),
        summed.seconds());
  }

  /**
   * After a failed trial the others are interrupted; each records its own end in {@code meta.runs} (failed), which
   * takes a moment, so the job waits a bounded time for them before it reports the failure.
   */
  private static void awaitTrials(ExecutorService pool) {
    try {
      if (!pool.awaitTermination(60, java.util.concurrent.TimeUnit.SECONDS)) {
        LOG.warn("trials still running 60 s after the tune stopped; they may stay 'running' in meta.runs");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * XGBoost trains in barrier mode: trials running side by side must share the task slots, so unless the space
   * fixes num_workers each trial gets its share; asking for more than there is would wait forever.
   */
  private List<Map<String, String>> withWorkers(SparkSession spark) {
    if (space.modelType() != ModelType.XGBOOST || config.parallelism() == 1) {
      return overrides;
    }
    int slots = Estimators.taskSlots(spark);
    List<Map<String, String>> plan = new ArrayList<>();
    for (Map<String, String> o : overrides) {
      Map<String, String> m = new LinkedHashMap<>(o);
      m.putIfAbsent("num_workers", String.valueOf(Math.max(1, slots / config.parallelism())));
      if (Integer.parseInt(m.get("num_workers")) * config.parallelism() > slots) {
        throw new KilnUserException(config.parallelism() + " parallel XGBoost trials x num_workers "
            + m.get("num_workers") + " need more than the " + slots + " task slot(s) Spark has (lower --parallelism)");
      }
      plan.add(m);
    }
    return plan;
  }
}
