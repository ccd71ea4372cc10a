package dev.kiln.testing;

import dev.kiln.common.DataRoot;
import dev.kiln.generate.EventGenerator;
import dev.kiln.generate.GenerateConfig;
import dev.kiln.ingest.IngestConfig;
import dev.kiln.ingest.IngestJob;
import dev.kiln.ingest.SourceFormat;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;

/** Test fixture: generated clean events ingested into {@code bronze.events} with the real ingest job. */
public final class GeneratedEvents {
  private GeneratedEvents() {}

  /** Generates {@code rows} events into {@code dir/src} ({@code files} files). */
  public static Path generate(Path dir, long rows, long seed, int files) {
    new EventGenerator(new GenerateConfig(rows, dir.resolve("src"), seed, 0.0, files)).generate();
    return dir.resolve("src");
  }

  /** Ingests {@code source} (a file, directory or glob) into {@code root}'s bronze.events. */
  public static void ingest(SparkSession spark, DataRoot root, String source) {
    new IngestJob(new IngestConfig(root, source, SourceFormat.CSV, "events", Path.of("conf/schemas/events.yaml"),
        Optional.of("salt-0123456789".getBytes(StandardCharsets.UTF_8)))).run(spark);
  }

  /** Generates {@code rows} events into one file and ingests them into {@code dir/root}. */
  public static DataRoot ingested(SparkSession spark, Path dir, long rows, long seed) {
    Path src = generate(dir, rows, seed, 1);
    DataRoot root = DataRoot.of(dir.resolve("root").toString());
    ingest(spark, root, src.toString());
    return root;
  }
}
