package dev.kiln.ingest;

import dev.kiln.common.DataRoot;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything {@link IngestJob} needs.
 *
 * @param source  a file, directory or glob on any Hadoop filesystem
 * @param table   the bronze table name (e.g. {@code events}); quarantine uses the same name
 * @param schemaFile the YAML schema spec
 * @param piiSalt the salt for PII hashing: required when the schema declares PII columns
 */
public record IngestConfig(DataRoot dataRoot, String source, SourceFormat format, String table, Path schemaFile,
                           Optional<byte[]> piiSalt) {
  public IngestConfig {
    Objects.requireNonNull(dataRoot, "dataRoot");
    Objects.requireNonNull(format, "format");
    Objects.requireNonNull(schemaFile, "schemaFile");
    piiSalt = piiSalt == null ? Optional.empty() : piiSalt;
  }

  @Override
  public String toString() {
    // never print the salt
    return "IngestConfig[dataRoot=" + dataRoot + ", source=" + source + ", format=" + format + ", table=" + table
        + ", schemaFile=" + schemaFile + ", piiSalt=" + (piiSalt.isPresent() ? "***" : "none") + "]";
  }
}
