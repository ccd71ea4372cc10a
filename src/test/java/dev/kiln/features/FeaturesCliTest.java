package dev.kiln.features;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.Json;
import dev.kiln.testing.Cli;
import dev.kiln.testing.SharedSpark;
import dev.kiln.testing.TreeSnapshot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code kiln features} and {@code kiln trainset} through the CLI: output, and one-line errors for bad specs. */
class FeaturesCliTest {
  @TempDir
  Path tmp;

  private static final StructType SOURCE = new StructType()
      .add("event_id", DataTypes.StringType, false)
      .add("user_id", DataTypes.StringType, true)
      .add("category", DataTypes.StringType, true)
      .add("price", DataTypes.DoubleType, true)
      .add("timestamp", DataTypes.TimestampType, false)
      .add("label", DataTypes.IntegerType, false);

  private Path root() {
    Path root = tmp.resolve("root");
    if (!Files.exists(root)) {
      List<Row> rows = new ArrayList<>();
      for (int i = 0; i < 400; i++) {
        rows.add(RowFactory.create("e" + i, "u" + (i % 17), i % 3 == 0 ? "a" : "b", 1.0 + i % 50,
            Timestamp.from(Instant.parse("2026-01-01T00:00:00Z").plusSeconds(600L * i)), i % 4 == 0 ? 1 : 0));
      }
      SharedSpark.get().createDataFrame(rows, SOURCE).write().format("delta")
          .save(root.resolve("tables/bronze/events").toUri().toString());
    }
    return root;
  }

  private Path spec(String name, String... lines) throws IOException {
    List<String> all = new ArrayList<>(List.of("name: small", "version: 1", "event_key: event_id",
        "event_time: timestamp", "label: label"));
    all.addAll(List.of(lines));
    Path file = tmp.resolve(name);
    Files.writeString(file, String.join("\n", all) + "\n");
    return file;
  }

  private Path goodSpec() throws IOException {
    return spec("good.yaml", "time_features: [hour, is_weekend]", "categorical: [{column: category}]",
        "numeric: [{name: price_log, column: price, transform: log1p}]",
        "aggregates:", "  - {name: user_ctr, entity: user_id, function: ctr}",
        "  - {name: user_6h, entity: user_id, function: count, window: 6h}");
  }

  private Cli.Result features(Path spec, String... extra) {
    List<String> args = new ArrayList<>(List.of("features", "--feature-set", spec.toString(), "--data-root",
        root().toString()));
    args.addAll(List.of(extra));
    return Cli.run(args.toArray(String[]::new));
  }

  @Test
  void featuresThenTrainsetThroughTheCli() throws IOException {
    Cli.Result f = features(goodSpec(), "--json");
    assertEquals(0, f.exitCode(), f.err());
    Map<?, ?> r = Json.JSON.readValue(f.out().strip(), Map.class);
    assertEquals("full", r.get("mode"));
    assertEquals(400, ((Number) r.get("table_rows")).intValue());

    Cli.Result text = features(goodSpec());
    assertEquals(0, text.exitCode(), text.err());
    assertTrue(text.out().contains("up-to-date"), text.out());

    Cli.Result t = Cli.run("trainset", "--feature-set", "small", "--data-root", root().toString(), "--split", "time",
        "--test-fraction", "0.25", "--validation-fraction", "0");
    assertEquals(0, t.exitCode(), t.err());
    assertTrue(t.out().contains("split time"), t.out());
    // the summary ends with where the time went, stage by stage in the order they ran (a minus sign cannot match),
    // then the driver's peak heap in the same stages
    String secs = " \\d+\\.\\d s";
    String time = "  time: read feature table" + secs + " · split" + secs + " · write trainset" + secs
        + " · count and fingerprint" + secs + " · record manifest" + secs + " · statistics" + secs;
    String mib = " [1-9][\\d,]* MiB"; // the JVM's heap is never 0 MiB
    String heap = "  heap: peak per stage read feature table" + mib + " · split" + mib + " · write trainset" + mib
        + " · count and fingerprint" + mib + " · record manifest" + mib + " · statistics" + mib;
    List<String> lines = t.out().lines().toList();
    int timeLine = lines.stream().filter(l -> l.matches(time)).findFirst().map(lines::indexOf).orElse(-1);
    assertTrue(timeLine >= 0 && timeLine + 1 < lines.size() && lines.get(timeLine + 1).matches(heap), t.out());
    String id = t.out().lines().findFirst().orElseThrow().split(" ")[1];
    Cli.Result again = Cli.run("trainset", "--as-of", id, "--data-root", root().toString());
    assertEquals(0, again.exitCode(), again.err());
    assertTrue(again.out().contains("identical rows"), again.out());

    // --json has the same as stage_seconds (and stage_peak_heap_mib): a rebuild reads the recorded split, a reused
    // trainset writes nothing
    Cli.Result rebuilt = Cli.run("trainset", "--as-of", id, "--data-root", root().toString(), "--json");
    assertEquals(0, rebuilt.exitCode(), rebuilt.err());
    Map<?, ?> rebuiltJson = Json.JSON.readValue(rebuilt.out().strip(), Map.class);
    assertEquals(true, rebuiltJson.get("identical_to_original"));
    assertStages(rebuiltJson, "read feature table", "write trainset", "count and fingerprint", "record manifest",
        "statistics");
    Cli.Result reused = Cli.run("trainset", "--feature-set", "small", "--data-root", root().toString(), "--split",
        "time", "--test-fraction", "0.25", "--validation-fraction", "0", "--json");
    assertEquals(0, reused.exitCode(), reused.err());
    Map<?, ?> reusedJson = Json.JSON.readValue(reused.out().strip(), Map.class);
    assertEquals(true, reusedJson.get("reused"));
    assertStages(reusedJson, "read feature table", "split", "find existing trainset", "statistics");
  }

