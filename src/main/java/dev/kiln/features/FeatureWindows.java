package dev.kiln.features;

import dev.kiln.common.KilnUserException;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Window lengths in feature specs: {@code all}, or a positive count of s, m, h or d ({@code 30m}, {@code 7d}). */
final class FeatureWindows {
  private static final Pattern DURATION = Pattern.compile("([1-9][0-9]{0,5})([smhd])");

  private FeatureWindows() {}

  /** Microseconds (event times are microsecond timestamps), or empty for {@code all}. */
  static Optional<Long> parseMicros(String window) {
    if ("all".equals(window)) {
      return Optional.empty();
    }
    Matcher m = window == null ? null : DURATION.matcher(window.trim());
    if (m == null || !m.matches()) {
      throw new KilnUserException("window '" + window + "' is not 'all' or a duration like 30m, 1h, 24h, 7d");
    }
    long seconds = Long.parseLong(m.group(1)) * switch (m.group(2)) {
      case "s" -> 1L;
      case "m" -> 60L;
      case "h" -> 3600L;
      default -> 86_400L;
    };
    return Optional.of(seconds * 1_000_000L);
  }
}
