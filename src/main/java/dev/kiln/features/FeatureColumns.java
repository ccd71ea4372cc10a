package dev.kiln.features;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.dayofweek;
import static org.apache.spark.sql.functions.from_utc_timestamp;
import static org.apache.spark.sql.functions.hour;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.log1p;
import static org.apache.spark.sql.functions.to_date;
import static org.apache.spark.sql.functions.unix_micros;
import static org.apache.spark.sql.functions.when;

import dev.kiln.common.KilnUserException;
import dev.kiln.common.TableRef;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.BooleanType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Binds a {@link FeatureSetSpec} to a source table's schema: checks every referenced column exists with a usable
 * type (failing with the feature, the spec file and the table), and builds the per-row feature columns.
 *
 * <p>Feature-table layout: event key, event time, {@code event_date} (partition), label, entity columns, time
 * features, categorical columns, numeric features, then aggregate outputs in spec order.
 */
final class FeatureColumns {
  static final String EVENT_DATE = "event_date";
  /** Event time as epoch microseconds: the ordering of every point-in-time window. */
  static final String TS_MICROS = "_ts_us";

  private final FeatureSetSpec spec;
  private final StructType source;

  FeatureColumns(FeatureSetSpec spec, String specFile, StructType source, TableRef sourceRef) {
    this.spec = spec;
    this.source = source;
    String where = " (" + specFile + ", table " + sourceRef + ")";
    require("event_key", spec.eventKey(), where, t -> t instanceof StringType || isIntegral(t), "a string or integer");
    require("event_time", spec.eventTime(), where, t -> t.equals(DataTypes.TimestampType), "a timestamp");
    require("label", spec.label(), where, t -> t instanceof NumericType || t instanceof BooleanType,
        "numeric or boolean (0/1)");
    for (FeatureSetSpec.Categorical c : spec.categorical()) {
      require("categorical feature '" + c.column() + "'", c.column(), where,
          t -> t instanceof StringType || isIntegral(t) || t instanceof BooleanType, "a string, integer or boolean");
    }
    for (FeatureSetSpec.Numeric n : spec.numeric()) {
      require("numeric feature '" + n.name() + "'", n.column(), where, t -> t instanceof NumericType, "numeric");
    }
    for (FeatureSetSpec.Aggregate a : spec.aggregates()) {
      require("aggregate '" + a.name() + "' entity", a.entity(), where,
          t -> t instanceof StringType || isIntegral(t), "a string or integer");
    }
  }

  private interface TypeCheck {
    boolean accepts(DataType t);
  }

  private void require(String what, String column, String where, TypeCheck check, String expected) {
    StructField field = Arrays.stream(source.fields()).filter(f -> f.name().equals(column)).findFirst()
        .orElseThrow(() -> new KilnUserException(what + ": column '" + column + "' not found (columns: "
            + String.join(", ", source.fieldNames()) + ")" + where));
    if (!check.accepts(field.dataType())) {
      throw new KilnUserException(what + ": column '" + column + "' is " + field.dataType().simpleString()
          + ", expected " + expected + where);
    }
  }

  private static boolean isIntegral(DataType t) {
    return t.equals(DataTypes.IntegerType) || t.equals(DataTypes.LongType) || t.equals(DataTypes.ShortType)
        || t.equals(DataTypes.ByteType);
  }

  /** Source columns the feature job reads, with {@link #TS_MICROS} and {@code event_date} added. */
  Dataset<Row> events(Dataset<Row> table) {
    List<Column> cols = new ArrayList<>();
    List<String> names = new ArrayList<>(List.of(spec.eventKey(), spec.eventTime()));
    for (FeatureSetSpec.Categorical c : spec.categorical()) {
      names.add(c.column());
    }
    for (FeatureSetSpec.Numeric n : spec.numeric()) {
      names.add(n.column());
    }
    names.addAll(spec.entities());
    for (String n : names.stream().distinct().toList()) {
      cols.add(col(n));
    }
    cols.add(col(spec.label()).cast(DataTypes.IntegerType).as(spec.label()));
    cols.add(unix_micros(col(spec.eventTime())).as(TS_MICROS));
    boolean hasDate = Arrays.asList(source.fieldNames()).contains(EVENT_DATE);
    cols.add(hasDate ? col(EVENT_DATE) : to_date(col(spec.eventTime())).as(EVENT_DATE));
    return table.select(cols.toArray(Column[]::new));
  }

  /** Key, time, date, label, entities and every row feature (what needs no other row). */
  List<Column> rowFeatures() {
    List<Column> cols = new ArrayList<>();
    cols.add(col(spec.eventKey()));
    cols.add(col(spec.eventTime()));
    cols.add(col(EVENT_DATE));
    cols.add(col(spec.label()));
    for (String e : spec.entities()) {
      cols.add(col(e));
    }
    Column local = from_utc_timestamp(col(spec.eventTime()), spec.timezone());
    Column isoDay = dayofweek(local).plus(5).mod(7).plus(1); // Spark: 1 = Sunday; ISO: 1 = Monday
    for (String t : spec.timeFeatures()) {
      cols.add(switch (t) {
        case "hour" -> hour(local).as(t);
        case "day_of_week" -> isoDay.as(t);
        default -> when(isoDay.geq(6), 1).otherwise(0).as(t);
      });
    }
    for (FeatureSetSpec.Categorical c : spec.categorical()) {
      if (!spec.entities().contains(c.column())) {
        cols.add(col(c.column()).cast(DataTypes.StringType).as(c.column()));
      }
    }
    for (FeatureSetSpec.Numeric n : spec.numeric()) {
      cols.add(numeric(n).as(n.name()));
    }
    return cols;
  }

  private static Column numeric(FeatureSetSpec.Numeric n) {
    Column v = col(n.column()).cast(DataTypes.DoubleType);
    v = when(v.isNaN(), lit(null).cast(DataTypes.DoubleType)).otherwise(v);
    if ("log1p".equals(n.transform())) {
      v = when(v.gt(-1.0), log1p(v)); // undefined below -1: null, imputed at training time
    }
    if (n.bucketize().isEmpty()) {
      return v;
    }
    // bucket = how many edges are <= value: 0 below the first edge, n at or above the last
    Column bucket = lit(0);
    for (double edge : n.bucketize()) {
      bucket = bucket.plus(when(v.geq(edge), 1).otherwise(0));
    }
    return when(v.isNull(), lit(null).cast(DataTypes.DoubleType)).otherwise(bucket.cast(DataTypes.DoubleType));
  }

  /** Names of every feature-table column, in table order. */
  List<String> tableColumns() {
    List<String> names = new ArrayList<>(List.of(spec.eventKey(), spec.eventTime(), EVENT_DATE, spec.label()));
    names.addAll(spec.entities());
    names.addAll(spec.timeFeatures());
    for (FeatureSetSpec.Categorical c : spec.categorical()) {
      if (!names.contains(c.column())) {
        names.add(c.column());
      }
    }
    spec.numeric().forEach(n -> names.add(n.name()));
    spec.aggregates().forEach(a -> names.addAll(a.outputColumns()));
    return names;
  }
}
