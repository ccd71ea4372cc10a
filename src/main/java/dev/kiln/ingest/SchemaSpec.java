package dev.kiln.ingest;

import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * A source schema declared in {@code conf/schemas/*.yaml}: columns with types and rules, the event key (unique per
 * event, used to drop duplicates), the event-time column (bronze is partitioned by its UTC date), and PII columns.
 */
public record SchemaSpec(String name, String description, String eventKey, String eventTime,
                         List<ColumnSpec> columns) implements Serializable {
  /** Columns Kiln adds to bronze rows; a source column may not use these names. */
  public static final String EVENT_DATE = "event_date";
  public static final String SOURCE_FILE = "_source_file";
  public static final String SOURCE_LINE = "_source_line";
  public static final String INGEST_BATCH = "_ingest_batch";
  public static final String INGESTED_AT = "_ingested_at";
  private static final Set<String> RESERVED = Set.of(EVENT_DATE, SOURCE_FILE, SOURCE_LINE, INGEST_BATCH,
      INGESTED_AT);

  public SchemaSpec {
    columns = columns == null ? List.of() : List.copyOf(columns);
  }

  /** Reads and checks a spec; the file may also be a bundled resource path (e.g. {@code conf/schemas/events.yaml}). */
  public static SchemaSpec load(Path file) {
    SchemaSpec spec = Json.readYamlFileOrBundled(file, SchemaSpec.class);
    spec.validate(file.toString());
    return spec;
  }

  void validate(String source) {
    String where = " (" + source + ")";
    if (name == null || name.isBlank()) {
      throw new KilnUserException("schema has no 'name'" + where);
    }
    if (columns.isEmpty()) {
      throw new KilnUserException("schema declares no columns" + where);
    }
    Set<String> seen = new HashSet<>();
    for (ColumnSpec c : columns) {
      if (c.name() == null || c.name().isBlank()) {
        throw new KilnUserException("a column has no 'name'" + where);
      }
      String col = "column '" + c.name() + "' ";
      if (!seen.add(c.name())) {
        throw new KilnUserException(col + "is declared twice" + where);
      }
      if (RESERVED.contains(c.name())) {
        throw new KilnUserException(col + "uses a name Kiln reserves for lineage" + where);
      }
      if (c.type() == null) {
        throw new KilnUserException(col + "has no 'type'" + where);
      }
      if (c.isPii() && c.type() != ColumnType.STRING) {
        throw new KilnUserException(col + "is pii but not a string (only strings can be hashed)" + where);
      }
      boolean numeric = c.type() == ColumnType.INT || c.type() == ColumnType.LONG || c.type() == ColumnType.DOUBLE;
      if ((c.min() != null || c.max() != null) && !numeric) {
        throw new KilnUserException(col + "has min/max but is not numeric" + where);
      }
      if (c.allowed() != null) {
        for (String v : c.allowed()) {
          try {
            c.type().parse(v);
          } catch (RuntimeException e) {
            throw new KilnUserException(col + "allows '" + v + "', which is not a " + c.type().yamlName() + where);
          }
        }
      }
    }
    ColumnSpec key = column(eventKey).orElseThrow(() -> new KilnUserException(
        "event_key '" + eventKey + "' is not a declared column" + where));
    if (key.isNullable()) {
      throw new KilnUserException("event_key column '" + eventKey + "' must be nullable: false" + where);
    }
    ColumnSpec time = column(eventTime).orElseThrow(() -> new KilnUserException(
        "event_time '" + eventTime + "' is not a declared column" + where));
    if (time.type() != ColumnType.TIMESTAMP || time.isNullable()) {
      throw new KilnUserException("event_time column '" + eventTime + "' must be a non-nullable timestamp" + where);
    }
  }

  public Optional<ColumnSpec> column(String columnName) {
    return columns.stream().filter(c -> c.name().equals(columnName)).findFirst();
  }

  public List<String> columnNames() {
    return columns.stream().map(ColumnSpec::name).toList();
  }

  /** Columns that must appear in every source file (non-nullable ones). */
  public List<String> requiredColumns() {
    return columns.stream().filter(c -> !c.isNullable()).map(ColumnSpec::name).toList();
  }

  public boolean hasPii() {
    return columns.stream().anyMatch(ColumnSpec::isPii);
  }

  /** The Spark schema of the parsed source columns (all nullable: rows that fail a rule carry nulls). */
  public StructType sparkSchema() {
    StructType s = new StructType();
    for (ColumnSpec c : columns) {
      s = s.add(new StructField(c.name(), c.type().sparkType(), true, org.apache.spark.sql.types.Metadata.empty()));
    }
    return s;
  }

  /** Every reason code validation can give for this schema, in a stable order. */
  public List<String> reasonCodes() {
    java.util.List<String> codes = new java.util.ArrayList<>();
    codes.add(Reasons.MALFORMED_RECORD);
    for (ColumnSpec c : columns) {
      codes.add(Reasons.missing(c.name()));
      codes.add(Reasons.badType(c.name()));
      if (c.type() == ColumnType.DOUBLE) {
        codes.add(Reasons.notFinite(c.name()));
      }
      if (c.allowed() != null) {
        codes.add(Reasons.notAllowed(c.name()));
      }
      if (c.min() != null || c.max() != null) {
        codes.add(Reasons.outOfRange(c.name()));
      }
    }
    return codes;
  }

  static StructField field(String name, org.apache.spark.sql.types.DataType type, boolean nullable) {
    return new StructField(name, type, nullable, org.apache.spark.sql.types.Metadata.empty());
  }

  static final org.apache.spark.sql.types.DataType REASONS_TYPE = DataTypes.createArrayType(DataTypes.StringType,
      false);
}
