package dev.kiln.cli;

import dev.kiln.common.Json;
import dev.kiln.generate.EventGenerator;
import dev.kiln.generate.GenerateConfig;
import dev.kiln.generate.GenerateResult;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "generate", mixinStandardHelpOptions = true,
    description = {"Write deterministic synthetic clickstream events as CSV (no Spark needed).",
        "With --dirty, a share of rows gets one defect each and _truth.json records the exact counts ingest must "
            + "report.",
        "--start/--days choose another time window: a fresh sample of the same users and items (same --seed, and "
            + "the earlier run's --rows as --population-rows), e.g. to monitor a model trained on the default window; "
            + "--drift shifts that window's population."})
final class GenerateCommand implements Callable<Integer> {
  @Option(names = "--rows", required = true, paramLabel = "N", description = "Clean events to generate.")
  long rows;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory.")
  Path out;

  @Option(names = "--seed", defaultValue = "42", description = "Random seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--dirty", defaultValue = "0", paramLabel = "FRACTION",
      description = "Share of rows with an injected defect, 0 to 0.5 (default: ${DEFAULT-VALUE}).")
  double dirty;

  @Option(names = "--files", defaultValue = "0", paramLabel = "K",
      description = "Number of CSV files (default: one per 250,000 rows).")
  int files;

  @Option(names = "--start", paramLabel = "DATE",
      description = "Start of the time window: a UTC date (2026-03-02) or instant (2026-03-02T06:00:00Z) "
          + "(default: 2026-01-01). Windows other than the default get event ids of their own (ev20260302-...).")
  String start;

  @Option(names = "--days", defaultValue = "60", paramLabel = "N",
      description = "Length of the time window in days (default: ${DEFAULT-VALUE}).")
  int days;

  @Option(names = "--population-rows", defaultValue = "0", paramLabel = "N",
      description = "Size the population (users, items) as for a run of N rows: give the --rows of the run this "
          + "window follows so that it samples the same users and items (default: --rows).")
  long populationRows;

  @Option(names = "--drift",
      description = "Shift this window's population: prices ×1.6, far more tablet and desktop and less mobile, and "
          + "~15%% of rows new items of a category the default data never has ('vr'). Labels still follow the model.")
  boolean drift;

  @Option(names = "--hot-user-share", defaultValue = "0", paramLabel = "SHARE",
      description = "Give one user (u00000000) this share of the rows on top of its usual ones, 0 to 0.9, e.g. to "
          + "benchmark a skewed entity (default: ${DEFAULT-VALUE}, none).")
  double hotUserShare;

  @Option(names = "--json", description = "Print the result as one JSON object.")
  boolean json;

  @Option(names = "--verbose", hidden = true)
  boolean verbose;

  @Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    long started = System.nanoTime();
    GenerateConfig config = new GenerateConfig(rows, out, seed, dirty, files,
        start == null ? GenerateConfig.DEFAULT_START : GenerateConfig.parseStart(start), days, drift, populationRows,
        hotUserShare);
    GenerateResult r = new EventGenerator(config).generate();
    double seconds = (System.nanoTime() - started) / 1e9;
    var o = spec.commandLine().getOut();
    if (json) {
      o.println(Json.toJson(r));
    } else {
      o.printf("generated %,d lines in %d file(s) under %s in %.1f s (click rate %.3f)%n", r.linesWritten(),
          r.files().size(), r.out(), seconds, r.positiveRate());
      o.printf("  window: %s to %s (%,d day%s)%s%n", day(config.start()), day(config.end()), config.days(),
          config.days() == 1 ? "" : "s",
          config.populationRows() == rows ? ""
              : String.format(", users and items of a %,d-row population", config.populationRows()));
      if (config.drift()) {
        o.printf("  drifted: price ×%s, device mix, new category '%s'%n", EventGenerator.DRIFT_PRICE_FACTOR,
            EventGenerator.NEW_CATEGORY);
      }
      if (config.hotUserShare() > 0) {
        o.printf("  hot user: u00000000 has %.0f%% of the rows on top of its usual share%n",
            100 * config.hotUserShare());
      }
      o.printf("  expected on ingest: accepted %,d + quarantined %,d + duplicates %,d (truth: %s)%n",
          r.expectedAccepted(), r.expectedQuarantined(), r.expectedDuplicates(),
          out.resolve(EventGenerator.TRUTH_FILE));
    }
    return 0;
  }

  /** {@code 2026-03-02} for midnight, else the instant. */
  private static String day(java.time.Instant t) {
    String s = t.toString();
    return s.endsWith("T00:00:00Z") ? s.substring(0, s.length() - "T00:00:00Z".length()) : s;
  }
}
