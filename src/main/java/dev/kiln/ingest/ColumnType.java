package dev.kiln.ingest;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeFormatterBuilder;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoField;
import java.util.Arrays;
import java.util.Locale;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;

/** The column types a schema spec may declare, with how each parses from text. */
public enum ColumnType {
  STRING(DataTypes.StringType),
  INT(DataTypes.IntegerType),
  LONG(DataTypes.LongType),
  DOUBLE(DataTypes.DoubleType),
  BOOLEAN(DataTypes.BooleanType),
  /** ISO-8601; a value without an offset is read as UTC. */
  TIMESTAMP(DataTypes.TimestampType),
  DATE(DataTypes.DateType);

  /** {@code 2026-01-05T10:15:30[.123456][Z|+01:00]}, also with a space instead of the {@code T}. */
  private static final DateTimeFormatter TIMESTAMP_FORMAT = new DateTimeFormatterBuilder()
      .parseCaseInsensitive()
      .append(DateTimeFormatter.ISO_LOCAL_DATE)
      .optionalStart().appendLiteral('T').optionalEnd()
      .optionalStart().appendLiteral(' ').optionalEnd()
      .append(DateTimeFormatter.ISO_LOCAL_TIME)
      .optionalStart().appendOffset("+HH:MM", "Z").optionalEnd()
      .optionalStart().appendOffset("+HHMM", "Z").optionalEnd()
      .parseDefaulting(ChronoField.OFFSET_SECONDS, 0)
      .toFormatter(Locale.ROOT);

  private final DataType sparkType;

  ColumnType(DataType sparkType) {
    this.sparkType = sparkType;
  }

  public DataType sparkType() {
    return sparkType;
  }

  @JsonCreator
  public static ColumnType fromName(String name) {
    String n = name == null ? "" : name.trim().toUpperCase(Locale.ROOT);
    if (n.equals("INTEGER")) {
      return INT;
    }
    if (n.equals("FLOAT") || n.equals("NUMBER")) {
      return DOUBLE;
    }
    return Arrays.stream(values()).filter(t -> t.name().equals(n)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("unknown column type '" + name + "' (expected one of "
            + Arrays.stream(values()).map(ColumnType::yamlName).toList() + ")"));
  }

  @JsonValue
  public String yamlName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * Parses a non-empty text value into the Java type Spark expects for this column
   * ({@link java.sql.Timestamp} and {@link java.sql.Date} for times).
   *
   * @throws IllegalArgumentException when the text is not a value of this type
   */
  public Object parse(String text) {
    String t = text.trim();
    return switch (this) {
      case STRING -> text;
      case INT -> Integer.parseInt(t);
      case LONG -> Long.parseLong(t);
      case DOUBLE -> Double.parseDouble(t);
      case BOOLEAN -> parseBoolean(t);
      case TIMESTAMP -> java.sql.Timestamp.from(parseInstant(t));
      case DATE -> java.sql.Date.valueOf(LocalDate.parse(t));
    };
  }

  static Instant parseInstant(String t) {
    try {
      return OffsetDateTime.parse(t, TIMESTAMP_FORMAT).toInstant();
    } catch (DateTimeParseException e) {
      // a date alone is midnight UTC
      try {
        return LocalDateTime.of(LocalDate.parse(t), java.time.LocalTime.MIDNIGHT).toInstant(ZoneOffset.UTC);
      } catch (DateTimeParseException e2) {
        throw new IllegalArgumentException("not a timestamp: " + t, e);
      }
    }
  }

  private static Boolean parseBoolean(String t) {
    return switch (t.toLowerCase(Locale.ROOT)) {
      case "true", "1", "yes" -> Boolean.TRUE;
      case "false", "0", "no" -> Boolean.FALSE;
      default -> throw new IllegalArgumentException("not a boolean: " + t);
    };
  }
}
