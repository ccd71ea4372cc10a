package dev.kiln.pipeline;

import dev.kiln.common.SparkSessions;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.spark.SparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * Runs each attempt in this JVM on the shared SparkContext, in its own {@code spark.newSession()}: tasks keep their
 * SQL settings and commit metadata apart, and none pays a JVM + Spark start (~10 s per step on a small machine). The
 * attempt's Spark jobs carry a job group, so a timeout or a stop cancels exactly them.
 */
public final class InProcessLauncher implements TaskLauncher {
  /** Runs a Kiln command line and returns its exit code (the CLI's {@code execute}). */
  @FunctionalInterface
  public interface CommandLineRunner {
    int run(String[] args, PrintWriter out, PrintWriter err);
  }

  private static final long GRACE_MS = 30_000;

  private final SparkSession root;
  private final CommandLineRunner cli;
  private final Map<String, Thread> running = new ConcurrentHashMap<>();

  public InProcessLauncher(SparkSession root, CommandLineRunner cli) {
    this.root = root;
    this.cli = cli;
  }

  @Override
  public Outcome launch(Attempt attempt) {
    SparkSession session = root.newSession();
    SparkContext sc = root.sparkContext();
    String group = "kiln-pipeline-" + attempt.runId() + "-" + attempt.task() + "-" + attempt.number();
    StringWriter output = new StringWriter();
    PrintWriter writer = new PrintWriter(output, true);
    FutureTask<Integer> body = new FutureTask<>(() -> SparkSessions.callWith(session, () -> {
      sc.setJobGroup(group, "kiln pipeline task " + attempt.task(), true);
      try {
        return cli.run(attempt.args().toArray(String[]::new), writer, writer);
      } finally {
        sc.clearJobGroup();
      }
    }));
    Thread thread = new Thread(body, "kiln-task-" + attempt.task());
    thread.setDaemon(true);
    running.put(group, thread);
    thread.start();
    try {
      return new Outcome(body.get(attempt.timeoutMillis(), TimeUnit.MILLISECONDS), null, output.toString());
    } catch (TimeoutException e) {
      stop(group, thread);
      awaitQuietly(body);
      return Outcome.stopped("timed out after " + Durations.text(attempt.timeout().orElseThrow()), output.toString());
    } catch (InterruptedException e) {
      stop(group, thread);
      awaitQuietly(body);
      Thread.currentThread().interrupt();
      return Outcome.stopped("stopped", output.toString());
    } catch (ExecutionException e) {
      return new Outcome(1, "internal error: " + e.getCause(), output.toString());
    } finally {
      running.remove(group);
    }
  }

  @Override
  public void cancelAll() {
    running.forEach(this::stop);
  }

  private void stop(String group, Thread thread) {
    root.sparkContext().cancelJobGroup(group);
    thread.interrupt();
  }

  private static void awaitQuietly(FutureTask<Integer> body) {
    try {
      body.get(GRACE_MS, TimeUnit.MILLISECONDS);
    } catch (Exception ignored) {
      // the attempt already counts as failed; a command that ignores cancellation is left to finish on its own
    }
  }

  @Override
  public String mode() {
    return "in-process";
  }

  /** For tests: attempts running now. */
  List<String> runningGroups() {
    return List.copyOf(running.keySet());
  }
}
