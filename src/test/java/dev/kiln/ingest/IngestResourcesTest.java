package dev.kiln.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.DataRoot;
import dev.kiln.common.SerializableHadoopConf;
import dev.kiln.generate.EventGenerator;
import dev.kiln.generate.GenerateConfig;
import dev.kiln.testing.SharedSpark;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.io.compress.CompressionInputStream;
import org.apache.hadoop.io.compress.DefaultCodec;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Source readers are closed however a task ends, and the Hadoop configuration reaches tasks as one broadcast. */
class IngestResourcesTest {
  @TempDir
  Path tmp;

  private final SparkSession spark = SharedSpark.get();

  private IngestResult ingest(Path source, SourceFormat format, DataRoot root) {
    return new IngestJob(new IngestConfig(root, source.toString(), format, "events", IngestJobTest.SCHEMA,
        Optional.of(IngestJobTest.SALT.getBytes(StandardCharsets.UTF_8)))).run(spark);
  }

  @Test
  void aTaskThatFailsMidFileStillClosesTheFile() throws Exception {
    // JSON Lines: the CSV parser closes its input itself when a read throws, a plain reader does not
    Path src = Files.createDirectories(tmp.resolve("src"));
    StringBuilder lines = new StringBuilder();
    for (int i = 0; i < 5_000; i++) {
      lines.append("{\"event_id\":\"ev").append(i).append("\"}\n");
    }
    for (int f = 0; f < 2; f++) {
      Files.writeString(src.resolve("events-" + f + ".json" + FailingCodec.EXTENSION), lines);
    }
    Configuration hadoop = spark.sparkContext().hadoopConfiguration();
    String codecs = hadoop.get("io.compression.codecs");
    hadoop.set("io.compression.codecs", FailingCodec.class.getName());
    FailingCodec.OPENED.set(0);
    FailingCodec.CLOSED.set(0);
    try {
      Exception e = assertThrows(Exception.class, () -> ingest(src, SourceFormat.JSON, DataRoot.of(tmp.resolve("root").toString())));
      // the fault happened: a read failed partway through a file that was opened
      StringWriter trace = new StringWriter();
      e.printStackTrace(new PrintWriter(trace));
      assertTrue(trace.toString().contains(FailingCodec.FAULT), trace.toString());
      assertTrue(FailingCodec.OPENED.get() >= 1);
    } finally {
      if (codecs == null) {
        hadoop.unset("io.compression.codecs");
      } else {
        hadoop.set("io.compression.codecs", codecs);
      }
    }
    // a sibling task is cancelled when the job fails; it may still be finishing after the job has failed
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (FailingCodec.CLOSED.get() < FailingCodec.OPENED.get() && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    assertEquals(FailingCodec.OPENED.get(), FailingCodec.CLOSED.get(), "every opened source stream is closed");
  }

  @Test
  void theHadoopConfigurationIsNotDeserializedPerTask() {
    new EventGenerator(new GenerateConfig(8_000, tmp.resolve("src"), 5, 0.0, 4)).generate();
    long before = SerializableHadoopConf.deserializations();

    IngestResult r = ingest(tmp.resolve("src"), SourceFormat.CSV, DataRoot.of(tmp.resolve("root").toString()));

    assertEquals(8_000, r.read());
    assertEquals(List.of(4), r.batches().stream().map(BatchResult::files).toList(), "4 files, 4 read tasks");
    // a broadcast is deserialized at most once per executor (not at all in local mode: the driver's own copy)
    assertTrue(SerializableHadoopConf.deserializations() - before <= 1,
        "deserialized " + (SerializableHadoopConf.deserializations() - before) + " times");
  }

  /** Passes bytes through unchanged for {@value #LIMIT} bytes, then fails like a corrupt block; counts its streams. */
  public static final class FailingCodec extends DefaultCodec {
    static final String EXTENSION = ".failing";
    static final String FAULT = "corrupt block (test)";
    static final int LIMIT = 64 * 1024;
    static final AtomicInteger OPENED = new AtomicInteger();
    static final AtomicInteger CLOSED = new AtomicInteger();

    @Override
    public String getDefaultExtension() {
      return EXTENSION;
    }

    @Override
    public CompressionInputStream createInputStream(InputStream in) throws IOException {
      OPENED.incrementAndGet();
      return new CompressionInputStream(in) {
        private long read;
        private boolean closed;

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
          if (read >= LIMIT) {
            throw new IOException(FAULT);
          }
          int n = in.read(b, off, (int) Math.min(len, LIMIT - read));
          read += Math.max(n, 0);
          return n;
        }

        @Override
        public int read() throws IOException {
          byte[] one = new byte[1];
          return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public void resetState() {}

        @Override
        public void close() throws IOException {
          if (!closed) {
            closed = true;
            CLOSED.incrementAndGet();
          }
          super.close();
        }
      };
    }
  }
}
