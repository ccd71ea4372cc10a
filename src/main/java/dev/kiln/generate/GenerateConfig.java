package dev.kiln.generate;

import dev.kiln.common.KilnUserException;
import java.nio.file.Path;

/**
 * Parameters of {@link EventGenerator}.
 *
 * @param rows  clean events to generate (duplicates injected by {@code dirtyFraction} come on top)
 * @param files how many CSV files to spread them over (0: one per 250,000 rows)
 * @param dirtyFraction share of rows replaced by, or added as, bad rows (0 to 0.5)
 */
public record GenerateConfig(long rows, Path out, long seed, double dirtyFraction, int files) {
  public static final int ROWS_PER_FILE = 250_000;

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
    if (files == 0) {
      files = (int) Math.max(1, Math.min(10_000, (rows + ROWS_PER_FILE - 1) / ROWS_PER_FILE));
    }
  }
}
