package dev.kiln.cli;

import dev.kiln.common.BuildInfo;
import dev.kiln.common.ExitCodes;
import dev.kiln.common.KilnUserException;
import java.io.PrintWriter;
import java.util.Arrays;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * {@code kiln}: one entry point for every job. Exit codes: 0 ok, 1 internal failure, 2 user error (bad arguments,
 * input or config: one line on stderr, no stack trace unless {@code --verbose}), 3 monitoring threshold crossed.
 */
@Command(name = "kiln", mixinStandardHelpOptions = true, versionProvider = KilnCli.Version.class,
    description = "Kiln: distributed machine learning on Apache Spark and Delta Lake.",
    subcommands = {DemoCommand.class, GenerateCommand.class, IngestCommand.class, FeaturesCommand.class, TrainsetCommand.class, TrainCommand.class, RunsCommand.class, ModelsCommand.class, TuneCommand.class, ScoreCommand.class, MonitorCommand.class,
        PipelineCommand.class, TablesCommand.class,
        SqlCommand.class, ExportCommand.class, AirflowCommand.class, CommandLine.HelpCommand.class},
    footer = {"", "Exit codes: 0 ok, 1 internal failure, 2 user error, 3 monitoring threshold crossed."})
public final class KilnCli implements Runnable {
  @Spec
  CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "a command is required");
  }

  public static void main(String[] args) {
    int code = execute(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true));
    System.exit(code);
  }

  /** Runs the CLI in this JVM (tests use this) and returns the exit code. */
  public static int execute(String[] args, PrintWriter out, PrintWriter err) {
    boolean verbose = Arrays.asList(args).contains("--verbose");
    CommandLine cli = new CommandLine(new KilnCli());
    cli.setOut(out);
    cli.setErr(err);
    cli.setCaseInsensitiveEnumValuesAllowed(true);
    cli.setParameterExceptionHandler((ex, argv) -> {
      CommandLine cmd = ex.getCommandLine();
      err.println("error: " + ex.getMessage() + " (see '" + cmd.getCommandSpec().qualifiedName() + " --help')");
      err.flush();
      return ExitCodes.USER_ERROR;
    });
    cli.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
      KilnUserException user = userError(ex);
      if (user != null) {
        err.println("error: " + user.getMessage());
        if (verbose) {
          user.printStackTrace(err);
        }
        err.flush();
        return ExitCodes.USER_ERROR;
      }
      err.println("internal error: " + ex);
      ex.printStackTrace(err);
      err.println("This is a bug in Kiln; please report it with the lines above.");
      err.flush();
      return ExitCodes.INTERNAL_ERROR;
    });
    return cli.execute(args);
  }

  /** A user error anywhere in the cause chain (Spark wraps exceptions thrown inside tasks). */
  static KilnUserException userError(Throwable ex) {
    for (Throwable t = ex; t != null; t = t.getCause()) {
      if (t instanceof KilnUserException k) {
        return k;
      }
    }
    return null;
  }

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {"kiln " + BuildInfo.kilnVersion() + " (commit " + BuildInfo.gitCommit() + ")",
          "libraries " + BuildInfo.libraryVersions()};
    }
  }
}
