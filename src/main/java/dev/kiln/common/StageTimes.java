package dev.kiln.common;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * Where a job's wall time went, stage by stage, in the order the stages ran: shown in every job's summary and
 * {@code --json} ({@code stage_seconds}) so that users and the benchmarks see where time goes without a profiler.
 *
 * <p>Spark evaluates lazily: a stage's time is the time of the actions inside it (a stage named "write" includes
 * computing what it writes). Stages are named after what the user would recognise, and a stage run twice adds up.
 * Not thread-safe: one job, one thread of stages (only the heap readings, shared by all jobs, are).
 *
 * <p>Each stage also gets the driver JVM's peak heap ({@code stage_peak_heap_mib}): at each stage boundary the peak
 * usage of every heap memory pool since the previous boundary, summed over the pools, after which the pools' peaks are
 * reset. It is an upper bound of the true peak heap occupancy in the stage, not the occupancy itself: the pools peak
 * at different moments (with G1, eden is full just before each young GC, the old generation after it) and a pool's
 * usage counts garbage not yet collected. In local mode the executors run inside the driver JVM, so this is
 * all of Kiln's heap; on a cluster it is the driver's only. A stage run twice keeps the larger peak. The pools' peaks
 * belong to the whole JVM, so every {@code StageTimes} open at a boundary gets that boundary's reading: a job inside
 * another (tune's trials, also running side by side) resetting the peaks does not hide them from the outer job. With
 * jobs side by side in one JVM, each one's peaks include the others' heap.
 */
public final class StageTimes {
  private static final List<MemoryPoolMXBean> HEAP_POOLS = ManagementFactory.getMemoryPoolMXBeans().stream()
      .filter(p -> p.getType() == MemoryType.HEAP).toList();
  /** Every StageTimes not yet garbage: each gets every reading of the pools' peaks. Guarded by the class. */
  private static final Set<StageTimes> OPEN = Collections.newSetFromMap(new WeakHashMap<>());

  private final Map<String, Double> seconds = new LinkedHashMap<>();
  private final Map<String, Long> peakHeapBytes = new LinkedHashMap<>();
  private final long started = System.nanoTime();
  private long lastMark = started;
  /** The highest heap reading since this object's current stage began. Guarded by the class. */
  private long currentStagePeakHeapBytes;

  public StageTimes() {
    synchronized (StageTimes.class) {
      readAndResetHeapPeaks(); // what came before belongs to the jobs already open, not to this one's first stage
      OPEN.add(this);
    }
  }

  /** Runs {@code work} as stage {@code stage} and returns its result. */
  public <T> T time(String stage, Supplier<T> work) {
    long t0 = System.nanoTime();
    synchronized (StageTimes.class) {
      readAndResetHeapPeaks();
      currentStagePeakHeapBytes = 0; // the stage starts now, not where the previous one ended
    }
    try {
      return work.get();
    } finally {
      lastMark = System.nanoTime();
      add(stage, (lastMark - t0) / 1e9);
      endHeapStage(stage);
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
    endHeapStage(stage);
  }

  /** Runs {@code work} as stage {@code stage}. */
  public void run(String stage, Runnable work) {
    time(stage, () -> {
      work.run();
      return null;
    });
  }

  /** Adds {@code secs} to {@code stage} (for stages timed elsewhere, e.g. per batch); it gets no peak heap. */
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

  /** Stage → peak heap in MiB (rounded), in the order the stages first ran; see the class comment for what it is. */
  public Map<String, Long> peakHeapMib() {
    Map<String, Long> out = new LinkedHashMap<>();
    peakHeapBytes.forEach((k, v) -> out.put(k, Math.round(v / (1024.0 * 1024))));
    return Collections.unmodifiableMap(out);
  }

  /** One line for a summary: {@code read 3.1 s · write 4.2 s}. */
  public static String line(Map<String, Double> stageSeconds) {
    return stageSeconds.entrySet().stream()
        .map(e -> String.format(Locale.ROOT, "%s %.1f s", e.getKey(), e.getValue()))
        .collect(Collectors.joining(" · "));
  }

  /** One line for a summary: {@code read 812 MiB · write 1,204 MiB}. */
  public static String heapLine(Map<String, Long> stagePeakHeapMib) {
    return stagePeakHeapMib.entrySet().stream()
        .map(e -> String.format(Locale.ROOT, "%s %,d MiB", e.getKey(), e.getValue()))
        .collect(Collectors.joining(" · "));
  }

  private void endHeapStage(String stage) {
    synchronized (StageTimes.class) {
      readAndResetHeapPeaks();
      peakHeapBytes.merge(stage, currentStagePeakHeapBytes, Math::max);
      currentStagePeakHeapBytes = 0;
    }
  }

  /** Sums the heap pools' peaks since their last reset, resets them and gives the sum to every open StageTimes. */
  private static synchronized void readAndResetHeapPeaks() {
    long sum = 0;
    for (MemoryPoolMXBean pool : HEAP_POOLS) {
      MemoryUsage peak = pool.isValid() ? pool.getPeakUsage() : null;
      if (peak != null) {
        sum += peak.getUsed();
        pool.resetPeakUsage(); // to the current usage: the next stage's peak is at least where it starts
      }
    }
    for (StageTimes open : OPEN) {
      open.currentStagePeakHeapBytes = Math.max(open.currentStagePeakHeapBytes, sum);
    }
  }
}
