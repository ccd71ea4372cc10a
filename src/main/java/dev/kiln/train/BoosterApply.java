package dev.kiln.train;

import static org.apache.spark.sql.functions.col;

import dev.kiln.common.PipelineStages;
import dev.kiln.features.FeaturePipeline;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import ml.dmlc.xgboost4j.scala.spark.XGBoostClassificationModel;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.feature.ImputerModel;
import org.apache.spark.ml.feature.StringIndexerModel;
import org.apache.spark.ml.feature.VectorAssembler;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.BooleanType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructType;

/**
 * The XGBoost pipelines Kiln trains ({@code feature stages -> VectorAssembler -> DenseFeatures -> booster}) applied as
 * plain xgboost4j predicts: the feature stages, then the assembler's input columns (cast to double, as the assembler
 * does) copied batch by batch into a dense float matrix that the native booster predicts ({@link BoosterBatches}).
 *
 * <p>The numbers are the pipeline's own ({@code XGBoostClassificationModel.transform}, checked by ModelApplyTest and
 * bench/score.sh); what made its transform ~6x slower than plain predict is left out: building the vector (an
 * assembler UDF, then DenseFeatures' two conversions: together as costly as the rest of the feature stages), copying
 * every column of every row to external Rows and back (Spark's row encoders cost more than the prediction itself, so
 * the rows stay in Spark's internal format here), predicting once per output column (margin for
 * {@code rawPrediction}, then the probability), each task predicting on every core of the machine, and the
 * StringIndexer's UDF where the booster is its only reader (the batches look the category up themselves).
 */
final class BoosterApply extends ModelApply {
  private static final String INPUT = "_booster_input_";

  private final PipelineModel model;
  /** The feature stages run as Spark transforms: all but the StringIndexers whose lookups the batches do. */
  private final List<Transformer> featureStages;
  /** Booster input column -> the category column the batches index themselves, with its vocabulary. */
  private final Map<String, IndexedInput> indexed;
  private final VectorAssembler assembler;
  private final XGBoostClassificationModel xgb;
  private final int batchRows;

  private BoosterApply(PipelineModel model, List<Transformer> featureStages, Map<String, IndexedInput> indexed,
                       VectorAssembler assembler, XGBoostClassificationModel xgb, int batchRows) {
    this.model = model;
    this.featureStages = featureStages;
    this.indexed = indexed;
    this.assembler = assembler;
    this.xgb = xgb;
    this.batchRows = batchRows;
  }

  /**
   * Present when {@code model} ends as Kiln's XGBoost pipelines do: an assembler that keeps nulls (as NaN) builds
   * {@link FeaturePipeline#FEATURES}, DenseFeatures makes it dense, a binary classifier reads it. Anything else (older
   * models without DenseFeatures read sparse vectors' zeros as missing) keeps the pipeline's transform.
   */
  static Optional<BoosterApply> forModel(PipelineModel model) {
    List<Transformer> stages = PipelineStages.flat(model);
    int n = stages.size();
    if (n < 3 || !(stages.get(n - 1) instanceof XGBoostClassificationModel xgb)
        || !(stages.get(n - 2) instanceof DenseFeatures)
        || !(stages.get(n - 3) instanceof VectorAssembler assembler)) {
      return Optional.empty();
    }
    boolean columnar = xgb.isSet(xgb.featuresCols()) && xgb.getFeaturesCols().length > 0;
    if (columnar || xgb.numClasses() != 2 || !FeaturePipeline.FEATURES.equals(xgb.getFeaturesCol())
        || !FeaturePipeline.FEATURES.equals(assembler.getOutputCol()) || !"keep".equals(assembler.getHandleInvalid())) {
      return Optional.empty();
    }
    List<Transformer> featureStages = stages.subList(0, n - 3);
    List<Transformer> run = new ArrayList<>();
    Map<String, IndexedInput> indexed = new HashMap<>();
    for (int s = 0; s < featureStages.size(); s++) {
      if (featureStages.get(s) instanceof StringIndexerModel indexer
          && indexedInBatches(indexer, featureStages.subList(s + 1, featureStages.size()))) {
        String[] in = indexer.isSet(indexer.inputCols()) ? indexer.getInputCols() : new String[] {indexer.getInputCol()};
        String[] out = outputCols(indexer);
        for (int c = 0; c < in.length; c++) {
          indexed.put(out[c], new IndexedInput(in[c], indexer.labelsArray()[c]));
        }
      } else {
        run.add(featureStages.get(s));
      }
    }
    return Optional.of(new BoosterApply(model, List.copyOf(run), Map.copyOf(indexed), assembler, xgb,
        BoosterBatches.BATCH_ROWS));
  }

