package dev.kiln.train;

import dev.kiln.common.DataRoot;
import dev.kiln.common.KilnUserException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything {@link TrainJob} needs.
 *
 * @param trainsetId the trainset to train on (from {@code kiln trainset})
 * @param paramsFile a YAML of parameters (default: {@code conf/train/<model>.yaml} when present)
 * @param overrides  {@code --set key=value} pairs, applied last
 * @param threshold  probability above which a row counts as predicted positive (precision / recall / F1)
 * @param features   train on these features of the feature set only (ablations); empty: all of them
 */
public record TrainConfig(DataRoot dataRoot, String trainsetId, ModelType model, Optional<Path> paramsFile,
                          Map<String, String> overrides, double threshold, long seed,
                          Optional<java.util.Set<String>> features) {
  public TrainConfig(DataRoot dataRoot, String trainsetId, ModelType model, Optional<Path> paramsFile,
                     Map<String, String> overrides, double threshold, long seed) {
    this(dataRoot, trainsetId, model, paramsFile, overrides, threshold, seed, Optional.empty());
  }

  public TrainConfig {
    features = features == null ? Optional.empty() : features.map(java.util.Set::copyOf);
    Objects.requireNonNull(dataRoot, "dataRoot");
    Objects.requireNonNull(model, "model");
    if (trainsetId == null || trainsetId.isBlank()) {
      throw new KilnUserException("--trainset is required");
    }
    paramsFile = paramsFile == null ? Optional.empty() : paramsFile;
    overrides = overrides == null ? Map.of() : Map.copyOf(overrides);
    if (!(threshold > 0 && threshold < 1)) {
      throw new KilnUserException("--threshold must be between 0 and 1 (got " + threshold + ")");
    }
  }
}
