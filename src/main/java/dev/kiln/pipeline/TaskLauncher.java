package dev.kiln.pipeline;

import java.time.Duration;
import java.util.List;

/** Runs one attempt of a task's Kiln command line: in this JVM ({@link InProcessLauncher}) or as a child process. */
public interface TaskLauncher {
  /** One attempt: which task, and the rendered command line (with {@code --data-root}). */
  record Attempt(String runId, String task, int number, List<String> args, java.util.Optional<Duration> timeout) {
    public Attempt {
      args = List.copyOf(args);
    }

    /** The timeout in milliseconds; {@code Long.MAX_VALUE} without one. */
    long timeoutMillis() {
      return timeout.map(Duration::toMillis).orElse(Long.MAX_VALUE);
    }
  }

  /**
   * How an attempt ended.
   *
   * @param exitCode the command's exit code; null when it timed out or was cancelled
   * @param output   what the command printed (stdout and stderr)
   */
  record Outcome(Integer exitCode, String message, String output) {
    static Outcome stopped(String why, String output) {
      return new Outcome(null, why, output);
    }
  }

  /** Runs the attempt to its end, its timeout, or {@link #cancelAll}; never throws for the command's own failures. */
  Outcome launch(Attempt attempt);

  /** Cancels every running attempt (the runner is stopping). */
  void cancelAll();

  /** {@code in-process} or {@code isolated}, as recorded in meta.pipeline_runs. */
  String mode();

  /** The line that says why a command failed: its last "error:" line, else its last line. */
  static String failureLine(String output) {
    String[] lines = output.strip().split("\\R");
    for (int i = lines.length - 1; i >= 0; i--) {
      String l = lines[i].strip();
      if (l.startsWith("error:") || l.startsWith("internal error:")) {
        return l;
      }
    }
    return lines.length == 0 ? "" : lines[lines.length - 1].strip();
  }
}
