package dev.kiln.score;

import java.util.ArrayList;
import java.util.Collections;
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
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.JoinedRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
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
  /** Rows per native call (XGBoost4J-Spark's default {@code inferBatchSize}). */
  static final int BATCH_ROWS = 32 << 10;

  private final Broadcast<TaskBooster> booster;
  private final int carried;
  private final int width;
  /** Per booster input: the vocabulary of a category input, null for a numeric one. */
  private final String[][] vocabularies;
  private final float missing;
  private final boolean contributions;

  BoosterBatches(Broadcast<TaskBooster> booster, int carried, String[][] vocabularies, float missing,
                 boolean contributions) {
    this.booster = booster;
    this.carried = carried;
    this.width = vocabularies.length;
    this.vocabularies = vocabularies;
    this.missing = missing;
    this.contributions = contributions;
  }

  @Override
  public Iterator<InternalRow> call(Iterator<InternalRow> rows) {
    Booster b = booster.value().get();
    List<Map<UTF8String, Float>> indexes = indexes();
    return new Iterator<>() {
      private Iterator<InternalRow> scored = Collections.emptyIterator();

      @Override
      public boolean hasNext() {
        while (!scored.hasNext() && rows.hasNext()) {
          List<InternalRow> batch = new ArrayList<>(BATCH_ROWS);
          while (batch.size() < BATCH_ROWS && rows.hasNext()) {
            batch.add(rows.next().copy()); // the upstream operator reuses its row object
          }
          scored = score(b, indexes, batch).iterator();
        }
        return scored.hasNext();
      }

      @Override
      public InternalRow next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        return scored.next();
      }
    };
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

  private List<InternalRow> score(Booster b, List<Map<UTF8String, Float>> indexes, List<InternalRow> batch) {
    int n = batch.size();
    float[] matrix = new float[n * width];
    for (int j = 0; j < width; j++) {
      Map<UTF8String, Float> index = indexes.get(j);
      int c = carried + j;
      if (index == null) {
        for (int i = 0; i < n; i++) {
          InternalRow row = batch.get(i);
          matrix[i * width + j] = row.isNullAt(c) ? Float.NaN : (float) row.getDouble(c);
        }
      } else {
        Float unseen = (float) vocabularies[j].length;
        for (int i = 0; i < n; i++) {
          InternalRow row = batch.get(i);
          matrix[i * width + j] = row.isNullAt(c) ? unseen : index.getOrDefault(row.getUTF8String(c), unseen);
        }
      }
    }
    float[][] probability;
    float[][] margin = null;
    float[][] contrib = null;
    try {
      if (contributions) {
        DMatrix dm = new DMatrix(matrix, n, width, missing);
        try {
          contrib = b.predictContrib(dm, 0);
          margin = b.predict(dm, true);
          probability = b.predict(dm);
        } finally {
          dm.dispose();
        }
      } else {
        probability = b.inplace_predict(matrix, n, width, missing);
      }
    } catch (XGBoostError e) {
      throw new IllegalStateException("XGBoost prediction failed", e);
    }
    List<InternalRow> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      Object[] predicted = contributions
          ? new Object[] {(double) probability[i][0], (double) margin[i][0], toDoubles(contrib[i])}
          : new Object[] {(double) probability[i][0]};
      out.add(new JoinedRow(batch.get(i), new GenericInternalRow(predicted)));
    }
    return out;
  }

  private static UnsafeArrayData toDoubles(float[] values) {
    double[] d = new double[values.length];
    for (int j = 0; j < d.length; j++) {
      d[j] = values[j];
    }
    return UnsafeArrayData.fromPrimitiveArray(d);
  }
}
