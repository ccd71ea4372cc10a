package dev.kiln.score;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.udf;
import static org.apache.spark.sql.functions.when;

import dev.kiln.common.DataRoot;
import dev.kiln.common.DeltaTables;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.TableRef;
import dev.kiln.common.Messages;
import dev.kiln.ingest.ColumnSpec;
import dev.kiln.ingest.PiiHasher;
import dev.kiln.ingest.SchemaSpec;
import dev.kiln.registry.ModelSignature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.fs.FileStatus;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructField;

/**
 * The events to score, read and checked against the model's signature before anything else happens: every input
 * column present, with the trained type or one that converts to it (text from CSV is converted and every value that
 * does not convert is counted as an error, never silently nulled), a key and a time on every row, at least one row.
 * Raw files get their PII columns hashed the way ingest hashes them, so they match the history they are scored
 * against; a Kiln table went through ingest already.
 *
 * @param rows        the input columns of the signature, typed as trained (the label too when the input has it)
 * @param description e.g. {@code bronze.events@12} or {@code /in/day.csv (csv)}, for lineage
 * @param table       the input table, when the input is one
 * @param version     the input table's Delta version read, when the input is a table
 */
record ScoreInput(Dataset<Row> rows, String description, Optional<TableRef> table, Optional<Long> version) {

  static ScoreInput read(SparkSession spark, ScoreConfig config, ModelSignature signature) {
    DataRoot root = config.dataRoot();
    Dataset<Row> raw;
    String description;
    Optional<TableRef> table = Optional.empty();
    Optional<Long> version = Optional.empty();
    if (config.inputIsTable()) {
      TableRef ref = TableRef.parse(config.input(), "bronze");
      String path = root.table(ref);
      version = DeltaTables.latestVersion(spark, path);
      if (version.isEmpty()) {
        throw new KilnUserException("input table " + ref + " does not exist (" + path + ")");
      }
      raw = spark.read().format("delta").option("versionAsOf", version.get()).load(path);
      table = Optional.of(ref);
      description = ref + "@" + version.get();
    } else {
      String format = config.format().orElseGet(() -> formatOf(config.input()));
      requireExists(spark, config.input());
      raw = switch (format) {
        case "csv" -> spark.read().option("header", "true").option("inferSchema", "false").csv(config.input());
        case "json" -> spark.read().json(config.input());
        default -> spark.read().parquet(config.input());
      };
      description = config.input() + " (" + format + ")";
    }
    if (config.where().isPresent()) {
      try {
        raw = raw.where(config.where().get());
        raw.schema();
      } catch (Exception e) {
        throw new KilnUserException("--where '" + config.where().get() + "' is not a valid filter on the input ("
            + description + "): " + Messages.firstLine(e.getMessage(), ""));
      }
    }
    Dataset<Row> typed = conform(raw, signature, description);
    if (table.isEmpty()) {
      typed = hashPii(typed, config, signature, description);
    }
    return new ScoreInput(typed, description, table, version);
  }

  private static String formatOf(String input) {
    String name = input.toLowerCase().replaceAll("\\.(gz|bz2)$", "");
    if (name.endsWith(".csv")) {
      return "csv";
    }
    if (name.endsWith(".json") || name.endsWith(".jsonl")) {
      return "json";
    }
    if (name.endsWith(".parquet")) {
      return "parquet";
    }
    throw new KilnUserException("cannot tell the format of input '" + input + "': pass --format csv|json|parquet "
        + "(or a table such as bronze.events)");
  }

  private static void requireExists(SparkSession spark, String input) {
    try {
      org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(input);
      FileStatus[] found = p.getFileSystem(spark.sparkContext().hadoopConfiguration()).globStatus(p);
      if (found == null || found.length == 0) {
        throw new KilnUserException("input '" + input + "' not found");
      }
    } catch (IOException e) {
      throw new KilnUserException("cannot read input '" + input + "': " + e.getMessage());
    }
  }

