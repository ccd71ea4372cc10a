package dev.kiln.features;

/**
 * What a {@link FeatureJob} run did.
 *
 * @param mode          {@code full}, {@code incremental} or {@code up-to-date}
 * @param reason        why that mode (first run, --full, definitions changed, source rewritten, new rows, ...)
 * @param newRows       rows added to the feature table
 * @param updatedRows   existing rows recomputed because late events changed their history
 * @param tableVersion  the feature table's Delta version after the run
 * @param tableRows     rows in the feature table after the run
 * @param stageSeconds  where the run's time went, stage by stage ({@link dev.kiln.common.StageTimes})
 * @param stagePeakHeapMib the driver's peak heap per stage in MiB ({@link dev.kiln.common.StageTimes#peakHeapMib})
 */
public record FeatureResult(String featureTable, String path, String featureSet, int featureSetVersion,
                            String mode, String reason, String sourceTable, long sourceVersion, long newRows,
                            long updatedRows, long tableVersion, long tableRows, boolean statsWritten,
                            double seconds, java.util.Map<String, Double> stageSeconds,
                            java.util.Map<String, Long> stagePeakHeapMib) {}
