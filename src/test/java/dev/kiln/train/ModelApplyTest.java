package dev.kiln.train;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.when;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.registry.ResolvedModel;
import dev.kiln.testing.ChampionModel;
import dev.kiln.testing.SharedSpark;
import java.util.List;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.junit.jupiter.api.Test;

/**
 * The native booster path ({@link BoosterApply}) gives exactly the saved pipeline's numbers (XGBoost4J-Spark's
 * transform): probability, margin and contributions, bit for bit, on every row, missing values included.
 */
class ModelApplyTest {
  private final SparkSession spark = SharedSpark.get();

  @Test
  void theNativeBoosterPathEqualsThePipelinesTransformExactly() {
    ChampionModel champion = ChampionModel.get();
    ResolvedModel resolved = ResolvedModel.of(spark, champion.root, "clicks@champion");
    PipelineModel model = resolved.pipeline();
    Dataset<Row> table = spark.read().format("delta").load(champion.root.resolve("tables/features/clicks"));
    // a copy of some rows with inputs missing: a count aggregate (no imputer: NaN reaches the booster), an imputed
    // CTR and a category (the unknown bucket), so that nulls take the same way through both paths
    Dataset<Row> gaps = table.orderBy("event_id").limit(500) // ordered: each evaluation takes the same rows
        .withColumn("event_id", org.apache.spark.sql.functions.concat(col("event_id"), lit("-gaps")))
        .withColumn("user_events_1h", when(col("user_events_1h").gt(0), col("user_events_1h")))
        .withColumn("item_ctr_events", lit(null).cast(DataTypes.LongType))
        .withColumn("category", lit(null).cast(DataTypes.StringType));
    // and values training never saw: the indexer's unknown bucket, which the native path looks up itself
    Dataset<Row> unseen = table.orderBy("event_id").limit(300)
        .withColumn("event_id", org.apache.spark.sql.functions.concat(col("event_id"), lit("-unseen")))
        .withColumn("device", lit("a device never seen"))
        .withColumn("country", lit("ZZ"));
    Dataset<Row> rows = table.unionByName(gaps).unionByName(unseen);
    List<Column> carried = List.of(col("event_id"));

    ModelApply fast = ModelApply.of(model);
    assertInstanceOf(BoosterApply.class, fast, "Kiln's XGBoost pipelines take the native path");
    // the category columns are indexed in the batches, not by the StringIndexer's UDF
    assertEquals(java.util.Set.of("i_category", "i_device", "i_country"), ((BoosterApply) fast).indexedInBatches());
    ModelApply pipeline = new ModelApply.PipelineApply(model);
    // also in batches of 97 rows: every partition fills batches (one matrix reused) and ends on a short one
    ModelApply smallBatches = ((BoosterApply) fast).withBatchRows(97);
    for (boolean contributions : new boolean[] {false, true}) {
      Dataset<Row> small = smallBatches.apply(rows, carried, contributions);
      assertEquals(rows.count(), small.count(), "batches of 97 rows");
      assertEquals(0, small.exceptAll(pipeline.apply(rows, carried, contributions)).count(), "batches of 97 rows");
      Dataset<Row> a = fast.apply(rows, carried, contributions);
      Dataset<Row> b = pipeline.apply(rows, carried, contributions);
      assertEquals(List.of(b.columns()), List.of(a.columns()));
      long n = rows.count();
      assertEquals(n, a.count());
      assertEquals(0, a.exceptAll(b).count(), "native and pipeline outputs differ (contributions " + contributions
          + ")");
      assertEquals(0, b.exceptAll(a).count());
      assertTrue(n > 1000, "rows " + n);
    }
    // the model's own stages are untouched: the pipeline still has no contribution column afterwards
    assertEquals(-1, List.of(model.transform(rows.limit(1)).columns()).indexOf("_contrib"));
  }
}
