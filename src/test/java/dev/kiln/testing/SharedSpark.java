package dev.kiln.testing;

import dev.kiln.common.SparkSessions;
import org.apache.spark.sql.SparkSession;

/**
 * One local SparkSession for every test class in the JVM (Surefire runs the classes in a few long-lived forks, each
 * with its own session and its own warehouse directory).
 */
public final class SharedSpark {
  private static SparkSession spark;

  private SharedSpark() {}

  public static synchronized SparkSession get() {
    if (spark == null) {
      // Through the same factory the jobs use, so its Delta settings are tested too; sized for small test data.
      System.setProperty("spark.master", "local[2]");
      System.setProperty("spark.ui.enabled", "false");
      System.setProperty("spark.sql.shuffle.partitions", "4");
      System.setProperty("spark.default.parallelism", "2");
      System.setProperty("spark.databricks.delta.snapshotPartitions", "2");
      System.setProperty("spark.ui.showConsoleProgress", "false");
      System.setProperty("spark.driver.host", "127.0.0.1");
      System.setProperty("spark.driver.bindAddress", "127.0.0.1");
      String fork = System.getProperty("kiln.test.fork", "1");
      System.setProperty("spark.sql.warehouse.dir",
          new java.io.File("target/test-warehouse-" + fork).toURI().toString());
      spark = SparkSessions.getOrCreate("kiln-tests");
    }
    return spark;
  }
}
