package dev.kiln.cli;

import dev.kiln.common.Json;
import dev.kiln.common.Secrets;
import dev.kiln.common.SparkSessions;
import dev.kiln.score.ScoreConfig;
import dev.kiln.score.ScoreJob;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "score", mixinStandardHelpOptions = true,
    description = {"Score new events with a registered model into the Delta table predictions.<name>.",
        "The events' point-in-time features are computed from the feature set's source table by the code that "
            + "builds the feature table; the input is checked against the model's signature first. A batch is one "
            + "commit: scoring the same --batch-id again replaces it."})
final class ScoreCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, paramLabel = "NAME@ALIAS",
      description = "NAME@champion, NAME@candidate or NAME@VERSION, e.g. clicks@champion.")
  String model;

  @Option(names = "--input", required = true, paramLabel = "TABLE|PATH",
      description = "A Kiln table (e.g. bronze.events) or CSV / JSON Lines / Parquet files (a file, directory or "
          + "glob). The label column may be absent.")
  String input;

  @Option(names = "--format", paramLabel = "csv|json|parquet",
      description = "Format of a path input (default: from the extension).")
  String format;

  @Option(names = "--where", paramLabel = "SQL",
      description = "Score only the input rows matching this filter, e.g. \"event_date = '2026-03-02'\".")
  String where;

  @Option(names = "--output", paramLabel = "TABLE", description = "Predictions table (default: predictions.<name>).")
  String output;

  @Option(names = "--batch-id", required = true, paramLabel = "ID",
      description = "Names this batch; re-scoring a batch id replaces its rows in one commit.")
  String batchId;

  @Option(names = "--explain", defaultValue = "0", paramLabel = "K",
      description = "Store each prediction's top K feature contributions (SHAP values; XGBoost models).")
  int explain;

  @Option(names = "--schema", paramLabel = "FILE",
      description = "Ingest schema naming the PII columns of a raw path input (default: "
          + "conf/schemas/<source table>.yaml).")
  Path schema;

  @Option(names = "--pii-salt-file", paramLabel = "FILE",
      description = "Salt for hashing PII columns of a raw path input (else env KILN_PII_SALT_FILE or KILN_PII_SALT).")
  Path piiSaltFile;

  @Mixin
  CommonOptions common;

  @Override
  public Integer call() {
    ScoreConfig config = new ScoreConfig(common.dataRoot(), model, input, Optional.ofNullable(format),
        Optional.ofNullable(where), Optional.ofNullable(output), batchId, explain, Optional.ofNullable(schema),
        Secrets.piiSalt(Optional.ofNullable(piiSaltFile)));
    ScoreJob.Result r = new ScoreJob(config).run(SparkSessions.getOrCreate("kiln score " + model));
    PrintWriter out = common.out();
    if (common.json) {
      out.println(Json.toJson(r));
      return 0;
    }
    out.printf("scored %,d events of %s with %s@%d (%s) into %s batch %s in %.1f s%n", r.rows(), r.input(), r.model(),
        r.version(), r.alias(), r.table(), r.batchId(), r.seconds());
    out.printf("  mean score %.4f, %,d predicted positive; features from %s@%d; table version %d%s%n", r.meanScore(),
        r.predictedPositive(), r.history(), r.historyVersion(), r.tableVersion(),
        r.explained() > 0 ? "; top " + r.explained() + " contributions per prediction" : "");
    Summaries.printStages(out, r.stageSeconds(), r.stagePeakHeapMib());
    return 0;
  }
}
