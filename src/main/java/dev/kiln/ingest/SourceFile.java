package dev.kiln.ingest;

import java.io.Serializable;

/**
 * A source file as listed when a run starts. Path, size and modification time together identify it in the ingest log:
 * the same file is never ingested twice; a file rewritten in place counts as new (its rows then dedupe by event key).
 */
public record SourceFile(String path, long size, long modifiedAtMillis) implements Serializable {
  public String identity() {
    return path + "|" + size + "|" + modifiedAtMillis;
  }
}
