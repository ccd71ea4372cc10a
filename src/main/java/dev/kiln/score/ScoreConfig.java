package dev.kiln.score;

import dev.kiln.common.DataRoot;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.TableRef;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything {@link ScoreJob} needs.
 *
 * @param model     {@code NAME@champion}, {@code NAME@candidate} or {@code NAME@VERSION}
 * @param input     a Kiln table ({@code bronze.events}) or a path of CSV / JSON Lines / Parquet files
 * @param format    for a path: csv, json or parquet (default: from the file extension)
 * @param where     optional SQL filter on the input, e.g. {@code event_date = '2026-03-02'}
 * @param output    the predictions table (default: {@code predictions.<model name>})
 * @param batchId   names the batch: scoring the same batch again replaces it
 * @param explain   top-K feature contributions per prediction (0: none)
 * @param schemaFile the ingest schema of the model's source table: which columns of a raw path input are PII and get
 *                  hashed as ingest hashes them (default: {@code conf/schemas/<source table>.yaml})
 * @param piiSalt   the PII salt, for path inputs with PII columns
 */
public record ScoreConfig(DataRoot dataRoot, String model, String input, Optional<String> format,
                          Optional<String> where, Optional<String> output, String batchId, int explain,
                          Optional<Path> schemaFile, Optional<byte[]> piiSalt) {
  public ScoreConfig {
    Objects.requireNonNull(dataRoot, "dataRoot");
    if (model == null || model.isBlank()) {
      throw new KilnUserException("--model is required (NAME@champion, NAME@candidate or NAME@VERSION)");
    }
    if (input == null || input.isBlank()) {
      throw new KilnUserException("--input is required (a table such as bronze.events, or a path)");
    }
    if (batchId == null || !batchId.matches("[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")) {
      throw new KilnUserException("--batch-id '" + batchId + "' must start with a letter or digit and use letters, "
          + "digits, '_', '.', ':', '-' (at most 100)");
    }
    if (explain < 0) {
      throw new KilnUserException("--explain must be >= 0 (got " + explain + ")");
    }
    format = format == null ? Optional.empty() : format.map(String::toLowerCase);
    format.ifPresent(f -> {
      if (!f.equals("csv") && !f.equals("json") && !f.equals("parquet")) {
        throw new KilnUserException("--format must be csv, json or parquet (got " + f + ")");
      }
    });
    where = where == null ? Optional.empty() : where.filter(w -> !w.isBlank());
    output = output == null ? Optional.empty() : output;
    output.ifPresent(o -> {
      if (!TableRef.parse(o, "predictions").layer().equals("predictions")) {
        throw new KilnUserException("--output must be a predictions table, e.g. predictions.clicks (got " + o + ")");
      }
    });
    schemaFile = schemaFile == null ? Optional.empty() : schemaFile;
    piiSalt = piiSalt == null ? Optional.empty() : piiSalt;
  }

  /** Whether {@code input} names a Kiln table ({@code layer.name}) rather than a path. */
  public boolean inputIsTable() {
    // a file of that name here (features.csv, meta.json) is a path, not a table
    return format.isEmpty() && input.matches("(bronze|quarantine|features|predictions|meta)\\.[A-Za-z0-9_]+")
        && !java.nio.file.Files.exists(Path.of(input));
  }
}
