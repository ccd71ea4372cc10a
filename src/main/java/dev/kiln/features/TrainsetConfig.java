package dev.kiln.features;

import dev.kiln.common.DataRoot;
import dev.kiln.common.KilnUserException;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything {@link TrainsetJob} needs.
 *
 * @param featureSet     the feature table: {@code clicks}, {@code features.clicks} or the spec file
 * @param featureVersion a past version of the feature table (default: the latest)
 * @param split          {@code random} (by a hash of the event key and the seed) or {@code time}
 * @param testFrom       time split: first event time of the test set (default: the {@code 1 - testFraction} quantile)
 * @param validationFrom time split: first event time of the validation set (default: from the fractions)
 * @param asOf           rebuild this recorded trainset from its manifest instead of building a new one
 */
public record TrainsetConfig(DataRoot dataRoot, String featureSet, Optional<Long> featureVersion, Split split,
                             double testFraction, double validationFraction, long seed, Optional<Instant> testFrom,
                             Optional<Instant> validationFrom, Optional<String> asOf) {
  public enum Split { RANDOM, TIME }

  public TrainsetConfig {
    Objects.requireNonNull(dataRoot, "dataRoot");
    featureVersion = featureVersion == null ? Optional.empty() : featureVersion;
    testFrom = testFrom == null ? Optional.empty() : testFrom;
    validationFrom = validationFrom == null ? Optional.empty() : validationFrom;
    asOf = asOf == null ? Optional.empty() : asOf;
    split = split == null ? Split.RANDOM : split;
    if (asOf.isEmpty() && (featureSet == null || featureSet.isBlank())) {
      throw new KilnUserException("--feature-set is required (or --as-of to rebuild a recorded trainset)");
    }
    if (!(testFraction > 0 && testFraction < 1) || !(validationFraction >= 0 && validationFraction < 1)
        || testFraction + validationFraction >= 1) {
      throw new KilnUserException("--test-fraction must be in (0, 1), --validation-fraction in [0, 1), and together "
          + "below 1 (got " + testFraction + " and " + validationFraction + ")");
    }
    if (testFrom.isPresent() && validationFrom.isPresent() && !validationFrom.get().isBefore(testFrom.get())) {
      throw new KilnUserException("--validation-from must be before --test-from");
    }
  }
}
