package dev.kiln.common;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/** Small files (manifests, metrics, model cards) on any Hadoop filesystem the data root lives on. */
public final class HadoopFiles {
  private HadoopFiles() {}

  /** Writes {@code text} to a temporary name and renames it, so readers see the whole file or none. */
  public static void writeAtomically(SparkSession spark, String path, String text) {
    writeAtomically(spark, path, text.getBytes(StandardCharsets.UTF_8));
  }

  /** Writes {@code bytes} to a temporary name and renames it, so readers see the whole file or none. */
  public static void writeAtomically(SparkSession spark, String path, byte[] bytes) {
    Path file = new Path(path);
    Path tmp = new Path(file.getParent(), "." + file.getName() + ".tmp");
    try {
      FileSystem fs = file.getFileSystem(spark.sparkContext().hadoopConfiguration());
      try (OutputStream out = fs.create(tmp, true)) {
        out.write(bytes);
      }
      fs.delete(file, false);
      if (!fs.rename(tmp, file)) {
        throw new IOException("rename of " + tmp + " failed");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + path, e);
    }
  }

  /** The file's text, or empty when it does not exist. */
  public static Optional<String> read(SparkSession spark, String path) {
    Path file = new Path(path);
    try {
      FileSystem fs = file.getFileSystem(spark.sparkContext().hadoopConfiguration());
      if (!fs.exists(file)) {
        return Optional.empty();
      }
      try (InputStream in = fs.open(file)) {
        return Optional.of(new String(in.readAllBytes(), StandardCharsets.UTF_8));
      }
    } catch (IOException e) {
      throw new KilnUserException("cannot read " + path + ": " + e.getMessage());
    }
  }
}
