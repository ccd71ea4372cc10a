package dev.kiln.testing;

import dev.kiln.cli.KilnCli;
import java.io.PrintWriter;
import java.io.StringWriter;

/** Runs {@code kiln ...} in this JVM (on the shared SparkSession) and captures what it prints. */
public final class Cli {
  private Cli() {}

  public record Result(int exitCode, String out, String err) {
    public String[] errLines() {
      return err.isBlank() ? new String[0] : err.strip().split("\\R");
    }
  }

  public static Result run(String... args) {
    SharedSpark.get();
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = KilnCli.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
    return new Result(code, out.toString(), err.toString());
  }
}
