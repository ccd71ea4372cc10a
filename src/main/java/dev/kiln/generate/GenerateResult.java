package dev.kiln.generate;

import java.util.List;
import java.util.Map;

/**
 * What the generator wrote, and the exact counts an ingest of it must report (the "truth").
 *
 * @param linesWritten data lines written, i.e. what ingest will read
 * @param expectedAccepted clean, first-seen events
 * @param expectedQuarantined rows with exactly one injected defect
 * @param expectedDuplicates exact copies of earlier clean rows
 * @param reasons expected quarantine reason codes and their counts
 * @param defects injected defects by kind
 */
public record GenerateResult(String out, List<String> files, long rows, long seed, double dirtyFraction,
                             long linesWritten, long expectedAccepted, long expectedQuarantined,
                             long expectedDuplicates, Map<String, Long> reasons, Map<String, Long> defects,
                             double positiveRate, boolean reused) {
}
