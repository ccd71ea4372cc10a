package dev.kiln.features;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kiln.common.Json;
import io.delta.tables.DeltaTable;
import java.io.IOException;
import java.util.Optional;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * What a feature-table version holds, read from the metadata of the latest {@code kiln features} commit at or
 * before it: the feature set (name, version, definition hash, full definitions) and the source table version it
 * reflects. The commit metadata is written atomically with the data, so it is the record; the table properties
 * mirror it for people and other tools.
 */
record FeatureTableState(long commitVersion, String featureSet, int featureSetVersion, String hash, String specJson,
                         String sourceTable, long sourceVersion) {

  static Optional<FeatureTableState> at(SparkSession spark, String path, Optional<Long> atOrBefore) {
    for (Row r : DeltaTable.forPath(spark, path).history().select("version", "userMetadata").collectAsList()) {
      if (r.isNullAt(1) || (atOrBefore.isPresent() && r.getLong(0) > atOrBefore.get())) {
        continue;
      }
      try {
        JsonNode m = Json.JSON.readTree(r.getString(1));
        if ("features".equals(m.path("job").asText()) && m.has("source_version") && m.has("spec")) {
          return Optional.of(new FeatureTableState(r.getLong(0), m.path("feature_set").asText(),
              m.path("feature_set_version").asInt(), m.path("feature_set_hash").asText(), m.path("spec").asText(),
              m.path("source_table").asText(), m.path("source_version").asLong()));
        }
      } catch (IOException e) {
        // another writer's metadata: not a features commit
      }
    }
    return Optional.empty();
  }
}
