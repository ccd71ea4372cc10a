package dev.kiln.features;

import java.util.List;
import java.util.Map;

/**
 * What {@code trainsets/<id>/manifest.json} records: the exact inputs (feature table and Delta version, the source
 * version behind it, the feature-set definitions), the split with its concrete boundaries, and the result (rows and
 * positives per split, an order-independent fingerprint of every row). Written last: a trainset exists once its
 * manifest does.
 */
public record TrainsetManifest(String id, String createdAt, String featureTable, long featureTableVersion,
                               String featureSet, int featureSetVersion, String featureSetHash, String spec,
                               String sourceTable, long sourceVersion, SplitSpec split, Map<String, Long> rows,
                               Map<String, Long> positives, String fingerprint, String dataPath,
                               String rebuiltFrom, String gitCommit, Map<String, String> libraryVersions) {
  public static final List<String> SPLITS = List.of("train", "validation", "test");
  public static final String SPLIT_COLUMN = "split";

  /**
   * @param testFrom       time split: ISO instant where test starts (resolved from the fractions when not given)
   * @param validationFrom time split: ISO instant where validation starts
   */
  public record SplitSpec(String method, double testFraction, double validationFraction, long seed,
                          String testFrom, String validationFrom) {}

  public FeatureSetSpec featureSetSpec() {
    return FeatureSetSpec.fromJson(spec, "trainset " + id);
  }
}
