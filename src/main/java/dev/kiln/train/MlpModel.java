package dev.kiln.train;

import dev.kiln.common.BroadcastHolder;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.linalg.DenseVector;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.SparseVector;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWriter;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A trained Deeplearning4j network as the last stage of a Spark ML pipeline: it reads the standardized feature vector
 * ({@link #INPUT}) and adds {@code probability} ([1 − p, p], like Spark's classifiers). Scoring runs on the executors:
 * the configuration and parameters are broadcast and each partition builds the network once and scores minibatches.
 * Saved with the pipeline: Spark ML metadata plus the DL4J model zip ({@code data/mlp.zip}, which DL4J's
 * {@code ModelSerializer} reads on its own too).
 */
public final class MlpModel extends Transformer implements MLWritable, BroadcastHolder {
  /** The standardized feature vector the network reads. */
  public static final String INPUT = "_features_std";
  private static final int SCORE_BATCH = 1024;

  private final String uid;
  private final MultiLayerNetwork network;
  private transient Shipped shipped;

  public MlpModel(String uid, MultiLayerNetwork network) {
    this.uid = uid;
    this.network = network;
  }

  public MlpModel(MultiLayerNetwork network) {
    this(Identifiable.randomUID("mlp"), network);
  }

  public MultiLayerNetwork network() {
    return network;
  }

  @Override
  public Dataset<Row> transform(Dataset<?> dataset) {
    SparkSession spark = dataset.sparkSession();
    Dataset<Row> rows = dataset.toDF();
    Shipped ship = shipped(spark.sparkContext());
    Broadcast<String> conf = ship.conf();
    Broadcast<float[]> params = ship.params();
    int input = rows.schema().fieldIndex(INPUT);
    JavaRDD<Row> scored = rows.javaRDD().mapPartitions(it -> score(it, conf.value(), params.value(), input));
    return spark.createDataFrame(scored, transformSchema(rows.schema()));
  }

  /**
   * The network as broadcast, once per model (and SparkContext) for all its transforms: training evaluates it, the
   * score and monitor jobs transform it more than once. Spark's own models (Word2VecModel, FPGrowthModel) broadcast
   * per transform and leave the copies to the ContextCleaner, which frees them only after a driver GC; for a network
   * of megabytes, each transform would hold another copy until then. The frames transform returns are lazy, so it
   * cannot destroy them itself: {@link #releaseBroadcasts} does, called after the last action.
   */
  private synchronized Shipped shipped(SparkContext sc) {
    if (shipped == null || shipped.sc() != sc) {
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(sc);
      shipped = new Shipped(sc, jsc.broadcast(network.getLayerWiseConfigurations().toJson()),
          jsc.broadcast(network.params().dup().data().asFloat()));
    }
    return shipped;
  }

  @Override
  public synchronized void releaseBroadcasts() {
    if (shipped != null) {
      shipped.conf().destroy();
      shipped.params().destroy();
      shipped = null;
    }
  }

  private record Shipped(SparkContext sc, Broadcast<String> conf, Broadcast<float[]> params) {}

  private static Iterator<Row> score(Iterator<Row> rows, String conf, float[] params, int input) {
    if (!rows.hasNext()) {
      return Collections.emptyIterator();
    }
    MultiLayerNetwork net = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(conf));
    net.init(Nd4j.create(params, new long[] {1, params.length}, 'c'), false);
    int width = (int) net.layerInputSize(0);
    return new Iterator<>() {
      private final List<Row> batch = new ArrayList<>(SCORE_BATCH);
      private final float[] x = new float[SCORE_BATCH * width];
      private Iterator<Row> ready = Collections.emptyIterator();

      @Override
      public boolean hasNext() {
        if (ready.hasNext()) {
          return true;
        }
        if (!rows.hasNext()) {
          return false;
        }
        batch.clear();
        while (rows.hasNext() && batch.size() < SCORE_BATCH) {
          Row r = rows.next();
          copyRow((Vector) r.get(input), x, batch.size(), width);
          batch.add(r);
        }
        int n = batch.size();
        float[] p = net.output(Nd4j.create(Arrays.copyOf(x, n * width), new long[] {n, width}, 'c')).data().asFloat();
        List<Row> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
          Row r = batch.get(i);
          Object[] values = new Object[r.size() + 1];
          for (int j = 0; j < r.size(); j++) {
            values[j] = r.get(j);
          }
          values[r.size()] = Vectors.dense(1 - p[i], p[i]);
          out.add(RowFactory.create(values));
        }
        ready = out.iterator();
        return true;
      }

      @Override
      public Row next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        return ready.next();
      }
    };
  }

  /** Copies a dense or sparse vector into row {@code r} of a row-major [n, width] buffer. */
  static void copyRow(Vector v, float[] buf, int r, int width) {
    int off = r * width;
    if (v instanceof DenseVector dense) {
      double[] a = dense.values();
      for (int j = 0; j < width; j++) {
        buf[off + j] = (float) a[j];
      }
    } else {
      SparseVector sparse = (SparseVector) v;
      Arrays.fill(buf, off, off + width, 0f);
      int[] idx = sparse.indices();
      double[] a = sparse.values();
      for (int k = 0; k < idx.length; k++) {
        buf[off + idx[k]] = (float) a[k];
      }
    }
  }

  @Override
  public StructType transformSchema(StructType schema) {
    return schema.add(Estimators.PROBABILITY, SQLDataTypes.VectorType(), false);
  }

  @Override
  public MlpModel copy(ParamMap extra) {
    return new MlpModel(uid, network);
  }

  @Override
  public String uid() {
    return uid;
  }

  @Override
  public MLWriter write() {
    return new MLWriter() {
      @Override
      public void saveImpl(String path) {
        DefaultParamsWriter.saveMetadata(MlpModel.this, path, sc(), scala.Option.empty(), scala.Option.empty());
        Path zip = new Path(path, "data/mlp.zip");
        try {
          writeZip(zip.getFileSystem(sc().hadoopConfiguration()), zip);
        } catch (IOException e) {
          throw new UncheckedIOException("cannot write " + zip, e);
        }
      }
    };
  }

  /** How {@code PipelineModel.load} reads this stage back. */
  public static MLReader<MlpModel> read() {
    return new MLReader<>() {
      @Override
      public MlpModel load(String path) {
        String uid = DefaultParamsReader.loadMetadata(path, sc(), MlpModel.class.getName()).uid();
        Path zip = new Path(path, "data/mlp.zip");
        try (InputStream in = zip.getFileSystem(sc().hadoopConfiguration()).open(zip)) {
          return new MlpModel(uid, ModelSerializer.restoreMultiLayerNetwork(in, false));
        } catch (IOException e) {
          throw new UncheckedIOException("cannot read " + zip, e);
        }
      }
    };
  }

  /** The network's zip (for {@code artifacts/<run>/mlp.zip}). */
  public void writeZip(FileSystem fs, Path zip) throws IOException {
    try (OutputStream out = fs.create(zip, true)) {
      ModelSerializer.writeModel(network, out, false);
    }
  }
}
