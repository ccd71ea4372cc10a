// Ingestion benchmark: Kiln's validated, deduplicated, exactly-once ingest against plain Spark on the same files,
// side by side in one JVM and one SparkSession. Run with bench/ingest.sh (see bench/README.md).
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.to_date;

import dev.kiln.common.DataRoot;
import dev.kiln.common.Json;
import dev.kiln.common.SparkSessions;
import dev.kiln.generate.EventGenerator;
import dev.kiln.generate.GenerateConfig;
import dev.kiln.generate.GenerateResult;
import dev.kiln.ingest.IngestConfig;
import dev.kiln.ingest.IngestJob;
import dev.kiln.ingest.IngestResult;
import dev.kiln.ingest.SourceFormat;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

public class IngestBench {
  interface Case {
    long run(Path work) throws Exception; // returns rows written
  }

  public static void main(String[] args) throws Exception {
    long rows = args.length > 0 ? Long.parseLong(args[0]) : 1_000_000;
    int repeats = args.length > 1 ? Integer.parseInt(args[1]) : 3;
    Path base = Path.of(args.length > 2 ? args[2] : "target/bench-ingest").toAbsolutePath();
    Path src = base.resolve("src");
    GenerateResult gen = new EventGenerator(new GenerateConfig(rows, src, 42, 0.01, 0)).generateIfAbsent();
    SparkSession spark = SparkSessions.getOrCreate("kiln bench ingest");
    spark.sparkContext().setLogLevel("ERROR");
    String csvGlob = src.resolve("*.csv").toString();
    StructType csvSchema = new StructType().add("event_id", DataTypes.StringType).add("user_id", DataTypes.StringType)
        .add("item_id", DataTypes.StringType).add("category", DataTypes.StringType)
        .add("device", DataTypes.StringType).add("country", DataTypes.StringType)
        .add("price", DataTypes.DoubleType).add("timestamp", DataTypes.TimestampType)
        .add("label", DataTypes.IntegerType);

    Map<String, Case> cases = new LinkedHashMap<>();
    cases.put("spark csv -> parquet (no checks)", work -> {
      Dataset<Row> df = spark.read().option("header", "true").schema(csvSchema).csv(csvGlob);
      df.write().parquet(work.resolve("parquet").toString());
      return spark.read().parquet(work.resolve("parquet").toString()).count();
    });
    cases.put("spark csv -> delta, by date (no checks)", work -> {
      Dataset<Row> df = spark.read().option("header", "true").schema(csvSchema).csv(csvGlob)
          .withColumn("event_date", to_date(col("timestamp")));
      df.repartition(col("event_date")).write().format("delta").partitionBy("event_date")
          .save(work.resolve("delta").toString());
      return spark.read().format("delta").load(work.resolve("delta").toString()).count();
    });
    cases.put("kiln ingest (validate, dedupe, PII, quarantine, log)", work -> {
      IngestResult r = new IngestJob(new IngestConfig(DataRoot.of(work.toString()), src.toString(),
          SourceFormat.CSV, "events", Path.of("conf/schemas/events.yaml"),
          Optional.of("bench-salt-0123".getBytes(StandardCharsets.UTF_8)))).run(spark);
      if (r.accepted() != gen.expectedAccepted()) {
        throw new IllegalStateException("accepted " + r.accepted() + " != truth " + gen.expectedAccepted());
      }
      return r.read();
    });

    // warm-up: JIT, class loading and Delta's first-use costs are not what we want to compare
    for (Case c : cases.values()) {
      Path w = Files.createTempDirectory(base, "warm");
      c.run(w);
    }
    Map<String, List<Double>> seconds = new LinkedHashMap<>();
    Map<String, Long> written = new LinkedHashMap<>();
    for (int i = 0; i < repeats; i++) {
      for (Map.Entry<String, Case> c : cases.entrySet()) {
        Path w = Files.createTempDirectory(base, "run");
        long t0 = System.nanoTime();
        written.put(c.getKey(), c.getValue().run(w));
        seconds.computeIfAbsent(c.getKey(), k -> new ArrayList<>()).add((System.nanoTime() - t0) / 1e9);
      }
    }

    String baseline = cases.keySet().iterator().next();
    double baseMedian = median(seconds.get(baseline));
    System.out.printf("%nIngest benchmark: %,d lines (%d files, %.0f MB), %d cores, median of %d runs%n",
        gen.linesWritten(), gen.files().size(), dirSize(src) / 1e6, Runtime.getRuntime().availableProcessors(),
        repeats);
    System.out.printf("%-55s %10s %12s %14s%n", "case", "median s", "rows/s", "speed vs base");
    List<Map<String, Object>> results = new ArrayList<>();
    for (String name : cases.keySet()) {
      double m = median(seconds.get(name));
      System.out.printf("%-55s %10.2f %,12.0f %13.2fx%n", name, m, gen.linesWritten() / m, baseMedian / m);
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("case", name);
      r.put("median_seconds", m);
      r.put("runs_seconds", seconds.get(name));
      r.put("rows", written.get(name));
      r.put("speed_vs_baseline", baseMedian / m);
      results.add(r);
    }
    Map<String, Object> report = new LinkedHashMap<>();
    report.put("benchmark", "ingest");
    report.put("at", Instant.now().toString());
    report.put("lines", gen.linesWritten());
    report.put("cores", Runtime.getRuntime().availableProcessors());
    report.put("repeats", repeats);
    report.put("results", results);
    Path out = Path.of("bench/results");
    Files.createDirectories(out);
    Path file = out.resolve("ingest-" + rows + ".json");
    Files.writeString(file, Json.toPrettyJson(report) + "\n");
    System.out.println("\nwrote " + file);
  }

  static double median(List<Double> xs) {
    double[] a = xs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    return a.length % 2 == 1 ? a[a.length / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
  }

  static long dirSize(Path dir) throws Exception {
    try (var s = Files.list(dir)) {
      return s.mapToLong(p -> p.toFile().length()).sum();
    }
  }
}
