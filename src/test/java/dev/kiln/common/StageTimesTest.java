package dev.kiln.common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link StageTimes}: seconds and the driver's peak heap per stage. */
class StageTimesTest {
  private static final int ALLOCATED_MIB = 128;
  /** Of the 128 MiB a stage holds at once, how much its peak must show at least (the rest: other threads, rounding). */
  private static final int SEEN_MIB = 96;

  private static volatile Object sink;

  /** Holds {@code mib} MiB of arrays at once, then lets them go and collects them: high peak, low usage after. */
  private static void holdThenRelease(int mib) {
    List<byte[]> arrays = new ArrayList<>();
    for (int i = 0; i < mib; i++) {
      arrays.add(new byte[1 << 20]);
    }
    sink = arrays; // the arrays cannot be optimized away
    sink = null;
    arrays = null;
    System.gc();
  }

  @Test
  void aStagesPeakHeapCountsWhatItHeldEvenIfReleasedAndTheNextStageStartsLow() {
    System.gc();
    StageTimes stages = new StageTimes();
    stages.lap("idle before");
    stages.run("hold and release", () -> holdThenRelease(ALLOCATED_MIB));
    stages.lap("idle after");
    stages.run("hold and release", () -> { }); // run twice: the larger peak stays
    Map<String, Long> peak = stages.peakHeapMib();

    assertEquals(List.copyOf(stages.seconds().keySet()), List.copyOf(peak.keySet()), "the same stages, in order");
    assertEquals(List.of("idle before", "hold and release", "idle after"), List.copyOf(peak.keySet()));
    assertTrue(peak.values().stream().allMatch(v -> v > 0), peak.toString());
    // the arrays were all live at once inside the stage, gone by its end: only a peak sees them
    assertTrue(peak.get("hold and release") >= peak.get("idle before") + SEEN_MIB, peak.toString());
    // the peaks were reset at the boundary: the idle stage after does not inherit them
    assertTrue(peak.get("idle after") <= peak.get("hold and release") - SEEN_MIB, peak.toString());
  }

  @Test
  void aJobInsideAnotherDoesNotHideItsPeakByResettingThePools() {
    System.gc();
    StageTimes outer = new StageTimes(); // e.g. tune, with a trial inside its "trials" stage
    outer.lap("idle before");
    StageTimes inner = new StageTimes();
    inner.run("hold and release", () -> holdThenRelease(ALLOCATED_MIB));
    inner.lap("idle after"); // resets the pools' peaks again
    outer.lap("inner job");
    Map<String, Long> innerPeak = inner.peakHeapMib();
    Map<String, Long> outerPeak = outer.peakHeapMib();

    assertTrue(innerPeak.get("hold and release") >= outerPeak.get("idle before") + SEEN_MIB, innerPeak.toString());
    assertTrue(outerPeak.get("inner job") >= innerPeak.get("hold and release"), outerPeak + " " + innerPeak);
  }

  @Test
  void linesForTheSummary() {
    Map<String, Double> seconds = new LinkedHashMap<>();
    seconds.put("read", 3.14);
    seconds.put("write", 4.2);
    assertEquals("read 3.1 s · write 4.2 s", StageTimes.line(seconds));
    Map<String, Long> heap = new LinkedHashMap<>();
    heap.put("read", 812L);
    heap.put("write", 1204L);
    assertEquals("read 812 MiB · write 1,204 MiB", StageTimes.heapLine(heap));
  }
}
