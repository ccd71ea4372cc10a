package dev.kiln.ingest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.univocity.parsers.csv.CsvParser;
import com.univocity.parsers.csv.CsvParserSettings;
import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.NoSuchElementException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.compress.CompressionCodec;
import org.apache.hadoop.io.compress.CompressionCodecFactory;
import org.apache.spark.sql.Row;

/**
 * Streams the records of one CSV or JSON Lines file as validated rows, with the physical line each record starts on.
 * Runs inside Spark tasks, one file per task; memory stays bounded whatever the file size.
 */
abstract class FileRecords implements Iterator<Row>, Closeable {
  static final ObjectMapper MAPPER = new ObjectMapper();

  final String file;
  final RecordValidator validator;
  private Row next;
  private boolean done;

  FileRecords(String file, RecordValidator validator) {
    this.file = file;
    this.validator = validator;
  }

  static FileRecords open(SourceFormat format, String file, RecordValidator validator, Configuration conf) {
    Reader reader = openReader(file, conf);
    try {
      return switch (format) {
        case CSV -> new Csv(file, validator, reader);
        case JSON -> new JsonLines(file, validator, reader);
        case PARQUET -> throw new IllegalArgumentException("parquet is read by Spark, not record by record");
      };
    } catch (RuntimeException e) { // e.g. the CSV header cannot be read: no FileRecords owns the reader yet
      try {
        reader.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  /** Opens a file as UTF-8 text, decompressing by extension (.gz, .bz2, ...) and skipping a byte-order mark. */
  static Reader openReader(String file, Configuration conf) {
    try {
      Path path = new Path(file);
      FileSystem fs = path.getFileSystem(conf);
      InputStream in = fs.open(path, 1 << 20);
      CompressionCodec codec = new CompressionCodecFactory(conf).getCodec(path);
      if (codec != null) {
        in = codec.createInputStream(in);
      }
      BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8), 1 << 20);
      reader.mark(1);
      if (reader.read() != '\uFEFF') {
        reader.reset();
      }
      return reader;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open " + file, e);
    }
  }

  /** The next validated row, or null at the end of the file. */
  abstract Row readNext();

  @Override
  public boolean hasNext() {
    if (next == null && !done) {
      next = readNext();
      if (next == null) {
        done = true;
        closeQuietly();
      }
    }
    return next != null;
  }

  @Override
  public Row next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    Row r = next;
    next = null;
    return r;
  }

  void closeQuietly() {
    try {
      close();
    } catch (IOException ignored) {
      // reading is finished; nothing to recover
    }
  }

  static String placeholder(int fields) {
    return "[redacted: malformed record with " + fields + " field(s) and PII columns; see source file and line]";
  }

  static CsvParser csvParser() {
    CsvParserSettings s = new CsvParserSettings();
    s.setLineSeparatorDetectionEnabled(true);
    s.setMaxCharsPerColumn(-1);
    s.setMaxColumns(4096);
    s.setNullValue(null);
    s.setEmptyValue("");
    s.setIgnoreLeadingWhitespaces(false);
    s.setIgnoreTrailingWhitespaces(false);
    s.setSkipEmptyLines(true);
    return new CsvParser(s);
  }

  static String[] normalizeHeader(String[] header) {
    String[] h = new String[header.length];
    for (int i = 0; i < header.length; i++) {
      h[i] = header[i] == null ? "" : header[i].trim();
    }
    return h;
  }

  /** CSV with a header row; columns are matched by name, so order may differ and extra columns are ignored. */
  static final class Csv extends FileRecords {
    private final CsvParser parser;
    private final int[] positions;
    private final int headerWidth;

    Csv(String file, RecordValidator validator, Reader reader) {
      super(file, validator);
      this.parser = csvParser();
      parser.beginParsing(reader);
      String[] header = parser.parseNext();
      if (header == null) {
        header = new String[0];
      }
      header = normalizeHeader(header);
      headerWidth = header.length;
      Map<String, Integer> byName = new HashMap<>();
      for (int i = 0; i < header.length; i++) {
        byName.putIfAbsent(header[i], i);
      }
      positions = new int[validator.columnCount()];
      for (int i = 0; i < positions.length; i++) {
        positions[i] = byName.getOrDefault(validator.column(i).name(), -1);
      }
    }