  /** The signature's columns cast to their trained types; one line naming every missing or mistyped column. */
  static Dataset<Row> conform(Dataset<Row> raw, ModelSignature signature, String description) {
    Map<String, StructField> fields = new LinkedHashMap<>();
    for (StructField f : raw.schema().fields()) {
      fields.put(f.name(), f);
    }
    List<String> missing = new ArrayList<>();
    List<String> mistyped = new ArrayList<>();
    List<Column> select = new ArrayList<>();
    Map<String, Column[]> converted = new LinkedHashMap<>(); // column -> {original, converted}
    List<ModelSignature.Field> wanted = new ArrayList<>(signature.inputs());
    boolean hasLabel = fields.containsKey(signature.label());
    if (hasLabel) {
      wanted.add(new ModelSignature.Field(signature.label(), "int"));
    }
    for (ModelSignature.Field w : wanted) {
      StructField f = fields.get(w.name());
      if (f == null) {
        missing.add(w.name());
        continue;
      }
      DataType expected = DataType.fromDDL(w.type());
      DataType actual = f.dataType();
      Column c = col("`" + w.name() + "`");
      if (actual.equals(expected)) {
        select.add(c.as(w.name()));
      } else if (convertible(actual, expected)) {
        Column cast = c.cast(expected);
        select.add(cast.as(w.name()));
        if (actual instanceof StringType) {
          converted.put(w.name(), new Column[] {c, cast});
        }
      } else {
        mistyped.add(w.name() + " is " + actual.simpleString() + " (expected " + expected.simpleString() + ")");
      }
    }
    if (!missing.isEmpty() || !mistyped.isEmpty()) {
      List<String> parts = new ArrayList<>();
      if (!missing.isEmpty()) {
        parts.add("missing column" + (missing.size() > 1 ? "s " : " ") + String.join(", ", missing));
      }
      if (!mistyped.isEmpty()) {
        parts.add("wrong type" + (mistyped.size() > 1 ? "s: " : ": ") + String.join(", ", mistyped));
      }
      throw new KilnUserException("input " + description + " does not match the model's signature: "
          + String.join("; ", parts));
    }
    // one pass: rows, and per converted column the values that did not convert; keys and times must be present
    List<Column> checks = new ArrayList<>();
    checks.add(org.apache.spark.sql.functions.count(org.apache.spark.sql.functions.lit(1)));
    checks.add(sum(when(col("`" + signature.eventKey() + "`").isNull(), 1).otherwise(0)));
    Column time = converted.containsKey(signature.eventTime()) ? converted.get(signature.eventTime())[1]
        : col("`" + signature.eventTime() + "`");
    checks.add(sum(when(time.isNull(), 1).otherwise(0)));
    for (Column[] pair : converted.values()) {
      checks.add(sum(when(pair[0].isNotNull().and(org.apache.spark.sql.functions.trim(pair[0]).notEqual(""))
          .and(pair[1].isNull()), 1).otherwise(0)));
    }
    Row counts = raw.agg(checks.get(0), checks.subList(1, checks.size()).toArray(Column[]::new)).first();
    if (counts.getLong(0) == 0) {
      throw new KilnUserException("input " + description + " has no rows to score");
    }
    List<String> bad = new ArrayList<>();
    int i = 3;
    for (Map.Entry<String, Column[]> e : converted.entrySet()) {
      long n = counts.isNullAt(i) ? 0 : counts.getLong(i);
      if (n > 0) {
        String type = wanted.stream().filter(w -> w.name().equals(e.getKey())).findFirst().orElseThrow().type();
        bad.add(String.format("%,d value%s of %s %s not %s", n, n > 1 ? "s" : "", e.getKey(), n > 1 ? "are" : "is",
            type));
      }
      i++;
    }
    if (!bad.isEmpty()) {
      throw new KilnUserException("input " + description + ": " + String.join(", ", bad));
    }
    long noKey = counts.isNullAt(1) ? 0 : counts.getLong(1);
    long noTime = counts.isNullAt(2) ? 0 : counts.getLong(2);
    if (noKey > 0 || noTime > 0) {
      throw new KilnUserException(String.format("input %s: %,d rows without %s and %,d without %s (both are "
          + "required)", description, noKey, signature.eventKey(), noTime, signature.eventTime()));
    }
    return raw.select(select.toArray(Column[]::new));
  }

  /** Numbers convert to numbers; text converts to anything (checked value by value). */
  private static boolean convertible(DataType actual, DataType expected) {
    if (actual instanceof StringType) {
      return true;
    }
    if (actual instanceof NumericType && expected instanceof NumericType) {
      return true;
    }
    return actual instanceof NumericType && expected.equals(DataTypes.StringType);
  }

  private static Dataset<Row> hashPii(Dataset<Row> rows, ScoreConfig config, ModelSignature signature,
                                      String description) {
    TableRef source = TableRef.parse(signature.sourceTable(), "bronze");
    Path schemaFile = config.schemaFile().orElse(Path.of("conf", "schemas", source.name() + ".yaml"));
    if (config.schemaFile().isEmpty() && !Files.isRegularFile(schemaFile) && ScoreInput.class.getResource("/"
        + schemaFile.toString().replace('\\', '/')) == null) {
      return rows; // no ingest schema known for the source, here or bundled: nothing is declared PII
    }
    SchemaSpec schema = SchemaSpec.load(schemaFile); // a file here, else the copy bundled in the jar
    List<String> pii = schema.columns().stream().filter(c -> Boolean.TRUE.equals(c.pii())).map(ColumnSpec::name)
        .filter(Arrays.asList(rows.columns())::contains).toList();
    if (pii.isEmpty()) {
      return rows;
    }
    byte[] salt = config.piiSalt().orElseThrow(() -> new KilnUserException("input " + description + " has PII "
        + "column(s) " + String.join(", ", pii) + " (" + schemaFile + ") to hash like ingest did: set KILN_PII_SALT "
        + "or KILN_PII_SALT_FILE, or pass --pii-salt-file"));
    PiiHasher hasher = new PiiHasher(salt);
    UserDefinedFunction hash = udf((UDF1<String, String>) v -> v == null ? null : hasher.hash(v),
        DataTypes.StringType);
    for (String c : pii) {
      rows = rows.withColumn(c, hash.apply(col("`" + c + "`").cast(DataTypes.StringType)));
    }
    return rows;
  }
}
