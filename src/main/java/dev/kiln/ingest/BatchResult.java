package dev.kiln.ingest;

import java.util.Map;

/**
 * The accounting of one ingest batch: {@code read = accepted + quarantined + duplicates}.
 *
 * @param resumed true when this run finished a batch an earlier, interrupted run had started
 */
public record BatchResult(String batchId, long seq, int files, long read, long accepted, long quarantined,
                          long duplicates, Map<String, Long> reasons, long bronzeVersion, long quarantineVersion,
                          boolean resumed) {
  public BatchResult {
    reasons = Map.copyOf(reasons);
    if (read != accepted + quarantined + duplicates) {
      throw new IllegalStateException("batch " + batchId + " does not add up: read " + read + " != accepted "
          + accepted + " + quarantined " + quarantined + " + duplicates " + duplicates);
    }
  }
}
