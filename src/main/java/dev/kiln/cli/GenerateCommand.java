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
            + "report."})
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

  @Option(names = "--json", description = "Print the result as one JSON object.")
  boolean json;

  @Option(names = "--verbose", hidden = true)
  boolean verbose;

  @Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    long started = System.nanoTime();
    GenerateResult r = new EventGenerator(new GenerateConfig(rows, out, seed, dirty, files)).generate();
    double seconds = (System.nanoTime() - started) / 1e9;
    var o = spec.commandLine().getOut();
    if (json) {
      o.println(Json.toJson(r));
    } else {
      o.printf("generated %,d lines in %d file(s) under %s in %.1f s (click rate %.3f)%n", r.linesWritten(),
          r.files().size(), r.out(), seconds, r.positiveRate());
      o.printf("  expected on ingest: accepted %,d + quarantined %,d + duplicates %,d (truth: %s)%n",
          r.expectedAccepted(), r.expectedQuarantined(), r.expectedDuplicates(),
          out.resolve(EventGenerator.TRUTH_FILE));
    }
    return 0;
  }
}
