package dev.kiln.cli;

import dev.kiln.common.Json;
import dev.kiln.common.SparkSessions;
import dev.kiln.registry.ModelRegistry;
import dev.kiln.registry.RunsTable;
import dev.kiln.train.ModelType;
import dev.kiln.train.TrainConfig;
import dev.kiln.train.TrainJob;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "train", mixinStandardHelpOptions = true,
    description = {"Train a model on a trainset and record the run in meta.runs.",
        "The feature set's fitted transforms and the model are saved together as one Spark ML pipeline in "
            + "artifacts/<run>/model, with metrics.json, curves.json, a model card and, for XGBoost, the native "
            + "booster (xgboost.json, xgboost.ubj) and feature importance."})
final class TrainCommand implements Callable<Integer> {
  @Option(names = "--trainset", required = true, paramLabel = "ID", description = "Trainset id (kiln trainset).")
  String trainset;

  @Option(names = "--model", required = true, paramLabel = "TYPE", description = "xgboost, gbt, logreg, rf or mlp.")
  String model;

  @Option(names = "--conf", paramLabel = "FILE", description = "Parameters YAML (default: conf/train/<model>.yaml).")
  Path conf;

  @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Override a parameter, e.g. --set max_depth=8.")
  Map<String, String> overrides = new LinkedHashMap<>();

  @Option(names = "--threshold", defaultValue = "0.5",
      description = "Probability cut for precision/recall/F1 (default: ${DEFAULT-VALUE}).")
  double threshold;

  @Option(names = "--seed", defaultValue = "42", description = "Random seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--features", split = ",", paramLabel = "NAME",
      description = "Only these features of the feature set, e.g. hour,day_of_week,is_weekend (ablations).")
  java.util.Set<String> features;

  @Option(names = "--register", paramLabel = "NAME", arity = "0..1", fallbackValue = "",
      description = "Register the run in meta.models as a candidate (name default: the feature set, e.g. clicks).")
  String register;

  @Mixin
  CommonOptions common;

  @Override
  public Integer call() {
    TrainConfig config = new TrainConfig(common.dataRoot(), trainset, ModelType.parse(model),
        Optional.ofNullable(conf), overrides, threshold, seed, Optional.ofNullable(features));
    if (register != null && !register.isBlank()) {
      ModelRegistry.requireValidName(register);
    }
    var spark = SparkSessions.getOrCreate("kiln train " + model);
    TrainJob.Result r = new TrainJob(config).run(spark);
    RunsTable.Run run = r.run();
    Optional<ModelRegistry.ModelVersion> registered = Optional.ofNullable(register).map(name ->
        new ModelRegistry(spark, common.dataRoot()).register(run.runId(), Optional.of(name).filter(n -> !n.isBlank())));
    PrintWriter out = common.out();
    if (common.json) {
      Map<String, Object> json = new java.util.LinkedHashMap<>(Json.JSON.convertValue(run,
          new com.fasterxml.jackson.core.type.TypeReference<Map<String, Object>>() {}));
      json.put("stage_seconds", r.stageSeconds());
      json.put("stage_peak_heap_mib", r.stagePeakHeapMib());
      out.println(Json.toJson(json));
      return 0;
    }
    Map<String, Double> m = run.metrics();
    out.printf("run %s: %s on trainset %s (%,d train rows) in %.1f s%n", run.runId(), run.modelType(),
        run.trainsetId(), run.trainRows(), run.durationS());
    out.printf("  test ROC AUC %.4f, PR AUC %.4f, log loss %.4f, Brier %.4f; at %.2f: precision %.3f, recall %.3f,"
        + " F1 %.3f%n", m.get("roc_auc"), m.get("pr_auc"), m.get("log_loss"), m.get("brier"), m.get("threshold"),
        m.get("precision"), m.get("recall"), m.get("f1"));
    out.println("  artifacts " + run.artifacts());
    Summaries.printStages(out, r.stageSeconds(), r.stagePeakHeapMib());
    registered.ifPresent(v -> out.println("  registered " + ModelsCommand.describe(v)));
    return 0;
  }
}
