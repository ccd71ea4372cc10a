package dev.kiln.monitor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.amazon.deequ.analyzers.Completeness;
import com.amazon.deequ.analyzers.Compliance;
import com.amazon.deequ.analyzers.Uniqueness;
import com.amazon.deequ.analyzers.runners.AnalyzerContext;
import com.amazon.deequ.metrics.DoubleMetric;
import dev.kiln.monitor.QualityChecks.Metric;
import dev.kiln.monitor.QualityChecks.Spec;
import dev.kiln.testing.SharedSpark;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import scala.collection.JavaConverters;

class QualityChecksTest {
  private final SparkSession spark = SharedSpark.get();

  private static final StructType SCHEMA = new StructType()
      .add("id", DataTypes.StringType)
      .add("unit price", DataTypes.DoubleType)  // a space: the SQL predicates must quote it
      .add("category", DataTypes.StringType)
      .add("qty", DataTypes.IntegerType);

  /**
   * 10 rows. id: one null, "c" three times. unit price: two nulls, -1.0 and 5000.0 outside [0.5, 812.0], 0.5 on the
   * edge (inside). category: one null, "purple" and "it's new" unknown; "o'brien" and "back\slash" known.
   */
  private Dataset<Row> batch() {
    List<Row> rows = List.of(
        RowFactory.create("a", 10.0, "red", 1),
        RowFactory.create("b", 20.0, "blue", 2),
        RowFactory.create("c", null, "red", 3),
        RowFactory.create("c", 5000.0, "green", 4),
        RowFactory.create("d", -1.0, null, 5),
        RowFactory.create("e", 30.0, "o'brien", 6),
        RowFactory.create(null, 40.0, "purple", 7),
        RowFactory.create("f", null, "it's new", 8),
        RowFactory.create("c", 50.0, "blue", 9),
        RowFactory.create("g", 0.5, "back\\slash", 10));
    return spark.createDataFrame(rows, SCHEMA);
  }

  private static Spec spec() {
    return new Spec("id", List.of("id", "unit price", "category"),
        Map.of("unit price", new double[] {0.5, 812.0}),
        Map.of("category", Set.of("red", "blue", "green", "o'brien", "back\\slash")));
  }

  private static Metric find(List<Metric> metrics, String name, String column) {
    return metrics.stream().filter(m -> m.name().equals(name) && m.column().equals(column)).findFirst()
        .orElseThrow(() -> new AssertionError("no " + name + " of " + column + " in " + metrics));
  }

  private static double deequValue(AnalyzerContext context, Object analyzer) {
    @SuppressWarnings("unchecked")
    var key = (com.amazon.deequ.analyzers.Analyzer<?, com.amazon.deequ.metrics.Metric<?>>) analyzer;
    return (Double) context.metric(key).get().value().get();
  }

  @Test
  void measuresEveryMetricExactly() {
    List<Metric> metrics = QualityChecks.measure(batch(), spec());

    assertEquals(List.of("rows *", "null_rate id", "null_rate unit price", "null_rate category",
            "duplicate_key_rate id", "out_of_range_rate unit price", "unknown_value_rate category"),
        metrics.stream().map(m -> m.name() + " " + m.column()).toList());

    assertEquals(new Metric("rows", "*", 10, "10 rows"), metrics.get(0));
    assertEquals(0.1, find(metrics, "null_rate", "id").value());
    assertEquals(0.2, find(metrics, "null_rate", "unit price").value());
    assertEquals(0.1, find(metrics, "null_rate", "category").value());
    assertEquals("2 of 10 rows null", find(metrics, "null_rate", "unit price").detail());

    // 9 rows have a key; "c" is on 3 of them, every other key on one
    Metric dup = find(metrics, "duplicate_key_rate", "id");
    assertEquals(3.0 / 9, dup.value());
    assertEquals("3 of 9 rows with a key share it with another row (1 key repeated)", dup.detail());

    // 8 non-null prices; -1.0 and 5000.0 outside, 0.5 on the edge is inside
    Metric range = find(metrics, "out_of_range_rate", "unit price");
    assertEquals(2.0 / 8, range.value());
    assertEquals("2 of 8 non-null values outside [0.5, 812.0] (seen -1.0 to 5000.0)", range.detail());

    // 9 non-null categories; "purple" and "it's new" unknown, "o'brien" and "back\slash" known
    Metric unknown = find(metrics, "unknown_value_rate", "category");
    assertEquals(2.0 / 9, unknown.value());
    assertEquals("2 of 9 non-null values not among the 5 known values", unknown.detail());
  }