  /** The same, predicting {@code rows} rows per native call (tests: batches that fill and then run short). */
  BoosterApply withBatchRows(int rows) {
    return new BoosterApply(model, featureStages, indexed, assembler, xgb, rows);
  }

  /** The booster inputs whose category lookups the batches do instead of a StringIndexer stage (for tests). */
  Set<String> indexedInBatches() {
    return indexed.keySet();
  }

  @Override
  public Dataset<Row> apply(Dataset<Row> rows, List<Column> carried, boolean contributions) {
    Dataset<Row> prepared = rows;
    for (Transformer stage : featureStages) {
      prepared = stage.transform(prepared);
    }
    String[] inputs = assembler.getInputCols();
    List<Column> narrow = new ArrayList<>(carried);
    List<String> inputNames = new ArrayList<>();
    String[][] vocabularies = new String[inputs.length][];
    for (int i = 0; i < inputs.length; i++) {
      inputNames.add(INPUT + i);
      IndexedInput category = indexed.get(inputs[i]);
      if (category != null) {
        vocabularies[i] = category.labels();
        narrow.add(col(category.input()).cast(DataTypes.StringType).as(INPUT + i));
        continue;
      }
      DataType type = prepared.schema().apply(inputs[i]).dataType();
      if (!(type instanceof NumericType || type instanceof BooleanType)) {
        return new PipelineApply(model).apply(rows, carried, contributions); // vector inputs (the one-hot layout)
      }
      narrow.add(col(inputs[i]).cast(DataTypes.DoubleType).as(INPUT + i));
    }
    // only the carried columns and the booster's inputs are computed: every other feature-stage output is pruned
    Dataset<Row> input = prepared.select(narrow.toArray(Column[]::new));

    StructType schema = input.schema().add(SCORE, DataTypes.DoubleType, true);
    if (contributions) {
      schema = schema.add(MARGIN, DataTypes.DoubleType, true)
          .add(CONTRIBUTIONS, DataTypes.createArrayType(DataTypes.DoubleType, false), true);
    }
    var spark = rows.sparkSession();
    int taskCpus = spark.sparkContext().getConf().getInt("spark.task.cpus", 1);
    var booster = JavaSparkContext.fromSparkContext(spark.sparkContext())
        .broadcast(TaskBooster.of(xgb.nativeBooster(), taskCpus));
    BoosterBatches batches = new BoosterBatches(booster, carried.size(), vocabularies, xgb.getMissing(),
        contributions, batchRows);
    // Spark's internal rows in and out: queryExecution().toRdd() is what Dataset.rdd() (and so XGBoost4J-Spark's
    // transform) runs too, minus the conversion to external Rows; internalCreateDataFrame is Spark's own way back
    // (private[sql] in Scala, public to Java: an internal API of the pinned Spark 3.5, ModelApplyTest covers it)
    RDD<InternalRow> scored = input.queryExecution().toRdd().toJavaRDD().mapPartitions(batches).rdd();
    return spark.internalCreateDataFrame(scored, schema, false).drop(inputNames.toArray(String[]::new));
  }

  /** A category column the batches index themselves: the indexer's input column and its vocabulary. */
  private record IndexedInput(String input, String[] labels) {}

  /**
   * Whether {@code indexer}'s lookups can move into the batches: it keeps unseen values (index = vocabulary size, as
   * its UDF does; "error" and "skip" change rows, so they keep the stage) and no later feature stage reads its
   * outputs (in Kiln's tree layout only imputers follow it, on numeric columns): then the booster is its only reader.
   * Its UDF decodes a Java String per row and column and converts the index back to Spark's format; the batches
   * look the column's bytes up in the vocabulary instead.
   */
  private static boolean indexedInBatches(StringIndexerModel indexer, List<Transformer> later) {
    if (!"keep".equals(indexer.getHandleInvalid())) {
      return false;
    }
    Set<String> outputs = Set.of(outputCols(indexer));
    for (Transformer stage : later) {
      if (!(stage instanceof ImputerModel imputer) || Arrays.stream(imputer.isSet(imputer.inputCols())
          ? imputer.getInputCols() : new String[] {imputer.getInputCol()}).anyMatch(outputs::contains)) {
        return false;
      }
    }
    return true;
  }

  private static String[] outputCols(StringIndexerModel indexer) {
    return indexer.isSet(indexer.outputCols()) ? indexer.getOutputCols() : new String[] {indexer.getOutputCol()};
  }
}
