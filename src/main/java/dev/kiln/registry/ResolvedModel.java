package dev.kiln.registry;

import dev.kiln.common.DataRoot;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.Messages;
import dev.kiln.features.TrainsetJob;
import dev.kiln.features.TrainsetManifest;
import org.apache.spark.sql.SparkSession;

/**
 * A registry reference ({@code clicks@champion}) resolved to everything a job that uses the model needs: the version,
 * the alias as given, its signature, its run and the trainset the run was trained on (feature definitions, baseline).
 */
public record ResolvedModel(ModelRegistry.ModelVersion version, String alias, ModelSignature signature,
                            RunsTable.Run run, TrainsetManifest trainset) {

  public static ResolvedModel of(SparkSession spark, DataRoot root, String reference) {
    ModelRegistry registry = new ModelRegistry(spark, root);
    ModelRegistry.ModelVersion version = registry.resolve(reference);
    String alias = reference.substring(reference.indexOf('@') + 1);
    ModelSignature signature = registry.signature(version);
    RunsTable.Run run = ModelRegistry.requireFinished(new RunsTable(spark, root).get(version.runId()));
    TrainsetManifest trainset = TrainsetJob.readManifest(spark, root, run.trainsetId())
        .orElseThrow(() -> new KilnUserException("model " + version.ref() + ": its trainset " + run.trainsetId()
            + " is gone (its feature definitions and training data are needed)"));
    return new ResolvedModel(version, alias, signature, run, trainset);
  }

  /** The saved Spark ML pipeline (feature transforms + model) of the version's run. */
  public org.apache.spark.ml.PipelineModel pipeline() {
    String path = run.artifacts() + "/model";
    try {
      return org.apache.spark.ml.PipelineModel.load(path);
    } catch (Exception e) { // Hadoop's InvalidInputException is checked, and Scala does not declare it
      throw new KilnUserException("model " + version.ref() + ": cannot load its pipeline (" + path + "): "
          + Messages.firstLine(e.getMessage(), e.getClass().getSimpleName()));
    }
  }
}
