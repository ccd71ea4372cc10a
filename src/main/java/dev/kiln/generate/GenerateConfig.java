package dev.kiln.generate;

import dev.kiln.common.KilnUserException;
import java.nio.file.Path;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;

/**
 * Parameters of {@link EventGenerator}.
 *
 * @param rows  clean events to generate (duplicates injected by {@code dirtyFraction} come on top)
 * @param files how many CSV files to spread them over (0: one per 250,000 rows)
 * @param dirtyFraction share of rows replaced by, or added as, bad rows (0 to 0.5)
 * @param start start of the time window the events are spread over, a whole second (null: {@link #DEFAULT_START})
 * @param days  length of the time window in days
 * @param drift shift the population for this window: prices, device mix, a new category (see {@link EventGenerator})
 * @param populationRows the population (users, items) is sized as for a run of this many rows, so that a later,
 *                       smaller window can sample the same users and items as the run it follows (0: {@code rows})
 * @param hotUserShare   share of the rows given to one user, {@code u00000000}, on top of its usual ones (0 to 0.9;
 *                       0: none, the output as it always was), to benchmark a skewed entity
 */
public record GenerateConfig(long rows, Path out, long seed, double dirtyFraction, int files, Instant start, int days,
                             boolean drift, long populationRows, double hotUserShare) {
  public static final int ROWS_PER_FILE = 250_000;
  public static final Instant DEFAULT_START = Instant.parse("2026-01-01T00:00:00Z");
  public static final int DEFAULT_DAYS = 60;
  // Instant.toString() has a 4-digit year only in this range, and ingest expects exactly that form
  private static final Instant EARLIEST = Instant.parse("1970-01-01T00:00:00Z");
  private static final Instant LATEST = Instant.parse("9999-12-31T00:00:00Z");

  public GenerateConfig {
    if (rows < 1) {
      throw new KilnUserException("--rows must be at least 1 (got " + rows + ")");
    }
    if (!(dirtyFraction >= 0 && dirtyFraction <= 0.5)) {
      throw new KilnUserException("--dirty must be between 0 and 0.5 (got " + dirtyFraction + ")");
    }
    if (files < 0) {
      throw new KilnUserException("--files must not be negative (got " + files + ")");
    }
    if (out == null) {
      throw new KilnUserException("--out is required");
    }
    if (days < 1) {
      throw new KilnUserException("--days must be at least 1 (got " + days + ")");
    }
    if (!(hotUserShare >= 0 && hotUserShare <= 0.9)) {
      throw new KilnUserException("--hot-user-share must be between 0 and 0.9 (got " + hotUserShare + ")");
    }
    if (populationRows < 0) {
      throw new KilnUserException("--population-rows must not be negative (got " + populationRows + ")");
    }
    start = start == null ? DEFAULT_START : start;
    if (start.getNano() != 0) {
      throw new KilnUserException("--start must be a whole second (got " + start + ")");
    }
    if (start.isBefore(EARLIEST) || start.plusSeconds(days * 86_400L).isAfter(LATEST)) {
      throw new KilnUserException("the window must lie between 1970-01-01 and 9999-12-31 (got --start " + start
          + " and --days " + days + ")");
    }
    if (files == 0) {
      files = (int) Math.max(1, Math.min(10_000, (rows + ROWS_PER_FILE - 1) / ROWS_PER_FILE));
    }
    if (populationRows == 0) {
      populationRows = rows;
    }
  }

  /** No hot user. */
  public GenerateConfig(long rows, Path out, long seed, double dirtyFraction, int files, Instant start, int days,
                        boolean drift, long populationRows) {
    this(rows, out, seed, dirtyFraction, files, start, days, drift, populationRows, 0);
  }

  /** The default window (60 days from 2026-01-01, no drift), with the population sized by {@code rows}. */
  public GenerateConfig(long rows, Path out, long seed, double dirtyFraction, int files) {
    this(rows, out, seed, dirtyFraction, files, DEFAULT_START, DEFAULT_DAYS, false, 0, 0);
  }

  /** The end of the window (exclusive). */
  public Instant end() {
    return start.plusSeconds(days * 86_400L);
  }

  /** True for the window generate has always written; any other window gets its own event stream and ids. */
  public boolean defaultWindow() {
    return start.equals(DEFAULT_START) && days == DEFAULT_DAYS && !drift;
  }

  /** Parses {@code --start}: a UTC date ({@code 2026-03-02}) or an instant ({@code 2026-03-02T00:00:00Z}). */
  public static Instant parseStart(String text) {
    String s = text == null ? "" : text.trim();
    try {
      return s.contains("T") ? Instant.parse(s) : LocalDate.parse(s).atStartOfDay(ZoneOffset.UTC).toInstant();
    } catch (DateTimeException e) {
      throw new KilnUserException("--start must be a date like 2026-03-02 or a UTC instant like "
          + "2026-03-02T00:00:00Z (got '" + text + "')");
    }
  }
}
