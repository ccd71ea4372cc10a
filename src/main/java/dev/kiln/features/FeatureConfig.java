package dev.kiln.features;

import dev.kiln.common.DataRoot;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything {@link FeatureJob} needs.
 *
 * @param specFile    the feature-set YAML ({@code conf/features/*.yaml})
 * @param sourceTable overrides the spec's {@code source_table} (e.g. {@code bronze.events})
 * @param full        recompute every row instead of only what new source rows affect
 * @param stats       compute feature statistics for the new table version into {@code meta.feature_stats}
 */
public record FeatureConfig(DataRoot dataRoot, Path specFile, Optional<String> sourceTable, boolean full,
                            boolean stats) {
  public FeatureConfig {
    Objects.requireNonNull(dataRoot, "dataRoot");
    Objects.requireNonNull(specFile, "specFile");
    sourceTable = sourceTable == null ? Optional.empty() : sourceTable;
  }
}
