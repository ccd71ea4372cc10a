package dev.kiln.cli;

import dev.kiln.common.DataRoot;
import dev.kiln.common.Json;
import java.io.PrintWriter;
import java.util.List;
import java.util.function.Function;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Options every job takes. */
final class CommonOptions {
  @Option(names = "--data-root", paramLabel = "PATH", defaultValue = "${env:KILN_DATA_ROOT:-./kiln-data}",
      description = "Where Kiln keeps its tables and artifacts (env KILN_DATA_ROOT; default: ${DEFAULT-VALUE}).")
  String dataRoot;

  @Option(names = "--json", description = "Print the result as one JSON object instead of text.")
  boolean json;

  @Option(names = "--verbose", description = "Show stack traces for user errors too.")
  boolean verbose;

  /** The command this mixin is part of: where its output goes. */
  @Spec(Spec.Target.MIXEE)
  CommandSpec command;

  DataRoot dataRoot() {
    return DataRoot.of(dataRoot);
  }

  /** One JSON object per item and line with --json, else a table of {@code row(item)} under {@code header}. */
  <T> int printJsonLinesOrTable(List<T> items, List<String> header, Function<T, List<String>> row) {
    PrintWriter out = out();
    if (json) {
      items.forEach(i -> out.println(Json.toJson(i)));
    } else {
      TextTable.print(out, header, items.stream().map(row).toList());
    }
    return 0;
  }

  /** The command's standard error (a test's writer when run in-process). */
  PrintWriter err() {
    return command.commandLine().getErr();
  }

  /** The command's standard output (a test's writer when run in-process). */
  PrintWriter out() {
    return command.commandLine().getOut();
  }
}
