package dev.kiln.common;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * Where a job's wall time went, stage by stage, in the order the stages ran: shown in every job's summary and
 * {@code --json} ({@code stage_seconds}) so that users and the benchmarks see where time goes without a profiler.
 *
 * <p>Spark evaluates lazily: a stage's time is the time of the actions inside it (a stage named "write" includes
 * computing what it writes). Stages are named after what the user would recognise, and a stage run twice adds up.
 * Not thread-safe: one job, one thread of stages.
 */
public final class StageTimes {
  private final Map<String, Double> seconds = new LinkedHashMap<>();
  private final long started = System.nanoTime();
  private long lastMark = started;

  /** Runs {@code work} as stage {@code stage} and returns its result. */
  public <T> T time(String stage, Supplier<T> work) {
    long t0 = System.nanoTime();
    try {
      return work.get();
    } finally {
      lastMark = System.nanoTime();
      add(stage, (lastMark - t0) / 1e9);
    }
  }

  /**
   * Ends stage {@code stage} now: it took the time since the previous stage ended (or since the job started). For
   * code that reads as a sequence of steps, where wrapping each in {@link #time} would obscure it.
   */
  public void lap(String stage) {
    long now = System.nanoTime();
    add(stage, (now - lastMark) / 1e9);
    lastMark = now;
  }

  /** Runs {@code work} as stage {@code stage}. */
  public void run(String stage, Runnable work) {
    time(stage, () -> {
      work.run();
      return null;
    });
  }

  /** Adds {@code secs} to {@code stage} (for stages timed elsewhere, e.g. per batch). */
  public void add(String stage, double secs) {
    seconds.merge(stage, secs, Double::sum);
  }

  /** Seconds since this object was created: the job's wall time so far. */
  public double elapsed() {
    return (System.nanoTime() - started) / 1e9;
  }

  /** Stage → seconds (rounded to milliseconds), in the order the stages first ran. */
  public Map<String, Double> seconds() {
    Map<String, Double> out = new LinkedHashMap<>();
    seconds.forEach((k, v) -> out.put(k, Math.round(v * 1000) / 1000.0));
    return Collections.unmodifiableMap(out);
  }

  /** One line for a summary: {@code read 3.1 s · write 4.2 s}. */
  public static String line(Map<String, Double> stageSeconds) {
    return stageSeconds.entrySet().stream()
        .map(e -> String.format(Locale.ROOT, "%s %.1f s", e.getKey(), e.getValue()))
        .collect(Collectors.joining(" · "));
  }
}
