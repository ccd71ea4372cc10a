package dev.kiln.generate;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;
import java.util.Map;

/**
 * What the generator wrote, and the exact counts an ingest of it must report (the "truth").
 *
 * @param start the time window's start (ISO-8601 UTC instant); with {@code days}, {@code drift} and
 *              {@code populationRows} it tells windows of the same seed apart
 * @param days the time window's length in days
 * @param drift whether the window's population was shifted (prices, device mix, a new category)
 * @param hotUserShare the share of rows given to one hot user (written only when not 0)
 * @param populationRows the run size the population (users, items) was sized for
 * @param linesWritten data lines written, i.e. what ingest will read
 * @param expectedAccepted clean, first-seen events
 * @param expectedQuarantined rows with exactly one injected defect
 * @param expectedDuplicates exact copies of earlier clean rows
 * @param reasons expected quarantine reason codes and their counts
 * @param defects injected defects by kind
 */
public record GenerateResult(String out, List<String> files, long rows, long seed, double dirtyFraction,
                             String start, int days, boolean drift,
                             @JsonInclude(JsonInclude.Include.NON_DEFAULT) double hotUserShare, long populationRows,
                             long linesWritten, long expectedAccepted, long expectedQuarantined,
                             long expectedDuplicates, Map<String, Long> reasons, Map<String, Long> defects,
                             double positiveRate, boolean reused) {
}
