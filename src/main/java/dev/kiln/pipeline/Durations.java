package dev.kiln.pipeline;

import java.time.Duration;

/** Durations as people write them in specs and read them in progress lines: 30s, 10m, 2h, 1h30m. */
final class Durations {
  private Durations() {}

  static String text(Duration d) {
    long s = d.toSeconds();
    if (s < 60 || s % 60 != 0 && s < 600) {
      return d.toMillis() < 1000 && d.toMillis() > 0 ? d.toMillis() + "ms" : s + "s";
    }
    long h = s / 3600;
    long m = s % 3600 / 60;
    return h == 0 ? m + "m" : m == 0 ? h + "h" : h + "h" + m + "m";
  }
}
