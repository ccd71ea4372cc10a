package dev.kiln.train;

import dev.kiln.features.FeaturePipeline;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.api.Repartition;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Trains the seed workflow's MLP (hidden1-hidden2-1: ReLU, sigmoid output, binary cross-entropy, Adam, Xavier init)
 * with Deeplearning4j on Spark: synchronous parameter averaging, one model replica per worker.
 *
 * <p>Reproducible: the minibatches are cut per partition in the trainset's order and spread over exactly
 * {@code num_workers} partitions without a shuffle ({@code coalesce}, {@code Repartition.Never}); DL4J's default
 * repartitions before every averaging round, in an order that changes run to run. The native math also depends on
 * the number of OpenMP threads ({@code OMP_NUM_THREADS}), so the same metrics need the same thread count too.
 * The data goes in with the Direct approach (no export to the default filesystem, which needs HDFS/S3 on a cluster)
 * at the storage level the RDD is cached with (DL4J refuses to change it).
 */
final class MlpTrainer {
  private static final Logger LOG = LoggerFactory.getLogger(MlpTrainer.class);

  private MlpTrainer() {}

  static MultiLayerConfiguration network(int inputs, ModelParams p, long seed) {
    return new NeuralNetConfiguration.Builder()
        .seed(seed)
        .dataType(DataType.FLOAT)
        .weightInit(WeightInit.XAVIER)
        .updater(new Adam(p.real("learning_rate")))
        .list()
        .layer(new DenseLayer.Builder().nIn(inputs).nOut(p.integer("hidden1")).activation(Activation.RELU).build())
        .layer(new DenseLayer.Builder().nIn(p.integer("hidden1")).nOut(p.integer("hidden2"))
            .activation(Activation.RELU).build())
        .layer(new OutputLayer.Builder(LossFunctions.LossFunction.XENT).nIn(p.integer("hidden2")).nOut(1)
            .activation(Activation.SIGMOID).build())
        .build();
  }

  /** {@code prepared} has the standardized vector ({@link MlpModel#INPUT}) and the 0/1 label. */
  static MlpModel fit(SparkSession spark, Dataset<Row> prepared, ModelParams p, long seed) {
    int inputs = ((Vector) prepared.select(MlpModel.INPUT).first().get(0)).size();
    int workers = p.integer("num_workers") == 0 ? spark.sparkContext().defaultParallelism() : p.integer("num_workers");
    int batch = p.integer("batch_size");
    JavaRDD<DataSet> data = minibatches(prepared.select(MlpModel.INPUT, FeaturePipeline.LABEL), inputs, batch)
        .coalesce(workers).persist(StorageLevel.MEMORY_ONLY());
    ParameterAveragingTrainingMaster master = new ParameterAveragingTrainingMaster.Builder(batch)
        .batchSizePerWorker(batch)
        .averagingFrequency(p.integer("averaging_frequency"))
        .workerPrefetchNumBatches(2)
        .rddTrainingApproach(RDDTrainingApproach.Direct)
        .storageLevel(StorageLevel.MEMORY_ONLY())
        .repartionData(Repartition.Never)
        .rngSeed(seed)
        .collectTrainingStats(false)
        .build();
    SparkDl4jMultiLayer net = new SparkDl4jMultiLayer(JavaSparkContext.fromSparkContext(spark.sparkContext()),
        network(inputs, p, seed), master);
    try {
      int epochs = p.integer("epochs");
      for (int epoch = 1; epoch <= epochs; epoch++) {
        long t0 = System.nanoTime();
        net.fit(data);
        LOG.info("mlp epoch {}/{}: loss {} ({} s, {} workers)", epoch, epochs, String.format("%.5f", net.getScore()),
            String.format("%.1f", (System.nanoTime() - t0) / 1e9), workers);
      }
      return new MlpModel(net.getNetwork());
    } finally {
      data.unpersist(false);
      master.deleteTempFiles(spark.sparkContext());
    }
  }

  /** Rows to DataSets of up to {@code batch} rows, cut within each partition (features [n, inputs], labels [n, 1]). */
  private static JavaRDD<DataSet> minibatches(Dataset<Row> rows, int inputs, int batch) {
    return rows.javaRDD().mapPartitions((Iterator<Row> it) -> {
      List<DataSet> out = new ArrayList<>();
      float[] x = new float[batch * inputs];
      float[] y = new float[batch];
      int n = 0;
      while (it.hasNext()) {
        Row row = it.next();
        MlpModel.copyRow((Vector) row.get(0), x, n, inputs);
        y[n] = (float) row.getDouble(1);
        if (++n == batch) {
          out.add(dataSet(x, y, n, inputs));
          n = 0;
        }
      }
      if (n > 0) {
        out.add(dataSet(x, y, n, inputs));
      }
      return out.iterator();
    });
  }

  private static DataSet dataSet(float[] x, float[] y, int n, int inputs) {
    return new DataSet(Nd4j.create(Arrays.copyOf(x, n * inputs), new long[] {n, inputs}, 'c'),
        Nd4j.create(Arrays.copyOf(y, n), new long[] {n, 1}, 'c'));
  }
}
