package dev.kiln.common;

import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds the SparkSession every job runs in.
 *
 * <p>Embedded mode (no {@code spark.master} set, e.g. {@code ./kiln} or {@code java -jar}): {@code local[*]} with
 * settings sized for one machine. Under {@code spark-submit} the master and every {@code spark.*} setting it passes
 * are honoured; Kiln only adds what it cannot work without (Delta's extension and catalog, UTC session time zone)
 * when they are not already set.
 */
public final class SparkSessions {
  private static final Logger LOG = LoggerFactory.getLogger(SparkSessions.class);

  /** The session of the pipeline task running on this thread (and the threads it starts), if any. */
  private static final InheritableThreadLocal<SparkSession> TASK_SESSION = new InheritableThreadLocal<>();

  private SparkSessions() {}

  /**
   * Runs {@code body} with {@code session} as the session every job on this thread gets from {@link #getOrCreate}:
   * the pipeline runner gives each task its own {@code spark.newSession()} on the shared SparkContext.
   */
  public static <T> T callWith(SparkSession session, java.util.concurrent.Callable<T> body) throws Exception {
    SparkSession previous = TASK_SESSION.get();
    TASK_SESSION.set(session);
    SparkSession.setActiveSession(session);
    try {
      return body.call();
    } finally {
      if (previous == null) {
        TASK_SESSION.remove();
        SparkSession.clearActiveSession();
      } else {
        TASK_SESSION.set(previous);
        SparkSession.setActiveSession(previous);
      }
    }
  }

  public static SparkSession getOrCreate(String appName) {
    SparkSession task = TASK_SESSION.get();
    if (task != null) {
      return task;
    }
    SparkConf conf = new SparkConf(); // picks up spark.* system properties set by spark-submit
    boolean embedded = !conf.contains("spark.master");
    SparkSession.Builder builder = SparkSession.builder().appName(conf.get("spark.app.name", appName));
    int cores = Runtime.getRuntime().availableProcessors();
    if (embedded) {
      builder.master("local[*]");
      setIfAbsent(builder, conf, "spark.sql.shuffle.partitions", String.valueOf(Math.max(4, cores * 2)));
      // Delta replays its log with 50 partitions by default: far too many tasks for one machine.
      setIfAbsent(builder, conf, "spark.databricks.delta.snapshotPartitions", String.valueOf(Math.max(2, cores)));
      setIfAbsent(builder, conf, "spark.ui.showConsoleProgress", String.valueOf(System.console() != null));
      setIfAbsent(builder, conf, "spark.driver.host", "127.0.0.1");
      setIfAbsent(builder, conf, "spark.driver.bindAddress", "127.0.0.1");
      setIfAbsent(builder, conf, "spark.ui.enabled", "true");
      // Kiln addresses tables by path; keep Spark's default warehouse out of the working directory.
      setIfAbsent(builder, conf, "spark.sql.warehouse.dir",
          new java.io.File(System.getProperty("java.io.tmpdir"), "kiln-spark-warehouse").toURI().toString());
    }
    setIfAbsent(builder, conf, "spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension");
    setIfAbsent(builder, conf, "spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog");
    // Event times are stored and partitioned in UTC whatever the machine's zone.
    setIfAbsent(builder, conf, "spark.sql.session.timeZone", "UTC");
    // Kiln's own table writes never need Delta to guess a schema change.
    setIfAbsent(builder, conf, "spark.databricks.delta.schema.autoMerge.enabled", "false");
    SparkSession spark = builder.getOrCreate();
    spark.sparkContext().uiWebUrl().foreach(url -> {
      LOG.info("Spark UI: {}", url);
      return null;
    });
    return spark;
  }

  private static void setIfAbsent(SparkSession.Builder builder, SparkConf conf, String key, String value) {
    if (!conf.contains(key)) {
      builder.config(key, value);
    }
  }
}
