package dev.kiln.pipeline;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One task of a pipeline: a Kiln command line (templated), what it waits for, and how it is retried.
 *
 * @param args        the {@code kiln} command line without {@code kiln} and {@code --data-root}
 * @param dependsOn   tasks that must succeed first
 * @param retries     further attempts after a failed one (default 0; the defaults are Airflow's operator defaults)
 * @param retryDelay  wait before the first retry (default 5 minutes)
 * @param exponentialBackoff double the wait for each further retry, up to {@code maxRetryDelay} (default false)
 * @param maxRetryDelay the longest wait between retries (default none)
 * @param timeout     an attempt running longer is cancelled and fails (default none)
 * @param branch      exit code to the downstream tasks it selects (empty: the task does not branch)
 */
public record TaskSpec(String id, List<String> args, List<String> dependsOn, int retries, Duration retryDelay,
                       boolean exponentialBackoff, Optional<Duration> maxRetryDelay, Optional<Duration> timeout,
                       Map<Integer, List<String>> branch) {
  public TaskSpec {
    args = List.copyOf(args);
    dependsOn = List.copyOf(dependsOn);
    branch = Map.copyOf(branch);
  }

  /** The command line that runs for {@code ds}: templates rendered, the run's data root appended. */
  public List<String> commandLine(java.time.LocalDate ds, Map<String, String> params, String dataRoot) {
    List<String> line = new java.util.ArrayList<>(args.stream().map(a -> Templates.render(a, ds, params)).toList());
    line.addAll(List.of("--data-root", dataRoot));
    return List.copyOf(line);
  }

  /** Whether {@code exitCode} counts as success: 0, or a code the branch map lists. */
  public boolean succeeded(int exitCode) {
    return exitCode == 0 || branch.containsKey(exitCode);
  }

  /**
   * The downstream tasks chosen by {@code exitCode}; empty when all of them run: the task does not branch, or it
   * exited 0 and its branch does not list 0 (0 is success, as for any task).
   */
  public Optional<List<String>> chosen(int exitCode) {
    return branch.containsKey(exitCode) ? Optional.of(branch.get(exitCode)) : Optional.empty();
  }

  /** The wait before retry number {@code retry} (1-based). */
  public Duration delayBeforeRetry(int retry) {
    if (!exponentialBackoff) {
      return retryDelay;
    }
    Duration d = retryDelay.multipliedBy(1L << Math.min(20, retry - 1));
    return maxRetryDelay.filter(max -> d.compareTo(max) > 0).orElse(d);
  }
}
