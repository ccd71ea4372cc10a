package dev.kiln.ingest;

import com.fasterxml.jackson.databind.JsonNode;
import com.univocity.parsers.csv.CsvParser;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.Messages;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks every source file before anything is written: that it is in the declared format and carries the schema's
 * required columns. A failure is a one-line {@link KilnUserException} naming the file; no table changes.
 */
final class SourceCheck {
  private static final Logger LOG = LoggerFactory.getLogger(SourceCheck.class);

  private SourceCheck() {}

  static void check(SparkSession spark, List<SourceFile> files, SourceFormat format, SchemaSpec schema) {
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    Set<String> warned = new LinkedHashSet<>();
    for (SourceFile f : files) {
      SourceFormat sniffed = sniff(f.path(), conf);
      if (sniffed != null && sniffed != format) {
        throw new KilnUserException("source file looks like " + sniffed.cliName() + ", not " + format.cliName()
            + " (" + f.path() + "); pass --format " + sniffed.cliName());
      }
      List<String> columns = switch (format) {
        case CSV -> csvHeader(f.path(), conf);
        case JSON -> jsonFirstRecordKeys(f.path(), conf);
        case PARQUET -> parquetColumns(spark, f.path());
      };
      if (format != SourceFormat.JSON) {
        List<String> missing = new ArrayList<>(schema.requiredColumns());
        missing.removeAll(columns);
        if (!missing.isEmpty()) {
          throw new KilnUserException("source file lacks required column(s) " + String.join(", ", missing)
              + " of schema " + schema.name() + " (" + f.path() + (format == SourceFormat.CSV ? ", line 1" : "")
              + ")");
        }
      }
      List<String> extra = new ArrayList<>(columns);
      extra.removeAll(schema.columnNames());
      if (!extra.isEmpty() && warned.add(String.join(",", extra))) {
        LOG.warn("ignoring column(s) not in schema {}: {} (first seen in {})", schema.name(),
            String.join(", ", extra), f.path());
      }
    }
  }

  /** What the first bytes say the file is, or null when they don't tell (plain text that is not JSON). */
  static SourceFormat sniff(String file, Configuration conf) {
    try (InputStream raw = new Path(file).getFileSystem(conf).open(new Path(file))) {
      byte[] head = raw.readNBytes(4);
      if (head.length == 4 && head[0] == 'P' && head[1] == 'A' && head[2] == 'R' && head[3] == '1') {
        return SourceFormat.PARQUET;
      }
    } catch (IOException e) {
      throw new KilnUserException("cannot read source file (" + file + "): " + e.getMessage());
    }
    try (Reader reader = FileRecords.openReader(file, conf)) {
      int c;
      do {
        c = reader.read();
      } while (c != -1 && Character.isWhitespace(c));
      if (c == '{') {
        return SourceFormat.JSON;
      }
      if (c == 0 || c == -1) {
        return null;
      }
      return SourceFormat.CSV;
    } catch (IOException | RuntimeException e) {
      throw new KilnUserException("cannot read source file (" + file + "): " + e.getMessage());
    }
  }

  private static List<String> csvHeader(String file, Configuration conf) {
    try (Reader reader = FileRecords.openReader(file, conf)) {
      CsvParser parser = FileRecords.csvParser();
      parser.beginParsing(reader);
      String[] header = parser.parseNext();
      parser.stopParsing();
      if (header == null) {
        throw new KilnUserException("source file has no header row (" + file + ")");
      }
      return Arrays.asList(FileRecords.normalizeHeader(header));
    } catch (IOException e) {
      throw new KilnUserException("cannot read source file (" + file + "): " + e.getMessage());
    }
  }

  private static List<String> jsonFirstRecordKeys(String file, Configuration conf) {
    try (BufferedReader reader = (BufferedReader) FileRecords.openReader(file, conf)) {
      String line;
      long n = 0;
      do {
        line = reader.readLine();
        n++;
      } while (line != null && line.isBlank());
      if (line == null) {
        throw new KilnUserException("source file has no records (" + file + ")");
      }
      JsonNode node;
      try {
        node = FileRecords.MAPPER.readTree(line);
      } catch (IOException e) {
        throw new KilnUserException("source file is not JSON Lines (" + file + ", line " + n + ")");
      }
      if (node == null || !node.isObject()) {
        throw new KilnUserException("source file is not JSON Lines: line " + n + " is not an object (" + file + ")");
      }
      List<String> keys = new ArrayList<>();
      node.fieldNames().forEachRemaining(keys::add);
      return keys;
    } catch (IOException e) {
      throw new KilnUserException("cannot read source file (" + file + "): " + e.getMessage());
    }
  }

  private static List<String> parquetColumns(SparkSession spark, String file) {
    try {
      return Arrays.asList(spark.read().parquet(file).schema().fieldNames());
    } catch (RuntimeException e) {
      throw new KilnUserException("cannot read Parquet file (" + file + "): "
          + Messages.firstLine(e.getMessage(), "unknown error"));
    }
  }
}
