package dev.kiln.cli;

import dev.kiln.common.Json;
import dev.kiln.common.SparkSessions;
import dev.kiln.features.FeatureConfig;
import dev.kiln.features.FeatureJob;
import dev.kiln.features.FeatureResult;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "features", mixinStandardHelpOptions = true,
    description = {"Compute a feature set into the Delta table features.<name>, keyed by the event key.",
        "Aggregates use only events strictly before each row's event time. The first run computes every row; later "
            + "runs process only new source rows (and the rows late events affect) and give the same values as a "
            + "full recompute. Statistics of a version go to meta.feature_stats when a trainset is built from it "
            + "(or with --stats)."})
final class FeaturesCommand implements Callable<Integer> {
  @Option(names = "--feature-set", required = true, paramLabel = "FILE",
      description = "Feature-set spec, e.g. conf/features/clicks.yaml.")
  Path featureSet;

  @Option(names = "--source-table", paramLabel = "TABLE",
      description = "Source table (default: the spec's source_table, else bronze.events).")
  String sourceTable;

  @Option(names = "--full", description = "Recompute every row instead of only what new source rows affect.")
  boolean full;

  @Option(names = "--stats", description = "Also compute the new version's feature statistics now (kiln trainset "
      + "computes them for the version it is built from, the baseline monitoring compares against).")
  boolean stats;

  // the default since statistics moved to kiln trainset: still accepted so that existing scripts keep working
  @Option(names = "--no-stats", hidden = true)
  boolean noStats;

  @Mixin
  CommonOptions common;

  @Override
  public Integer call() {
    FeatureJob job = new FeatureJob(new FeatureConfig(common.dataRoot(), featureSet,
        Optional.ofNullable(sourceTable), full, stats));
    FeatureResult r = job.run(SparkSessions.getOrCreate("kiln features " + job.spec().name()));
    PrintWriter out = common.out();
    if (common.json) {
      out.println(Json.toJson(r));
      return 0;
    }
    out.printf("%s (feature set %s v%d) from %s version %d: %s — %s%n", r.featureTable(), r.featureSet(),
        r.featureSetVersion(), r.sourceTable(), r.sourceVersion(), r.mode(), r.reason());
    out.printf("  new rows %,d, updated rows %,d; version %d has %,d rows%s (%.1f s)%n", r.newRows(),
        r.updatedRows(), r.tableVersion(), r.tableRows(), r.statsWritten() ? ", statistics written" : "",
        r.seconds());
    Summaries.printStages(out, r.stageSeconds(), r.stagePeakHeapMib());
    return 0;
  }
}