  @Test
  void theNumbersAreDeequsAnalyzerResults() {
    AnalyzerContext context = QualityChecks.analyze(batch(), spec());
    var metricMap = JavaConverters.mapAsJavaMap(context.metricMap());

    // Size, Completeness x3, Uniqueness, CountDistinct, Compliance x2, Minimum, Maximum: all succeeded
    assertEquals(10, metricMap.size());
    Set<String> names = new TreeSet<>();
    for (com.amazon.deequ.metrics.Metric<?> m : metricMap.values()) {
      assertTrue(m instanceof DoubleMetric, m.toString());
      assertTrue(m.value().isSuccess(), m.toString());
      names.add(m.name());
    }
    assertEquals(new TreeSet<>(List.of("Size", "Completeness", "Uniqueness", "CountDistinct", "Compliance",
        "Minimum", "Maximum")), names);

    // and measure() reports exactly what they say
    List<Metric> metrics = QualityChecks.measure(batch(), spec());
    scala.Option<String> none = scala.Option.empty();
    double completeness = deequValue(context, new Completeness("unit price", none, scala.Option.empty()));
    assertEquals(0.8, completeness);
    assertEquals(1 - completeness, find(metrics, "null_rate", "unit price").value(), 1e-15);
    double uniqueness = deequValue(context,
        new Uniqueness(JavaConverters.asScalaBuffer(List.of("id")).toList(), none, scala.Option.empty()));
    assertEquals(6.0 / 9, uniqueness);
    assertEquals(1 - uniqueness, find(metrics, "duplicate_key_rate", "id").value(), 1e-15);
    List<Double> compliance = new ArrayList<>();
    metricMap.forEach((analyzer, metric) -> {
      Object a = analyzer;  // Java cannot see that a Compliance is an Analyzer<?, Metric<?>>
      if (a instanceof Compliance c && c.instance().startsWith("unknown_value_rate")) {
        compliance.add((Double) metric.value().get());
        assertTrue(c.predicate().contains("CAST(`category` AS STRING) NOT IN ("), c.predicate());
      }
    });
    assertEquals(List.of(find(metrics, "unknown_value_rate", "category").value()), compliance);
  }

  @Test
  void sparkJobsDoNotGrowWithTheNumberOfColumns() throws Exception {
    // 2 columns vs 12: all scan analyzers share one aggregation, so the job count stays the same
    StructType schema = new StructType().add("id", DataTypes.LongType);
    for (int i = 0; i < 12; i++) {
      schema = schema.add("x" + i, DataTypes.DoubleType);
    }
    List<Row> rows = new ArrayList<>();
    for (int r = 0; r < 50; r++) {
      Object[] values = new Object[13];
      values[0] = (long) (r % 40);
      for (int i = 0; i < 12; i++) {
        values[i + 1] = r % 7 == i % 7 ? null : (double) (r * i);
      }
      rows.add(RowFactory.create(values));
    }
    Dataset<Row> wide = spark.createDataFrame(rows, schema);
    Map<String, double[]> twoRanges = new LinkedHashMap<>();
    Map<String, double[]> twelveRanges = new LinkedHashMap<>();
    for (int i = 0; i < 12; i++) {
      if (i < 2) {
        twoRanges.put("x" + i, new double[] {0, 100});
      }
      twelveRanges.put("x" + i, new double[] {0, 100});
    }
    Spec narrow = new Spec("id", List.copyOf(twoRanges.keySet()), twoRanges, Map.of());
    Spec broad = new Spec("id", List.copyOf(twelveRanges.keySet()), twelveRanges, Map.of());

    List<List<Metric>> results = new ArrayList<>();
    int narrowJobs = jobsOf(() -> results.add(QualityChecks.measure(wide, narrow)));
    int broadJobs = jobsOf(() -> results.add(QualityChecks.measure(wide, broad)));
    // 7 on Spark 3.5 with adaptive execution, where every shuffle stage is a job of its own: the scan aggregation
    // (2), the count of non-null keys (2) and the group-by on the key with its aggregation (3)
    assertTrue(narrowJobs > 0 && narrowJobs <= 8, "jobs: " + narrowJobs);
    assertEquals(narrowJobs, broadJobs, "Spark jobs for 2 columns vs 12");
    assertEquals(1 + 2 + 1 + 2, results.get(0).size());  // rows, null rates, duplicate keys, ranges
    assertEquals(1 + 12 + 1 + 12, results.get(1).size());
  }

  private int jobsOf(Runnable action) throws Exception {
    String group = "quality-checks-test-" + System.nanoTime();
    AtomicInteger jobs = new AtomicInteger();
    SparkListener listener = new SparkListener() {
      @Override
      public void onJobStart(SparkListenerJobStart start) {
        if (group.equals(start.properties().getProperty("spark.jobGroup.id"))) {
          jobs.incrementAndGet();
        }
      }
    };
    spark.sparkContext().addSparkListener(listener);
    try {
      spark.sparkContext().setJobGroup(group, "job count", false);
      action.run();
    } finally {
      spark.sparkContext().clearJobGroup();
      spark.sparkContext().listenerBus().waitUntilEmpty();
      spark.sparkContext().removeSparkListener(listener);
    }
    return jobs.get();
  }

