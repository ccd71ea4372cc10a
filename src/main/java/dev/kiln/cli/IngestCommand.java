package dev.kiln.cli;

import dev.kiln.common.Secrets;
import dev.kiln.common.SparkSessions;
import dev.kiln.common.TableRef;
import dev.kiln.ingest.IngestConfig;
import dev.kiln.ingest.IngestJob;
import dev.kiln.ingest.IngestResult;
import dev.kiln.ingest.SourceFormat;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "ingest", mixinStandardHelpOptions = true,
    description = {"Load source files into a Delta bronze table, exactly once per file.",
        "Valid rows go to bronze.<table> (partitioned by event date); invalid rows to quarantine.<table> with reason "
            + "codes; rows whose event key was seen before are counted as duplicates. Every run is journaled in "
            + "meta.ingest_log; re-running adds nothing, and a killed run is resumed."})
final class IngestCommand implements Callable<Integer> {
  @Option(names = "--source", required = true, paramLabel = "PATH|GLOB",
      description = "A file, a directory, or a glob such as 'in/*.csv' (any Hadoop filesystem).")
  String source;

  @Option(names = "--format", defaultValue = "csv", paramLabel = "csv|json|parquet",
      description = "Source format; json means JSON Lines (default: ${DEFAULT-VALUE}).")
  SourceFormat format;

  @Option(names = "--table", required = true, paramLabel = "NAME",
      description = "Bronze table name, e.g. events or bronze.events.")
  String table;

  @Option(names = "--schema", paramLabel = "FILE",
      description = "Schema spec (default: conf/schemas/<table>.yaml).")
  Path schema;

  @Option(names = "--pii-salt-file", paramLabel = "FILE",
      description = "File holding the salt for PII hashing (else env KILN_PII_SALT_FILE or KILN_PII_SALT).")
  Path piiSaltFile;

  @Mixin
  CommonOptions common;


  @Override
  public Integer call() {
    TableRef ref = TableRef.parse(table, "bronze");
    Path schemaFile = schema != null ? schema : Path.of("conf", "schemas", ref.name() + ".yaml");
    IngestConfig config = new IngestConfig(common.dataRoot(), source, format, table, schemaFile,
        Secrets.piiSalt(Optional.ofNullable(piiSaltFile)));
    IngestResult result = new IngestJob(config).run(SparkSessions.getOrCreate("kiln ingest " + ref));
    Summaries.printIngest(common.out(), result, common.json);
    return 0;
  }
}
