package dev.kiln.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.testing.SharedSpark;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.SparkEnv;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.BlockId;
import org.apache.spark.storage.BlockManager;
import org.apache.spark.storage.BlockStatus;
import org.apache.spark.storage.BroadcastBlockId;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import scala.collection.JavaConverters;

/** The MLP's broadcast network is shared by its transforms and destroyed when released, not left to a driver GC. */
class MlpModelBroadcastTest {
  private static final int INPUTS = 16;
  private static final int HIDDEN = 512;

  private final SparkSession spark = SharedSpark.get();

  @Test
  void transformsShareOneBroadcastAndReleaseDestroysIt() throws Exception {
    MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(1)
        .dataType(DataType.FLOAT).weightInit(WeightInit.XAVIER).list()
        .layer(new DenseLayer.Builder().nIn(INPUTS).nOut(HIDDEN).activation(Activation.RELU).build())
        .layer(new DenseLayer.Builder().nIn(HIDDEN).nOut(HIDDEN).activation(Activation.RELU).build())
        .layer(new OutputLayer.Builder(LossFunctions.LossFunction.XENT).nIn(HIDDEN).nOut(1)
            .activation(Activation.SIGMOID).build())
        .build());
    net.init();
    long paramBytes = 4 * net.numParams(); // about 1 MB: large next to everything else a test broadcasts
    MlpModel model = new MlpModel(net);
    List<Row> in = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      in.add(RowFactory.create(Vectors.dense(new double[INPUTS]).toDense()));
    }
    Dataset<Row> rows = spark.createDataFrame(in, new StructType().add(MlpModel.INPUT, SQLDataTypes.VectorType()));

    // only this test's broadcasts: earlier test classes' broadcasts in this JVM are cleaned up asynchronously (after
    // a driver GC), which would shrink a total taken over all blocks while the test runs
    long firstId = nextBroadcastId();
    List<Dataset<Row>> scored = new ArrayList<>(); // held, like a caller holds its frames until its last action
    for (int i = 0; i < 3; i++) {
      Dataset<Row> s = model.transform(rows);
      assertEquals(10, s.collectAsList().size());
      scored.add(s);
    }
    long held = broadcastBytes(firstId);
    // one copy is the value plus its serialized pieces (about 2 x paramBytes); one per transform would be 3 times that
    assertTrue(held >= paramBytes && held < 3 * paramBytes,
        "broadcast bytes held after 3 transforms: " + held + " (parameters: " + paramBytes + " bytes)");

    model.releaseBroadcasts();
    long deadline = System.nanoTime() + 10_000_000_000L; // destroy() removes the blocks asynchronously
    while (broadcastBytes(firstId) >= paramBytes && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    assertTrue(broadcastBytes(firstId) < paramBytes, "released: " + broadcastBytes(firstId) + " bytes left");
    assertEquals(10, model.transform(rows).collectAsList().size(), "a later transform broadcasts again");
    assertEquals(3, scored.size());
  }

  /** One more than the highest broadcast id with blocks in this JVM: later broadcasts have ids from here on. */
  private static long nextBroadcastId() {
    return broadcastBlocks().stream().mapToLong(BroadcastBlockId::broadcastId).max().orElse(-1L) + 1;
  }

  /**
   * Memory and disk held by the blocks of broadcasts with ids from {@code firstId} on, in this JVM's block manager
   * (the driver's, in local mode).
   */
  private static long broadcastBytes(long firstId) {
    BlockManager bm = SparkEnv.get().blockManager();
    long bytes = 0;
    for (BroadcastBlockId id : broadcastBlocks()) {
      scala.Option<BlockStatus> status = bm.getStatus(id);
      if (id.broadcastId() >= firstId && status.isDefined()) {
        bytes += status.get().memSize() + status.get().diskSize();
      }
    }
    return bytes;
  }

  private static List<BroadcastBlockId> broadcastBlocks() {
    List<BroadcastBlockId> out = new ArrayList<>();
    for (BlockId id : JavaConverters.seqAsJavaList(SparkEnv.get().blockManager()
        .getMatchingBlockIds(BlockId::isBroadcast))) {
      if (id instanceof BroadcastBlockId b) {
        out.add(b);
      }
    }
    return out;
  }
}
