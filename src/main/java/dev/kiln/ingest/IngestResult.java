package dev.kiln.ingest;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What one {@code kiln ingest} run did, summed over its batches (usually one).
 *
 * @param stageSeconds     where the run's time went, stage by stage ({@link dev.kiln.common.StageTimes})
 * @param stagePeakHeapMib the driver's peak heap per stage in MiB ({@link dev.kiln.common.StageTimes#peakHeapMib})
 */
public record IngestResult(String table, String bronzePath, String quarantinePath, int filesListed,
                           int filesAlreadyIngested, List<BatchResult> batches, Map<String, Double> stageSeconds,
                           Map<String, Long> stagePeakHeapMib) {
  public IngestResult {
    batches = List.copyOf(batches);
    stageSeconds = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(stageSeconds)); // in order
    stagePeakHeapMib = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(stagePeakHeapMib));
  }

  public long read() {
    return batches.stream().mapToLong(BatchResult::read).sum();
  }

  public long accepted() {
    return batches.stream().mapToLong(BatchResult::accepted).sum();
  }

  public long quarantined() {
    return batches.stream().mapToLong(BatchResult::quarantined).sum();
  }

  public long duplicates() {
    return batches.stream().mapToLong(BatchResult::duplicates).sum();
  }

  /** Quarantined rows per reason code (a row failing two rules counts under both). */
  public Map<String, Long> reasons() {
    Map<String, Long> all = new TreeMap<>();
    batches.forEach(b -> b.reasons().forEach((k, v) -> all.merge(k, v, Long::sum)));
    return all;
  }
}
