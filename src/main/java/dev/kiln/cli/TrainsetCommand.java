package dev.kiln.cli;

import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.SparkSessions;
import dev.kiln.features.TrainsetConfig;
import dev.kiln.features.TrainsetJob;
import dev.kiln.features.TrainsetManifest;
import java.io.PrintWriter;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "trainset", mixinStandardHelpOptions = true,
    description = {"Build train / validation / test sets from a pinned version of a feature table.",
        "Writes trainsets/<id>/data (Delta, partitioned by split) and trainsets/<id>/manifest.json (feature table "
            + "version, source version, definitions, split boundaries, counts, fingerprint) and registers it in "
            + "meta.trainsets. The same inputs give the same id; --as-of ID rebuilds a recorded trainset exactly."})
final class TrainsetCommand implements Callable<Integer> {
  @Option(names = "--feature-set", paramLabel = "NAME|FILE",
      description = "Feature table (clicks, features.clicks) or its spec file.")
  String featureSet;

  @Option(names = "--feature-version", paramLabel = "N",
      description = "Use this version of the feature table (default: the latest).")
  Long featureVersion;

  @Option(names = "--split", defaultValue = "random", paramLabel = "random|time",
      description = "random: by a hash of the event key and --seed (the seed workflow's train_test_split); time: "
          + "latest events in test, which is what scoring tomorrow's events looks like (default: ${DEFAULT-VALUE}).")
  TrainsetConfig.Split split;

  @Option(names = "--test-fraction", defaultValue = "0.2", description = "Default: ${DEFAULT-VALUE}.")
  double testFraction;

  @Option(names = "--validation-fraction", defaultValue = "0.1",
      description = "For early stopping and tuning (default: ${DEFAULT-VALUE}).")
  double validationFraction;

  @Option(names = "--seed", defaultValue = "42", description = "Random split seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--test-from", paramLabel = "INSTANT",
      description = "Time split: test starts here, e.g. 2026-02-20T00:00:00Z (default: from --test-fraction).")
  String testFrom;

  @Option(names = "--validation-from", paramLabel = "INSTANT", description = "Time split: validation starts here.")
  String validationFrom;

  @Option(names = "--as-of", paramLabel = "ID",
      description = "Rebuild trainset ID from its recorded versions and split; reports whether rows are identical.")
  String asOf;

  @Option(names = "--id", paramLabel = "ID",
      description = "Name the trainset, e.g. clicks-2026-03-02 in a daily pipeline (default: derived from the feature "
          + "version and split). Building an existing id again reuses it when its inputs are the same.")
  String id;

  @Mixin
  CommonOptions common;

  @Override
  public Integer call() {
    TrainsetConfig config = new TrainsetConfig(common.dataRoot(), featureSet, Optional.ofNullable(featureVersion),
        split, testFraction, validationFraction, seed, instant("--test-from", testFrom),
        instant("--validation-from", validationFrom), Optional.ofNullable(asOf), Optional.ofNullable(id));
    TrainsetJob.Result r = new TrainsetJob(config).run(SparkSessions.getOrCreate("kiln trainset"));
    TrainsetManifest m = r.manifest();
    PrintWriter out = common.out();
    if (common.json) {
      Map<String, Object> json = new LinkedHashMap<>();
      json.put("id", m.id());
      json.put("reused", r.reused());
      r.identicalToOriginal().ifPresent(i -> json.put("identical_to_original", i));
      json.put("manifest", m);
      json.put("stage_seconds", r.stageSeconds());
      json.put("stage_peak_heap_mib", r.stagePeakHeapMib());
      out.println(Json.toJson(json));
    } else {
      out.printf("trainset %s%s from %s version %d (source %s version %d)%n", m.id(),
          r.reused() ? " (exists: same feature version and split)" : "", m.featureTable(),
          m.featureTableVersion(), m.sourceTable(), m.sourceVersion());
      out.printf("  split %s: train %,d, validation %,d, test %,d rows (positives %,d / %,d / %,d)%n",
          m.split().method() + (m.split().method().equals("time")
              ? " (validation from " + m.split().validationFrom() + ", test from " + m.split().testFrom() + ")"
              : " (seed " + m.split().seed() + ")"),
          m.rows().get("train"), m.rows().get("validation"), m.rows().get("test"), m.positives().get("train"),
          m.positives().get("validation"), m.positives().get("test"));
      out.printf("  fingerprint %s; data %s%n", m.fingerprint(), m.dataPath());
      r.identicalToOriginal().ifPresent(i -> out.printf("  rebuilt from %s: %s%n", m.rebuiltFrom(),
          i ? "identical rows" : "ROWS DIFFER"));
      Summaries.printStages(out, r.stageSeconds(), r.stagePeakHeapMib());
    }
    if (r.identicalToOriginal().isPresent() && !r.identicalToOriginal().get()) {
      throw new KilnUserException("rebuilt trainset " + m.id() + " differs from " + m.rebuiltFrom());
    }
    return 0;
  }

  private static Optional<Instant> instant(String option, String value) {
    if (value == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(Instant.parse(value.length() == 10 ? value + "T00:00:00Z" : value));
    } catch (DateTimeParseException e) {
      throw new KilnUserException(option + " must be an ISO instant like 2026-02-20T00:00:00Z or a date (got '"
          + value + "')");
    }
  }
}
