package dev.kiln.registry;

import dev.kiln.common.DataRoot;
import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.TableRef;
import dev.kiln.features.FeatureSetSpec;
import dev.kiln.features.PointInTimeFeatures;
import dev.kiln.features.TrainsetJob;
import dev.kiln.features.TrainsetManifest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.feature.StringIndexerModel;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * What a registered model takes and gives, stored with the version in {@code meta.models} and checked before
 * anything is scored: the raw event columns its feature set reads (with their types as trained), the categories each
 * categorical input was trained on (others go to the unknown bucket, and monitoring reports their share), and the
 * output.
 *
 * @param inputs     source columns the feature set reads from each event, with Spark SQL type names
 * @param label      the label column: optional in a scoring input (new events have no label yet)
 * @param categories per categorical column, the values the model's vocabulary knows, most frequent first
 * @param output     what scoring produces: {@code score} (probability of label 1) and {@code predicted_label}
 * @param threshold  the probability cut for {@code predicted_label}, as used for the run's metrics
 */
public record ModelSignature(String featureSet, int featureSetVersion, String sourceTable, String eventKey,
                             String eventTime, String label, List<Field> inputs,
                             Map<String, List<String>> categories, List<Field> output, double threshold) {

  /** One column: name and Spark SQL type ({@code string}, {@code double}, {@code timestamp}, ...). */
  public record Field(String name, String type) {}

  public String toJson() {
    return Json.toJson(this);
  }

  public static ModelSignature fromJson(String json) {
    try {
      return Json.JSON.readValue(json, ModelSignature.class);
    } catch (IOException e) {
      throw new IllegalStateException("unreadable model signature: " + e.getMessage(), e);
    }
  }

  /**
   * Derives the signature of a run from what it was trained on: the trainset's feature-set definitions, the source
   * table's column types at the version the trainset pinned, and the vocabularies in the saved model.
   */
  public static ModelSignature of(SparkSession spark, DataRoot root, RunsTable.Run run) {
    TrainsetManifest manifest = TrainsetJob.readManifest(spark, root, run.trainsetId())
        .orElseThrow(() -> new KilnUserException("run " + run.runId() + ": its trainset " + run.trainsetId()
            + " is gone, so its input signature cannot be derived"));
    FeatureSetSpec spec = manifest.featureSetSpec();
    TableRef sourceRef = TableRef.parse(manifest.sourceTable(), "bronze");
    StructType source = spark.read().format("delta").option("versionAsOf", manifest.sourceVersion())
        .load(root.table(sourceRef)).schema();
    List<Field> inputs = new ArrayList<>();
    for (String c : new PointInTimeFeatures(spec, "run " + run.runId()).sourceColumns()) {
      StructField f = Arrays.stream(source.fields()).filter(s -> s.name().equals(c)).findFirst()
          .orElseThrow(() -> new KilnUserException("run " + run.runId() + ": column '" + c + "' is not in "
              + sourceRef + " version " + manifest.sourceVersion()));
      inputs.add(new Field(c, f.dataType().simpleString()));
    }
    Map<String, List<String>> categories = new LinkedHashMap<>();
    PipelineModel model = PipelineModel.load(run.artifacts() + "/model");
    collectVocabularies(model, categories);
    double threshold = run.metrics().getOrDefault("threshold", 0.5);
    return new ModelSignature(spec.name(), spec.version(), sourceRef.toString(), spec.eventKey(), spec.eventTime(),
        spec.label(), inputs, categories,
        List.of(new Field("score", "double"), new Field("predicted_label", "int")), threshold);
  }

  /** The fitted feature pipeline names its categorical inputs {@code c_<column>}. */
  private static void collectVocabularies(PipelineModel model, Map<String, List<String>> out) {
    for (StringIndexerModel indexer : dev.kiln.common.PipelineStages.all(model, StringIndexerModel.class)) {
      String[] cols = indexer.getInputCols();
      String[][] labels = indexer.labelsArray();
      for (int i = 0; i < cols.length; i++) {
        String column = cols[i].startsWith("c_") ? cols[i].substring(2) : cols[i];
        out.put(column, List.of(labels[i]));
      }
    }
  }
}
