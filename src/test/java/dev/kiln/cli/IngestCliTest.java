package dev.kiln.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.generate.EventGenerator;
import dev.kiln.generate.GenerateConfig;
import dev.kiln.testing.Cli;
import dev.kiln.testing.SharedSpark;
import dev.kiln.testing.TreeSnapshot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The CLI contract: exit codes, one-line errors, and no table change for bad input. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class IngestCliTest {
  @TempDir
  static Path tmp;
  Path root;
  Path salt;
  Path good;

  @BeforeAll
  void ingestOnceSoThereAreTablesToProtect() throws IOException {
    root = tmp.resolve("root");
    salt = tmp.resolve("salt");
    Files.writeString(salt, "cli-test-salt-0123\n");
    good = tmp.resolve("good");
    new EventGenerator(new GenerateConfig(500, good, 1, 0.02, 1)).generate();
    Cli.Result r = Cli.run("ingest", "--source", good.toString(), "--table", "events", "--data-root", root.toString(),
        "--pii-salt-file", salt.toString());
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("read "), r.out());

    Path files = tmp.resolve("files");
    Files.createDirectories(files);
    Files.writeString(files.resolve("empty.csv"), "");
    Files.writeString(files.resolve("no-label.csv"),
        "event_id,user_id,item_id,category,device,country,price,timestamp\ne1,u,i,c,mobile,DE,1,2026-01-01\n");
    Files.writeString(files.resolve("events.jsonl"), "{\"event_id\":\"e1\"}\n");
    Files.writeString(files.resolve("bad.yaml"), "name: events\ncolumns:\n  - name: a\n   type: [oops\n");
    SharedSpark.get().sql("SELECT 1 AS a").write().parquet(files.resolve("p").toString());
    Path notDelta = root.resolve("tables/bronze/other");
    Files.createDirectories(notDelta);
    Files.writeString(notDelta.resolve("data.csv"), "a,b\n1,2\n");
  }

  record BadInput(String name, List<String> args, String expected) {
    @Override
    public String toString() {
      return name;
    }
  }

  List<BadInput> badInputs() {
    Path f = tmp.resolve("files");
    String csv = good.resolve("events-00000.csv").toString();
    return List.of(
        new BadInput("missing path", List.of("--source", f.resolve("nope.csv").toString()), "source not found"),
        new BadInput("glob matching nothing", List.of("--source", f.resolve("*.nothing").toString()),
            "no source files match"),
        new BadInput("empty file", List.of("--source", f.resolve("empty.csv").toString()), "source file is empty"),
        new BadInput("csv read as json", List.of("--source", csv, "--format", "json"),
            "looks like csv, not json"),
        new BadInput("json read as csv", List.of("--source", f.resolve("events.jsonl").toString()),
            "looks like json, not csv"),
        new BadInput("parquet read as csv", List.of("--source", f.resolve("p").toString() + "/*.parquet"),
            "looks like parquet, not csv"),
        new BadInput("header missing a required column", List.of("--source", f.resolve("no-label.csv").toString()),
            "lacks required column(s) label"),
        new BadInput("unreadable schema yaml", List.of("--source", csv, "--schema", f.resolve("bad.yaml").toString()),
            "bad.yaml, line 4"),
        new BadInput("schema file missing", List.of("--source", csv, "--schema", f.resolve("none.yaml").toString()),
            "config file not found"),
        new BadInput("table that is not delta", List.of("--source", csv, "--table", "other", "--schema",
            "conf/schemas/events.yaml"), "table bronze.other exists but is not a Delta table"),
        new BadInput("unknown format", List.of("--source", csv, "--format", "xml"), "Invalid value for option '--format'"),
        new BadInput("not a bronze table", List.of("--source", csv, "--table", "quarantine.events"),
            "ingest writes bronze tables"),
        new BadInput("salt file missing", List.of("--source", csv, "--pii-salt-file", f.resolve("nosalt").toString()),
            "cannot read PII salt file"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badInputs")
  void badInputExitsTwoWithOneLineAndChangesNothing(BadInput bad) {
    Map<String, Long> before = TreeSnapshot.of(root);
    List<String> args = new ArrayList<>(List.of("ingest", "--data-root", root.toString()));
    if (!bad.args().contains("--table")) {
      args.addAll(List.of("--table", "events"));
    }
    if (!bad.args().contains("--pii-salt-file")) {
      args.addAll(List.of("--pii-salt-file", salt.toString()));
    }
    args.addAll(bad.args());

    Cli.Result r = Cli.run(args.toArray(String[]::new));

    assertEquals(2, r.exitCode(), r.err());
    assertEquals(1, r.errLines().length, "one line: " + r.err());
    assertTrue(r.err().startsWith("error: ") && r.err().contains(bad.expected()), r.err());
    assertEquals(before, TreeSnapshot.of(root), "no table may change");
  }

  @Test
  void generateRejectsBadArgumentsWithExitTwo() {
    Cli.Result r = Cli.run("generate", "--rows", "-5", "--out", tmp.resolve("g").toString());
    assertEquals(2, r.exitCode());
    assertTrue(r.err().startsWith("error: --rows must be at least 1"), r.err());
    Cli.Result notANumber = Cli.run("generate", "--rows", "many", "--out", tmp.resolve("g").toString());
    assertEquals(2, notANumber.exitCode());
    assertEquals(1, notANumber.errLines().length, notANumber.err());
  }

  @Test
  void noCommandIsAUserErrorAndHelpAndVersionWork() {
    assertEquals(2, Cli.run().exitCode());
    assertEquals(2, Cli.run("frobnicate").exitCode());
    Cli.Result help = Cli.run("ingest", "--help");
    assertEquals(0, help.exitCode());
    assertTrue(help.out().contains("--source"), help.out());
    Cli.Result version = Cli.run("--version");
    assertEquals(0, version.exitCode());
    assertTrue(version.out().contains("spark=3.5"), version.out());
  }

  @Test
  void everyCommandsHelpRendersWithoutPicocliWarnings() {
    // picocli reports a description it cannot format (a bare '%') on System.err, not on the command's writer
    java.io.PrintStream saved = System.err;
    java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
    List<String> commands = new ArrayList<>();
    try {
      System.setErr(new java.io.PrintStream(captured, true, java.nio.charset.StandardCharsets.UTF_8));
      picocli.CommandLine root = new picocli.CommandLine(new KilnCli());
      root.getSubcommands().forEach((name, sub) -> {
        commands.add(name);
        assertEquals(0, Cli.run(name, "--help").exitCode(), name);
        sub.getSubcommands().keySet().forEach(inner -> {
          commands.add(name + " " + inner);
          assertEquals(0, Cli.run(name, inner, "--help").exitCode(), name + " " + inner);
        });
      });
    } finally {
      System.setErr(saved);
    }
    assertTrue(commands.size() > 15 && commands.contains("generate"), commands.toString());
    String err = captured.toString(java.nio.charset.StandardCharsets.UTF_8);
    assertTrue(!err.contains("picocli WARN"), err);
  }

  @Test
  void jsonSummaryIsOneObjectThatAddsUp() throws IOException {
    Path src = tmp.resolve("json-src");
    new EventGenerator(new GenerateConfig(300, src, 4, 0.05, 1)).generate();
    Cli.Result r = Cli.run("ingest", "--source", src.toString(), "--table", "clicks", "--schema",
        "conf/schemas/events.yaml", "--data-root", tmp.resolve("json-root").toString(), "--pii-salt-file",
        salt.toString(), "--json");
    assertEquals(0, r.exitCode(), r.err());
    assertEquals(1, r.out().strip().split("\\R").length, r.out());
    var node = dev.kiln.common.Json.JSON.readTree(r.out());
    assertEquals("bronze.clicks", node.get("table").asText());
    assertEquals(node.get("read").asLong(),
        node.get("accepted").asLong() + node.get("quarantined").asLong() + node.get("duplicates").asLong());
    assertEquals("clicks-000001", node.get("batches").get(0).get("batch_id").asText());
  }
}
