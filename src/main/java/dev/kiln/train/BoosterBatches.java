package dev.kiln.train;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import ml.dmlc.xgboost4j.java.Booster;
import ml.dmlc.xgboost4j.java.DMatrix;
import ml.dmlc.xgboost4j.java.XGBoostError;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.JoinedRow;
import org.apache.spark.sql.catalyst.expressions.SpecificInternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * One partition's rows scored in batches, each batch in one native call: the rows' booster inputs (the {@code width}
 * columns after the {@code carried} ones: doubles, or category strings) copied into a dense row-major float matrix,
 * and every row returned with its predictions appended (probability; with contributions, margin and SHAP values).
 *
 * <p>The same numbers as XGBoost4J-Spark's transform: the doubles cast to float, nulls (and NaN) are missing, as are
 * values equal to {@code missing}; a binary classifier's probability and margin are the booster's only output column.
 * A category input arrives as its string and is indexed here as the pipeline's StringIndexer does with
 * {@code handleInvalid=keep}: the value's position in the vocabulary, the vocabulary's size for unseen values and
 * nulls.
 * Without contributions a batch is predicted in place (no DMatrix is built); with them one DMatrix serves the
 * contributions, the margin and the probability.
 */
final class BoosterBatches implements FlatMapFunction<Iterator<InternalRow>, InternalRow> {
  private static final long serialVersionUID = 1L;
  /** Rows per native call by default (XGBoost4J-Spark's default {@code inferBatchSize}). */
  static final int BATCH_ROWS = 32 << 10;

  private final Broadcast<TaskBooster> booster;
  private final int carried;
  private final int width;
  /** Per booster input: the vocabulary of a category input, null for a numeric one. */
  private final String[][] vocabularies;
  private final float missing;
  private final boolean contributions;
  private final int batchRows;

  BoosterBatches(Broadcast<TaskBooster> booster, int carried, String[][] vocabularies, float missing,
                 boolean contributions, int batchRows) {
    this.booster = booster;
    this.carried = carried;
    this.width = vocabularies.length;
    this.vocabularies = vocabularies;
    this.missing = missing;
    this.contributions = contributions;
    this.batchRows = batchRows;
  }

  @Override
  public Iterator<InternalRow> call(Iterator<InternalRow> rows) {
    return new Scored(booster.value().get(), indexes(), rows);
  }

  /**
   * One partition's scored rows, batch after batch. The returned row is the same object each time, as Spark's own
   * operators return theirs (a consumer that keeps rows copies them).
   */
  private final class Scored implements Iterator<InternalRow> {
    private final Booster booster;
    private final List<Map<UTF8String, Float>> indexes;
    private final Iterator<InternalRow> rows;
    private final float[] matrix = new float[batchRows * width];
    private final InternalRow[] batch = new InternalRow[batchRows];
    private final SpecificInternalRow predicted = new SpecificInternalRow(contributions
        ? new StructType().add("p", DataTypes.DoubleType).add("m", DataTypes.DoubleType)
            .add("c", DataTypes.createArrayType(DataTypes.DoubleType, false))
        : new StructType().add("p", DataTypes.DoubleType));
    private final JoinedRow out = new JoinedRow();
    private float[][] probability;
    private float[][] margin;
    private float[][] contrib;
    private int size;
    private int next;

    Scored(Booster booster, List<Map<UTF8String, Float>> indexes, Iterator<InternalRow> rows) {
      this.booster = booster;
      this.indexes = indexes;
      this.rows = rows;
    }

    @Override
    public boolean hasNext() {
      if (next < size) {
        return true;
      }
      if (!rows.hasNext()) {
        return false;
      }
      size = 0;
      next = 0;
      while (size < batchRows && rows.hasNext()) {
        InternalRow row = rows.next();
        // the row's inputs go to the matrix while the row is in the CPU's cache: filling it column by column
        // afterwards re-read every kept row once per column (half of the batches' Java samples in a JFR profile)
        fill(row, indexes, matrix, size * width);
        batch[size++] = row.copy(); // the upstream operator reuses its row object
      }
      predict(size == batchRows ? matrix : Arrays.copyOf(matrix, size * width));
      return true;
    }

    @Override
    public InternalRow next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      int i = next++;
      predicted.setDouble(0, probability[i][0]);
      if (contributions) {
        predicted.setDouble(1, margin[i][0]);
        predicted.update(2, toDoubles(contrib[i]));
      }
      return out.apply(batch[i], predicted);
    }

    private void predict(float[] rowMajor) {
      try {
        if (contributions) {
          DMatrix dm = new DMatrix(rowMajor, size, width, missing);
          try {
            contrib = booster.predictContrib(dm, 0);
            margin = booster.predict(dm, true);
            probability = booster.predict(dm);
          } finally {
            dm.dispose();
          }
        } else {
          probability = booster.inplace_predict(rowMajor, size, width, missing);
        }
      } catch (XGBoostError e) {
        throw new IllegalStateException("XGBoost prediction failed", e);
      }
    }
  }

  /** Per booster input: value -> index for a category input (UTF8String: the row's bytes, nothing decoded). */
  private List<Map<UTF8String, Float>> indexes() {
    List<Map<UTF8String, Float>> out = new ArrayList<>(width);
    for (String[] vocabulary : vocabularies) {
      Map<UTF8String, Float> index = null;
      if (vocabulary != null) {
        index = new HashMap<>(vocabulary.length * 2);
        for (int k = 0; k < vocabulary.length; k++) {
          index.put(UTF8String.fromString(vocabulary[k]), (float) k);
        }
      }
      out.add(index);
    }
    return out;
  }

  /** One row's booster inputs into {@code matrix} from {@code offset}: doubles as floats, categories by index. */
  private void fill(InternalRow row, List<Map<UTF8String, Float>> indexes, float[] matrix, int offset) {
    for (int j = 0; j < width; j++) {
      int c = carried + j;
      Map<UTF8String, Float> index = indexes.get(j);
      if (index == null) {
        matrix[offset + j] = row.isNullAt(c) ? Float.NaN : (float) row.getDouble(c);
      } else {
        Float known = row.isNullAt(c) ? null : index.get(row.getUTF8String(c));
        matrix[offset + j] = known == null ? vocabularies[j].length : known; // unseen and null: the vocabulary size
      }
    }
  }

  private static UnsafeArrayData toDoubles(float[] values) {
    double[] d = new double[values.length];
    for (int j = 0; j < d.length; j++) {
      d[j] = values[j];
    }
    return UnsafeArrayData.fromPrimitiveArray(d);
  }
}