  /**
   * The result's {@code stage_seconds} names exactly these stages, each with a time of zero or more, and its
   * {@code stage_peak_heap_mib} the same stages, each with a whole number of MiB above zero.
   */
  private static void assertStages(Map<?, ?> json, String... expected) {
    Map<?, ?> stages = (Map<?, ?>) json.get("stage_seconds");
    assertEquals(java.util.Set.of(expected), stages.keySet(), String.valueOf(json));
    assertTrue(stages.values().stream().allMatch(v -> ((Number) v).doubleValue() >= 0), String.valueOf(stages));
    Map<?, ?> heap = (Map<?, ?>) json.get("stage_peak_heap_mib");
    assertEquals(stages.keySet(), heap.keySet(), String.valueOf(json));
    assertTrue(heap.values().stream().allMatch(v -> v instanceof Integer || v instanceof Long), String.valueOf(heap));
    assertTrue(heap.values().stream().allMatch(v -> ((Number) v).longValue() > 0), String.valueOf(heap));
  }

  private void userError(Cli.Result r, String... expected) {
    assertEquals(2, r.exitCode(), r.out() + r.err());
    assertEquals(1, r.errLines().length, r.err());
    for (String e : expected) {
      assertTrue(r.err().contains(e), "expected '" + e + "' in: " + r.err());
    }
  }

  @Test
  void badSpecsFailInOneLineNamingTheFeatureAndFileAndChangeNothing() throws IOException {
    assertEquals(0, features(goodSpec()).exitCode());
    Map<String, Long> before = TreeSnapshot.of(root());

    userError(features(spec("unknown.yaml", "aggregates: [{name: u_ctr, entity: userid, function: ctr}]")),
        "aggregate 'u_ctr'", "column 'userid' not found", "unknown.yaml", "bronze.events");
    userError(features(spec("type.yaml", "numeric: [{name: cat_log, column: category, transform: log1p}]")),
        "numeric feature 'cat_log'", "is string, expected numeric", "type.yaml");
    userError(features(spec("window.yaml", "aggregates: [{name: u7, entity: user_id, function: count, window: 7x}]")),
        "aggregate 'u7'", "window '7x'", "window.yaml");
    userError(features(spec("changed.yaml", "time_features: [hour, is_weekend]", "categorical: [{column: category}]",
        "numeric: [{name: price_log, column: price, transform: log1p}]", "aggregates:",
        "  - {name: user_ctr, entity: user_id, function: ctr, smoothing: 5}",
        "  - {name: user_6h, entity: user_id, function: count, window: 6h}")),
        "version 1 already exists", "different definitions", "changed.yaml");
    userError(features(spec("function.yaml", "aggregates: [{name: m, entity: user_id, function: mean}]")),
        "aggregate 'm'", "function must be", "function.yaml");
    userError(features(spec("yaml.yaml", "aggregates: [{name: m, entity: user_id")), "function.yaml".replace(
        "function", "yaml"), "line");
    userError(features(goodSpec(), "--source-table", "bronze.nothing"), "bronze.nothing does not exist");
    userError(Cli.run("trainset", "--feature-set", "nothing", "--data-root", root().toString()),
        "features.nothing does not exist");
    userError(Cli.run("trainset", "--feature-set", "small", "--data-root", root().toString(), "--test-fraction",
        "1.5"), "--test-fraction");
    userError(Cli.run("trainset", "--as-of", "no-such-id", "--data-root", root().toString()), "no trainset");

    assertEquals(before, TreeSnapshot.of(root()), "failed runs must not write");
  }
}