  @Test
  void anEmptyBatchHasOnlyItsRowCount() {
    Dataset<Row> empty = spark.createDataFrame(List.<Row>of(), SCHEMA);
    assertEquals(List.of(new Metric("rows", "*", 0, "0 rows")), QualityChecks.measure(empty, spec()));
  }

  @Test
  void aColumnNullInEveryRowHasANullRateButNoRangeOrUnknownRate() {
    Dataset<Row> rows = spark.createDataFrame(List.of(
        RowFactory.create("a", null, null, 1),
        RowFactory.create("b", null, null, 2)), SCHEMA);
    List<Metric> metrics = QualityChecks.measure(rows, spec());
    assertEquals(List.of("rows", "null_rate", "null_rate", "null_rate", "duplicate_key_rate"),
        metrics.stream().map(Metric::name).toList());
    assertEquals(1.0, find(metrics, "null_rate", "unit price").value());
    assertEquals(1.0, find(metrics, "null_rate", "category").value());
    assertEquals(0.0, find(metrics, "duplicate_key_rate", "id").value());
  }

  @Test
  void deequFailuresBecomeIllegalStateExceptionsWithDeequsMessage() {
    Spec missing = new Spec("id", List.of("nope"), Map.of(), Map.of());
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> QualityChecks.measure(batch(), missing));
    assertTrue(e.getMessage().contains("Input data does not include column nope!"), e.getMessage());

    Spec notNumeric = new Spec(null, List.of(), Map.of("category", new double[] {0, 1}), Map.of());
    e = assertThrows(IllegalStateException.class, () -> QualityChecks.measure(batch(), notNumeric));
    assertTrue(e.getMessage().contains("Expected type of column category to be one of"), e.getMessage());
  }

  @Test
  void integerColumnsEmptyAndLargeKnownSets() {
    // qty 1..10 against [2.5, 9.00001]: 1, 2 and 10 are outside; no category known: every non-null one unknown
    Spec spec = new Spec(null, List.of(), Map.of("qty", new double[] {2.5, 9.00001}), Map.of("category", Set.of()));
    List<Metric> metrics = QualityChecks.measure(batch(), spec);
    assertEquals(3.0 / 10, find(metrics, "out_of_range_rate", "qty").value());
    assertEquals(1.0, find(metrics, "unknown_value_rate", "category").value());

    // MAX_KNOWN_VALUES values (a few with quotes) still work; one more and the column gets no unknown rate
    Set<String> atCap = IntStream.range(0, QualityChecks.MAX_KNOWN_VALUES - 4).mapToObj(i -> "v" + i)
        .collect(Collectors.toCollection(HashSet::new));
    atCap.addAll(List.of("a", "b", "it's", "x\\y"));
    Set<String> overCap = IntStream.range(0, QualityChecks.MAX_KNOWN_VALUES + 1).mapToObj(Integer::toString)
        .collect(Collectors.toSet());
    Map<String, Set<String>> known = new LinkedHashMap<>();
    known.put("category", overCap);
    known.put("id", atCap);
    metrics = QualityChecks.measure(batch(), new Spec(null, List.of(), Map.of(), known));
    assertEquals(List.of("rows *", "unknown_value_rate id"),
        metrics.stream().map(m -> m.name() + " " + m.column()).toList());
    assertEquals(7.0 / 9, find(metrics, "unknown_value_rate", "id").value());  // 9 keys, only a and b known
  }

  @Test
  void literalsAndIdentifiers() {
    assertEquals("'red'", QualityChecks.stringLiteral("red"));
    assertEquals("CAST(X'6F27627269656E' AS STRING)", QualityChecks.stringLiteral("o'brien"));
    assertEquals("`a``b`", QualityChecks.quoteIdentifier("a`b"));
    assertEquals("(1.0E-5D)", QualityChecks.doubleLiteral(1e-5));
    assertEquals("(-0.5D)", QualityChecks.doubleLiteral(-0.5));
    assertEquals("CAST('-Infinity' AS DOUBLE)", QualityChecks.doubleLiteral(Double.NEGATIVE_INFINITY));
    // Spark reads them back as written
    Row row = spark.sql("SELECT " + QualityChecks.stringLiteral("it's a \\ \n test") + ", "
        + QualityChecks.doubleLiteral(1e-5) + ", " + QualityChecks.doubleLiteral(-0.5) + ", "
        + QualityChecks.doubleLiteral(Double.NEGATIVE_INFINITY)).first();
    assertEquals("it's a \\ \n test", row.getString(0));
    assertEquals(1e-5, row.getDouble(1));
    assertEquals(-0.5, row.getDouble(2));
    assertEquals(Double.NEGATIVE_INFINITY, row.getDouble(3));
  }
}
