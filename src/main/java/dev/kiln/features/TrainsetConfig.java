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
 * @param id             name the trainset (e.g. per pipeline date) instead of deriving its id from its inputs
 */
public record TrainsetConfig(DataRoot dataRoot, String featureSet, Optional<Long> featureVersion, Split split,
                             double testFraction, double validationFraction, long seed, Optional<Instant> testFrom,
                             Optional<Instant> validationFrom, Optional<String> asOf, Optional<String> id) {
  public enum Split { RANDOM, TIME }

  private static final java.util.regex.Pattern ID = java.util.regex.Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

  /** A trainset whose id is derived from its inputs. */
  public TrainsetConfig(DataRoot dataRoot, String featureSet, Optional<Long> featureVersion, Split split,
                        double testFraction, double validationFraction, long seed, Optional<Instant> testFrom,
                        Optional<Instant> validationFrom, Optional<String> asOf) {
    this(dataRoot, featureSet, featureVersion, split, testFraction, validationFraction, seed, testFrom,
        validationFrom, asOf, Optional.empty());
  }

  public TrainsetConfig {
    id = id == null ? Optional.empty() : id;
    if (id.isPresent() && !ID.matcher(id.get()).matches()) {
      throw new KilnUserException("--id '" + id.get() + "' must be letters, digits, '.', '_' or '-' (at most 128)");
    }
    if (id.isPresent() && asOf.isPresent()) {
      throw new KilnUserException("--id and --as-of do not go together (a rebuild is named after the original)");
    }
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
