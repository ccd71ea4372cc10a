package dev.kiln.features;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.Json;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;

/**
 * What a feature-table version holds: the feature set (name, version, definition hash, full definitions) and the
 * source table version it reflects.
 *
 * <p>The durable record is the table properties ({@code kiln.feature_set.*}, {@code kiln.source.*}), which Delta keeps
 * in every snapshot however old the log gets. They are set in a metadata commit right after each data commit (a
 * MERGE cannot set properties, and the V2 writer that could fails on path tables, delta-io/delta#4671), so they can
 * lag the data by one commit when a run is killed in between; the data commit's own metadata covers that window: when
 * the latest commit is a {@code kiln features} data commit, its metadata is the state. Tables written before the
 * properties carried the source version fall back to the newest features commit still in the history.
 */
record FeatureTableState(long commitVersion, String featureSet, int featureSetVersion, String hash, String specJson,
                         String sourceTable, long sourceVersion) {
  static final String PROP_SOURCE_TABLE = "kiln.source.table";
  static final String PROP_SOURCE_VERSION = "kiln.source.version";

  /** The state at the latest version, or at {@code atOrBefore} (from the history, which must still hold it). */
  static Optional<FeatureTableState> at(SparkSession spark, String path, Optional<Long> atOrBefore) {
    DeltaTables.Commit last = DeltaTables.commits(spark, path, Optional.of(1)).get(0);
    long latest = last.version();
    if (atOrBefore.isEmpty() || atOrBefore.get() >= latest) {
      Optional<FeatureTableState> unmirrored = fromCommit(last);
      if (unmirrored.isPresent()) {
        return unmirrored;
      }
      Optional<FeatureTableState> recorded = fromProperties(latest, DeltaTables.properties(spark, path));
      if (recorded.isPresent()) {
        return recorded;
      }
    }
    return fromHistory(spark, path, atOrBefore);
  }

  static Optional<FeatureTableState> fromProperties(long version, Map<String, String> p) {
    List<String> keys = List.of(FeatureJob.PROP_NAME, FeatureJob.PROP_VERSION, FeatureJob.PROP_HASH,
        FeatureJob.PROP_SPEC, PROP_SOURCE_TABLE, PROP_SOURCE_VERSION);
    if (!keys.stream().allMatch(p::containsKey)) {
      return Optional.empty();
    }
    return Optional.of(new FeatureTableState(version, p.get(FeatureJob.PROP_NAME),
        Integer.parseInt(p.get(FeatureJob.PROP_VERSION)), p.get(FeatureJob.PROP_HASH), p.get(FeatureJob.PROP_SPEC),
        p.get(PROP_SOURCE_TABLE), Long.parseLong(p.get(PROP_SOURCE_VERSION))));
  }

  /** The newest features commit at or before {@code atOrBefore} still in the log (tables from before the properties). */
  private static Optional<FeatureTableState> fromHistory(SparkSession spark, String path, Optional<Long> atOrBefore) {
    for (DeltaTables.Commit c : DeltaTables.commits(spark, path, Optional.empty())) {
      if (atOrBefore.isPresent() && c.version() > atOrBefore.get()) {
        continue;
      }
      Optional<FeatureTableState> s = fromCommit(c);
      if (s.isPresent()) {
        return s;
      }
    }
    return Optional.empty();
  }

  /** The state a {@code kiln features} data commit recorded in its metadata; empty for any other commit. */
  private static Optional<FeatureTableState> fromCommit(DeltaTables.Commit c) {
    if (c.userMetadata().isEmpty()) {
      return Optional.empty();
    }
    try {
      JsonNode m = Json.JSON.readTree(c.userMetadata().get());
      if ("features".equals(m.path("job").asText()) && m.has("source_version") && m.has("spec")) {
        return Optional.of(new FeatureTableState(c.version(), m.path("feature_set").asText(),
            m.path("feature_set_version").asInt(), m.path("feature_set_hash").asText(), m.path("spec").asText(),
            m.path("source_table").asText(), m.path("source_version").asLong()));
      }
    } catch (IOException e) {
      // another writer's metadata: not a features commit
    }
    return Optional.empty();
  }
}