    @Override
    Row readNext() {
      String[] tokens = parser.parseNext();
      if (tokens == null) {
        return null;
      }
      String content = parser.getContext().currentParsedContent();
      String raw = content == null ? "" : stripLineEnd(content);
      long line = parser.getContext().currentLine() - newlines(raw);
      if (tokens.length != headerWidth) {
        String stored = validator.hasPii() ? placeholder(tokens.length) : raw;
        return validator.malformed(file, line, stored);
      }
      String[] values = new String[positions.length];
      for (int i = 0; i < positions.length; i++) {
        values[i] = positions[i] < 0 ? null : tokens[positions[i]];
      }
      return validator.validate(values, file, line, () -> validator.hasPii() ? redacted(tokens) : raw);
    }

    /** The record re-serialized as CSV with PII fields replaced by their hashes. */
    private String redacted(String[] tokens) {
      String[] copy = tokens.clone();
      for (int i = 0; i < positions.length; i++) {
        if (positions[i] >= 0 && validator.isPii(i) && copy[positions[i]] != null && !copy[positions[i]].isEmpty()) {
          copy[positions[i]] = validator.hash(copy[positions[i]]);
        }
      }
      StringBuilder sb = new StringBuilder();
      for (int i = 0; i < copy.length; i++) {
        sb.append(i > 0 ? "," : "").append(dev.kiln.common.CsvText.field(copy[i]));
      }
      return sb.toString();
    }

    private static String stripLineEnd(String s) {
      int end = s.length();
      while (end > 0 && (s.charAt(end - 1) == '\n' || s.charAt(end - 1) == '\r')) {
        end--;
      }
      return s.substring(0, end);
    }

    private static long newlines(String s) {
      long n = 0;
      for (int i = 0; i < s.length(); i++) {
        if (s.charAt(i) == '\n') {
          n++;
        }
      }
      return n;
    }

    @Override
    public void close() {
      parser.stopParsing();
    }
  }

  /** JSON Lines: one object per line; blank lines are skipped; anything else on a line is a malformed record. */
  static final class JsonLines extends FileRecords {
    private final BufferedReader reader;
    private long lineNumber;

    JsonLines(String file, RecordValidator validator, Reader reader) {
      super(file, validator);
      this.reader = (BufferedReader) reader;
    }

    @Override
    Row readNext() {
      try {
        String text;
        do {
          text = reader.readLine();
          lineNumber++;
        } while (text != null && text.isBlank());
        if (text == null) {
          return null;
        }
        final String raw = text;
        JsonNode node;
        try {
          node = MAPPER.readTree(raw);
        } catch (IOException e) {
          node = null;
        }
        if (!(node instanceof ObjectNode obj)) {
          return validator.malformed(file, lineNumber, validator.hasPii() ? placeholder(1) : raw);
        }
        String[] values = new String[validator.columnCount()];
        for (int i = 0; i < values.length; i++) {
          JsonNode v = obj.get(validator.column(i).name());
          values[i] = v == null || v.isNull() ? null : v.isValueNode() ? v.asText() : v.toString();
        }
        return validator.validate(values, file, lineNumber, () -> validator.hasPii() ? redacted(obj) : raw);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read " + file + " at line " + lineNumber, e);
      }
    }

    private String redacted(ObjectNode obj) {
      ObjectNode copy = obj.deepCopy();
      for (int i = 0; i < validator.columnCount(); i++) {
        JsonNode v = copy.get(validator.column(i).name());
        if (validator.isPii(i) && v != null && !v.isNull()) {
          copy.put(validator.column(i).name(), validator.hash(v.isValueNode() ? v.asText() : v.toString()));
        }
      }
      return copy.toString();
    }

    @Override
    public void close() throws IOException {
      reader.close();
    }
  }
}
