package dev.kiln.pipeline;

import java.time.DayOfWeek;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.BitSet;
import java.util.Map;
import java.util.Optional;

/**
 * A 5-field cron expression (minute hour day-of-month month day-of-week, in UTC; numbers, ranges, lists and steps;
 * day-of-week 0-6 from Sunday) as Airflow reads it, or one of {@code @daily}, {@code @weekly}, {@code @monthly}.
 * Kiln's logical dates are days, so a schedule may fire at most once a day.
 *
 * <p>As in classic cron, when both day-of-month and day-of-week are restricted a day matches either.
 */
public final class CronSchedule {
  // The same presets and number-only fields as deploy/airflow/dags/kiln_pipeline_spec.py, so that a spec one
  // orchestrator accepts the other accepts too.
  private static final Map<String, String> ALIASES = Map.of("@daily", "0 0 * * *", "@weekly", "0 0 * * 0",
      "@monthly", "0 0 1 * *");

  private final String expression;
  private final int minute;
  private final int hour;
  private final BitSet daysOfMonth;
  private final BitSet months;
  private final BitSet daysOfWeek;
  private final boolean domRestricted;
  private final boolean dowRestricted;

  private CronSchedule(String expression, int minute, int hour, BitSet dom, BitSet months, BitSet dow,
                       boolean domRestricted, boolean dowRestricted) {
    this.expression = expression;
    this.minute = minute;
    this.hour = hour;
    this.daysOfMonth = dom;
    this.months = months;
    this.daysOfWeek = dow;
    this.domRestricted = domRestricted;
    this.dowRestricted = dowRestricted;
  }

  /** Parses {@code text}; an {@link IllegalArgumentException} says what is wrong in plain words. */
  public static CronSchedule parse(String text) {
    String expr = ALIASES.getOrDefault(text.trim(), text.trim());
    if (expr.startsWith("@")) {
      throw new IllegalArgumentException("'" + text + "' is not a supported schedule (a 5-field cron, @daily, "
          + "@weekly or @monthly; runs are per day, so nothing more frequent)");
    }
    String[] f = expr.split("\\s+");
    if (f.length != 5) {
      throw new IllegalArgumentException("'" + text + "' is not a 5-field cron expression (minute hour day-of-month "
          + "month day-of-week)");
    }
    BitSet minutes = field(f[0], 0, 59, "minute");
    BitSet hours = field(f[1], 0, 23, "hour");
    if (minutes.cardinality() != 1 || hours.cardinality() != 1) {
      throw new IllegalArgumentException("'" + text + "' fires more than once a day; a pipeline run is for one "
          + "logical day, so give one minute and one hour (e.g. 0 6 * * *)");
    }
    BitSet dow = field(f[4], 0, 6, "day-of-week");
    return new CronSchedule(text.trim(), minutes.nextSetBit(0), hours.nextSetBit(0),
        field(f[2], 1, 31, "day-of-month"), field(f[3], 1, 12, "month"), dow,
        !f[2].equals("*"), !f[4].equals("*"));
  }

  private static BitSet field(String text, int min, int max, String what) {
    BitSet set = new BitSet(max + 1);
    for (String part : text.split(",")) {
      String range = part;
      int step = 1;
      int slash = part.indexOf('/');
      if (slash >= 0) {
        range = part.substring(0, slash);
        step = number(part.substring(slash + 1), 1, max, what, text);
      }
      int lo;
      int hi;
      if (range.equals("*")) {
        lo = min;
        hi = max;
      } else if (range.contains("-")) {
        String[] ends = range.split("-", 2);
        lo = number(ends[0], min, max, what, text);
        hi = number(ends[1], min, max, what, text);
      } else {
        lo = number(range, min, max, what, text);
        hi = slash >= 0 ? max : lo;
      }
      if (lo > hi) {
        throw new IllegalArgumentException("cron " + what + " range '" + part + "' is empty (in '" + text + "')");
      }
      for (int v = lo; v <= hi; v += step) {
        set.set(v);
      }
    }
    return set;
  }

  private static int number(String s, int min, int max, String what, String field) {
    try {
      int v = Integer.parseInt(s);
      if (v >= min && v <= max) {
        return v;
      }
    } catch (NumberFormatException e) {
      // fall through to the message
    }
    throw new IllegalArgumentException("cron " + what + " '" + s + "' is not in " + min + ".." + max + " (in '"
        + field + "')");
  }

  private boolean matches(LocalDate day) {
    if (!months.get(day.getMonthValue())) {
      return false;
    }
    boolean dom = daysOfMonth.get(day.getDayOfMonth());
    boolean dow = daysOfWeek.get(day.getDayOfWeek() == DayOfWeek.SUNDAY ? 0 : day.getDayOfWeek().getValue());
    if (domRestricted && dowRestricted) {
      return dom || dow;
    }
    return dom && dow;
  }

  /** The first tick strictly after {@code t}; empty if none within 5 years (e.g. "0 0 30 2 *"). */
  public Optional<ZonedDateTime> next(ZonedDateTime t) {
    ZonedDateTime utc = t.withZoneSameInstant(ZoneOffset.UTC);
    LocalTime at = LocalTime.of(hour, minute);
    for (LocalDate day = utc.toLocalDate(); day.isBefore(utc.toLocalDate().plusYears(5)); day = day.plusDays(1)) {
      ZonedDateTime tick = LocalDateTime.of(day, at).atZone(ZoneOffset.UTC);
      if (tick.isAfter(utc) && matches(day)) {
        return Optional.of(tick);
      }
    }
    return Optional.empty();
  }

  /** The last tick at or before {@code t}; empty if none within 5 years. */
  public Optional<ZonedDateTime> latestAtOrBefore(ZonedDateTime t) {
    ZonedDateTime utc = t.withZoneSameInstant(ZoneOffset.UTC);
    LocalTime at = LocalTime.of(hour, minute);
    for (LocalDate day = utc.toLocalDate(); day.isAfter(utc.toLocalDate().minusYears(5)); day = day.minusDays(1)) {
      ZonedDateTime tick = LocalDateTime.of(day, at).atZone(ZoneOffset.UTC);
      if (!tick.isAfter(utc) && matches(day)) {
        return Optional.of(tick);
      }
    }
    return Optional.empty();
  }

  /**
   * The logical date of the run started at {@code tick}: the day its interval (previous tick .. tick) starts, as in
   * Airflow 2's data-interval timetables (the 06:00 run on March 3 of {@code 0 6 * * *} is for 2026-03-02).
   */
  public LocalDate logicalDate(ZonedDateTime tick) {
    return latestAtOrBefore(tick.minusMinutes(1)).orElse(tick).toLocalDate();
  }

  /** The logical date of the latest run due at {@code now}; empty before the first tick. */
  public Optional<LocalDate> latestLogicalDate(java.time.Instant now) {
    return latestAtOrBefore(now.atZone(ZoneOffset.UTC)).map(this::logicalDate);
  }

  @Override
  public String toString() {
    return expression;
  }
}
