package dev.kiln.monitor;

import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The drift statistics, on counts that Spark aggregated (no rows reach the driver). Shares are smoothed with
 * {@link #EPSILON} where a log needs it, so an empty bin on one side gives a large but finite value.
 */
public final class DriftMetrics {
  static final double EPSILON = 1e-4;

  private DriftMetrics() {}

  /** Population stability index: sum over bins of (current − baseline) × ln(current / baseline), on shares. */
  public static double psi(long[] baseline, long[] current) {
    double b = total(baseline);
    double c = total(current);
    double psi = 0;
    for (int i = 0; i < baseline.length; i++) {
      double pb = Math.max(baseline[i] / b, EPSILON);
      double pc = Math.max(current[i] / c, EPSILON);
      psi += (pc - pb) * Math.log(pc / pb);
    }
    return psi;
  }

  /**
   * Kolmogorov-Smirnov distance between two distributions given by their counts at or below each grid point: the
   * largest gap between the two cumulative shares over the grid (the exact KS statistic when the grid holds every
   * value; a close lower bound on a grid of quantiles and bin edges).
   */
  public static double ks(long[] baselineAtOrBelow, long baselineTotal, long[] currentAtOrBelow, long currentTotal) {
    double max = 0;
    for (int i = 0; i < baselineAtOrBelow.length; i++) {
      double gap = Math.abs((double) baselineAtOrBelow[i] / baselineTotal - (double) currentAtOrBelow[i]
          / currentTotal);
      max = Math.max(max, gap);
    }
    return max;
  }

  /** Jensen-Shannon divergence with base-2 logs (0 = same distribution, 1 = disjoint) over the union of values. */
  public static double jensenShannon(Map<String, Long> baseline, Map<String, Long> current) {
    double b = baseline.values().stream().mapToLong(Long::longValue).sum();
    double c = current.values().stream().mapToLong(Long::longValue).sum();
    Set<String> values = new TreeSet<>(baseline.keySet());
    values.addAll(current.keySet());
    double js = 0;
    for (String v : values) {
      double p = baseline.getOrDefault(v, 0L) / b;
      double q = current.getOrDefault(v, 0L) / c;
      double m = (p + q) / 2;
      js += (p > 0 ? p * log2(p / m) : 0) / 2 + (q > 0 ? q * log2(q / m) : 0) / 2;
    }
    return Math.max(0, js);
  }

  /** PSI over categorical values (the union of both sides). */
  public static double psi(Map<String, Long> baseline, Map<String, Long> current) {
    Set<String> values = new TreeSet<>(baseline.keySet());
    values.addAll(current.keySet());
    long[] b = new long[values.size()];
    long[] c = new long[values.size()];
    int i = 0;
    for (String v : values) {
      b[i] = baseline.getOrDefault(v, 0L);
      c[i++] = current.getOrDefault(v, 0L);
    }
    return psi(b, c);
  }

  /**
   * ROC AUC from scores binned finely (counts of negatives and positives per bin, ascending score): the probability
   * that a random positive outscores a random negative, ties within a bin counting one half.
   */
  public static double rocAuc(long[] negatives, long[] positives) {
    double negBelow = 0;
    double wins = 0;
    double pos = 0;
    double neg = 0;
    for (int i = 0; i < negatives.length; i++) {
      wins += positives[i] * (negBelow + negatives[i] / 2.0);
      negBelow += negatives[i];
      pos += positives[i];
      neg += negatives[i];
    }
    return pos == 0 || neg == 0 ? Double.NaN : wins / (pos * neg);
  }

  private static double total(long[] counts) {
    long t = 0;
    for (long c : counts) {
      t += c;
    }
    return Math.max(t, 1);
  }

  private static double log2(double x) {
    return Math.log(x) / Math.log(2);
  }
}
