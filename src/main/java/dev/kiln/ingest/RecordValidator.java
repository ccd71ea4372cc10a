package dev.kiln.ingest;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Applies a {@link SchemaSpec}'s rules to one record's text fields and builds the row the ingest job classifies:
 * the typed source columns, then {@code _source_file, _source_line, _raw_record, _reasons}. A valid row has no
 * reasons and no raw record; an invalid one keeps its raw text (PII hashed) for the quarantine table.
 */
final class RecordValidator implements Serializable {
  private static final long serialVersionUID = 1L;
  static final String RAW_RECORD = "_raw_record";
  static final String REASONS = "_reasons";
  private static final String[] NO_REASONS = new String[0];

  private final List<ColumnSpec> columns;
  private final List<Set<String>> allowed;
  private final PiiHasher hasher;

  RecordValidator(SchemaSpec schema, PiiHasher hasher) {
    if (schema.hasPii() && hasher == null) {
      throw new IllegalArgumentException("schema " + schema.name() + " has PII columns: a salt is required");
    }
    this.columns = schema.columns();
    this.hasher = hasher;
    this.allowed = new ArrayList<>();
    for (ColumnSpec c : columns) {
      if (c.allowed() == null) {
        allowed.add(null);
      } else {
        Set<String> canonical = new HashSet<>();
        c.allowed().forEach(v -> canonical.add(String.valueOf(c.type().parse(v))));
        allowed.add(canonical);
      }
    }
  }

  /** The schema of the rows this validator builds. */
  static StructType rowSchema(SchemaSpec schema) {
    return schema.sparkSchema()
        .add(SchemaSpec.field(SchemaSpec.SOURCE_FILE, DataTypes.StringType, false))
        .add(SchemaSpec.field(SchemaSpec.SOURCE_LINE, DataTypes.LongType, true))
        .add(SchemaSpec.field(RAW_RECORD, DataTypes.StringType, true))
        .add(SchemaSpec.field(REASONS, SchemaSpec.REASONS_TYPE, false));
  }

  int columnCount() {
    return columns.size();
  }

  ColumnSpec column(int i) {
    return columns.get(i);
  }

  boolean isPii(int i) {
    return columns.get(i).isPii();
  }

  boolean hasPii() {
    return hasher != null && columns.stream().anyMatch(ColumnSpec::isPii);
  }

  String hash(String value) {
    return hasher.hash(value);
  }

  /**
   * Validates one record. {@code values[i]} is the text of schema column {@code i}, or null when absent.
   * {@code rawRecord} is called only when the record is invalid, so valid rows cost no raw-text work.
   */
  Row validate(String[] values, String file, Long line, java.util.function.Supplier<String> rawRecord) {
    Object[] out = new Object[columns.size() + 4];
    List<String> reasons = null;
    for (int i = 0; i < columns.size(); i++) {
      ColumnSpec c = columns.get(i);
      String text = values[i];
      if (text == null || text.isBlank()) {
        if (!c.isNullable()) {
          reasons = add(reasons, Reasons.missing(c.name()));
        }
        continue;
      }
      Object value;
      try {
        value = c.type().parse(text);
      } catch (RuntimeException e) {
        reasons = add(reasons, Reasons.badType(c.name()));
        continue;
      }
      if (value instanceof Double d && (d.isNaN() || d.isInfinite())) {
        reasons = add(reasons, Reasons.notFinite(c.name()));
        continue;
      }
      if (allowed.get(i) != null && !allowed.get(i).contains(String.valueOf(value))) {
        reasons = add(reasons, Reasons.notAllowed(c.name()));
        continue;
      }
      if (value instanceof Number n && outOfRange(c, n.doubleValue())) {
        reasons = add(reasons, Reasons.outOfRange(c.name()));
        continue;
      }
      out[i] = c.isPii() ? hasher.hash((String) value) : value;
    }
    int base = columns.size();
    out[base] = file;
    out[base + 1] = line;
    if (reasons == null) {
      out[base + 3] = NO_REASONS;
    } else {
      out[base + 2] = rawRecord.get();
      out[base + 3] = reasons.toArray(NO_REASONS);
    }
    return RowFactory.create(out);
  }

  /** A record that could not be split into fields at all. */
  Row malformed(String file, Long line, String rawRecord) {
    Object[] out = new Object[columns.size() + 4];
    int base = columns.size();
    out[base] = file;
    out[base + 1] = line;
    out[base + 2] = rawRecord;
    out[base + 3] = new String[] {Reasons.MALFORMED_RECORD};
    return RowFactory.create(out);
  }

  private static boolean outOfRange(ColumnSpec c, double v) {
    return (c.min() != null && v < c.min()) || (c.max() != null && v > c.max());
  }

  private static List<String> add(List<String> reasons, String reason) {
    List<String> r = reasons == null ? new ArrayList<>(2) : reasons;
    r.add(reason);
    return r;
  }
}
