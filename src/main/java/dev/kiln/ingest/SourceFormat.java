package dev.kiln.ingest;

import java.util.Locale;

/** Source file formats {@code kiln ingest} reads. JSON means JSON Lines: one object per line. */
public enum SourceFormat {
  CSV, JSON, PARQUET;

  public String cliName() {
    return name().toLowerCase(Locale.ROOT);
  }
}
