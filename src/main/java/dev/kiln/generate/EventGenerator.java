package dev.kiln.generate;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * Deterministic synthetic clickstream: {@code event_id, user_id, item_id, category, device, country, price, timestamp,
 * label} over 60 days from 2026-01-01 UTC (or another window), in roughly time order with ~1% late (out-of-order)
 * events.
 *
 * <p>The click label follows a logistic model with a per-user propensity, a per-item popularity, a category×device
 * interaction, an hour-of-day effect and a price effect. User and item propensities are not visible in any column, so
 * historical per-user / per-item click-through rates carry signal that raw columns plus hour do not.
 *
 * <p>With a dirty fraction, that share of rows gets exactly one defect each (see {@link Defect}), and the exact counts
 * go to {@code _truth.json} beside the CSV files. Same config ⇒ byte-identical output. Generation streams: memory is
 * bounded by the number of users and items, not rows.
 *
 * <p>The population (users, items, their hidden effects, prices and categories) depends only on the seed and
 * {@link GenerateConfig#populationRows()}, so another window ({@code --start}, {@code --days}) samples the same
 * population afresh: per-user and per-item history carries over, and its event ids ({@code ev20260302-0000000000})
 * never collide with the default window's ({@code ev0000000000}). With {@code drift}, the window's population is
 * shifted: prices ×{@value #DRIFT_PRICE_FACTOR}, far more tablet and desktop than mobile, and a share
 * {@value #NEW_CATEGORY_SHARE} of rows are new items of a category the default window never has
 * ({@value #NEW_CATEGORY}). A drifted window and the undrifted one with the same start and days draw the same random
 * numbers, so the drift is the only difference between them.
 *
 * <p>With a hot user share {@code s} (to benchmark a skewed entity), user {@code u00000000} gets a share {@code s} of
 * the rows on top of its usual ones. The random draws are the same as without, so only the users of those rows, and
 * the labels that depend on the user, differ.
 */
public final class EventGenerator {
  public static final String TRUTH_FILE = "_truth.json";
  public static final String HEADER = "event_id,user_id,item_id,category,device,country,price,timestamp,label";
  static final Instant START = GenerateConfig.DEFAULT_START;
  static final long SPAN_SECONDS = GenerateConfig.DEFAULT_DAYS * 24L * 3600;
  static final double LATE_FRACTION = 0.01;
  static final String[] CATEGORIES = {"electronics", "fashion", "home", "beauty", "sports", "books", "toys",
      "grocery", "auto", "garden", "music", "travel"};
  static final String[] DEVICES = {"mobile", "desktop", "tablet"};
  static final String[] COUNTRIES = {"US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "PL", "BR", "MX", "IN", "JP",
      "AU", "CA"};
  /** With drift: every price is multiplied by this. */
  public static final double DRIFT_PRICE_FACTOR = 1.6;
  /** With drift: the category of new items, none of the default 12, and the share of rows that are such items. */
  public static final String NEW_CATEGORY = "vr";
  public static final double NEW_CATEGORY_SHARE = 0.15;
  // salts for the side streams of other windows and of the new category's items (any fixed, distinct values)
  private static final long WINDOW_SALT = 0x77696e646f77L;
  private static final long NEW_CATEGORY_SALT = 0x6e65772d6361L;

  /** The injected defects, each with the quarantine reason code ingest must give it. */
  public enum Defect {
    MALFORMED_ROW("malformed_record"),
    BAD_TIMESTAMP("bad_type:timestamp"),
    NEGATIVE_PRICE("out_of_range:price"),
    NAN_PRICE("not_finite:price"),
    EMPTY_USER_ID("missing:user_id"),
    BAD_LABEL("not_allowed:label"),
    DUPLICATE_EVENT(null);

    private final String reason;

    Defect(String reason) {
      this.reason = reason;
    }

    /** The quarantine reason code, or null for duplicates (which are counted, not quarantined). */
    public String reason() {
      return reason;
    }
  }

  private final GenerateConfig config;

  public EventGenerator(GenerateConfig config) {
    this.config = config;
  }

  /** Generates, or returns the existing result when {@code out} already holds this exact config's output. */
  public GenerateResult generateIfAbsent() {
    return existing().orElseGet(this::generate);
  }

  java.util.Optional<GenerateResult> existing() {
    Path truth = config.out().resolve(TRUTH_FILE);
    if (!Files.isRegularFile(truth)) {
      return java.util.Optional.empty();
    }
    try {
      JsonNode node = Json.JSON.readTree(truth.toFile());
      GenerateResult r = Json.JSON.treeToValue(node, GenerateResult.class);
      // truth files from before windows existed have no start/days/population: they are of the default window
      boolean sameWindow = (r.start() == null ? START : Instant.parse(r.start())).equals(config.start())
          && (r.days() == 0 ? GenerateConfig.DEFAULT_DAYS : r.days()) == config.days() && r.drift() == config.drift()
          && (r.populationRows() == 0 ? r.rows() : r.populationRows()) == config.populationRows()
          && r.hotUserShare() == config.hotUserShare();
      boolean same = r.rows() == config.rows() && r.seed() == config.seed() && sameWindow
          && r.dirtyFraction() == config.dirtyFraction() && r.files().size() == config.files()
          && r.files().stream().allMatch(f -> Files.isRegularFile(config.out().resolve(f)));
      return same ? java.util.Optional.of(withReused(r)) : java.util.Optional.empty();
    } catch (IOException | RuntimeException e) {
      return java.util.Optional.empty();
    }
  }

  private static GenerateResult withReused(GenerateResult r) {
    return new GenerateResult(r.out(), r.files(), r.rows(), r.seed(), r.dirtyFraction(), r.start(), r.days(),
        r.drift(), r.hotUserShare(), r.populationRows(), r.linesWritten(),
        r.expectedAccepted(), r.expectedQuarantined(), r.expectedDuplicates(), r.reasons(), r.defects(),
        r.positiveRate(), true);
  }

  public GenerateResult generate() {
    Path out = config.out();
    try {
      Files.createDirectories(out);
    } catch (IOException e) {
      throw new KilnUserException("cannot create output directory (" + out + "): " + e.getMessage());
    }
    SplittableRandom rnd = new SplittableRandom(config.seed());
    long rows = config.rows();
    long population = config.populationRows();
    World world = new World(rnd, (int) Math.max(50, Math.min(20_000_000, population / 25)),
        (int) Math.max(20, Math.min(5_000_000, population / 100)));
    Window window = new Window(config);
    if (!config.defaultWindow()) {
      // The same population, a fresh sample: the events continue on a stream of their own, one per (start, days).
      // Drift is left out of it on purpose, so a drifted window differs from its undrifted twin only by the drift.
      rnd = new SplittableRandom(derive(config.seed(), WINDOW_SALT, config.start().getEpochSecond(), config.days()));
      if (config.drift()) {
        world.addNewCategory(new SplittableRandom(derive(config.seed(), NEW_CATEGORY_SALT)));
      }
    }

    Map<Defect, Long> defects = new LinkedHashMap<>();
    for (Defect d : Defect.values()) {
      defects.put(d, 0L);
    }
    String[] recentClean = new String[1024];
    long cleanWritten = 0;
    long positives = 0;
    long lines = 0;
    List<String> fileNames = new ArrayList<>();
    long rowsPerFile = (rows + config.files() - 1) / config.files();
    long row = 0;
    for (int f = 0; f < config.files() && row < rows; f++) {
      String name = String.format("events-%05d.csv", f);
      fileNames.add(name);
      try (BufferedWriter w = Files.newBufferedWriter(out.resolve(name), StandardCharsets.UTF_8)) {
        w.write(HEADER);
        w.write('\n');
        long end = Math.min(rows, row + rowsPerFile);
        StringBuilder sb = new StringBuilder(160);
        for (; row < end; row++) {
          String[] fields = world.event(rnd, row, rows, window);
          Defect defect = null;
          if (config.dirtyFraction() > 0 && rnd.nextDouble() < config.dirtyFraction()) {
            defect = Defect.values()[rnd.nextInt(Defect.values().length)];
          }
          if (defect != null && defect != Defect.DUPLICATE_EVENT) {
            corrupt(fields, defect, rnd);
          }
          String line = join(sb, fields, defect == Defect.MALFORMED_ROW ? (rnd.nextBoolean() ? 1 : -1) : 0);
          w.write(line);
          w.write('\n');
          lines++;
          if (defect == null || defect == Defect.DUPLICATE_EVENT) {
            recentClean[(int) (cleanWritten % recentClean.length)] = line;
            cleanWritten++;
            positives += fields[8].equals("1") ? 1 : 0;
          }
          if (defect == Defect.DUPLICATE_EVENT) {
            // an exact copy of a recent clean row, written after it
            int pick = rnd.nextInt((int) Math.min(cleanWritten, recentClean.length));
            w.write(recentClean[pick]);
            w.write('\n');
            lines++;
          }
          if (defect != null) {
            defects.merge(defect, 1L, Long::sum);
          }
        }
      } catch (IOException e) {
        throw new KilnUserException("cannot write " + out.resolve(name) + ": " + e.getMessage());
      }
    }
    Map<String, Long> reasons = new TreeMap<>();
    long quarantined = 0;
    for (Map.Entry<Defect, Long> e : defects.entrySet()) {
      if (e.getKey().reason() != null && e.getValue() > 0) {
        reasons.put(e.getKey().reason(), e.getValue());
        quarantined += e.getValue();
      }
    }
    Map<String, Long> defectCounts = new LinkedHashMap<>();
    defects.forEach((k, v) -> defectCounts.put(k.name().toLowerCase(java.util.Locale.ROOT), v));
    long duplicates = defects.get(Defect.DUPLICATE_EVENT);
    GenerateResult result = new GenerateResult(out.toAbsolutePath().toString(), fileNames, rows, config.seed(),
        config.dirtyFraction(), config.start().toString(), config.days(), config.drift(), config.hotUserShare(),
        population, lines,
        rows - quarantined, quarantined, duplicates, reasons, defectCounts,
        cleanWritten == 0 ? 0 : (double) positives / cleanWritten, false);
    try {
      Files.writeString(out.resolve(TRUTH_FILE), Json.toPrettyJson(result) + "\n");
    } catch (IOException e) {
      throw new KilnUserException("cannot write " + out.resolve(TRUTH_FILE) + ": " + e.getMessage());
    }
    return result;
  }

  /** A seed for a side stream, determined by {@code seed} and {@code parts} yet unrelated to the main stream. */
  static long derive(long seed, long... parts) {
    long s = seed;
    for (long p : parts) {
      s = new SplittableRandom(s ^ p).nextLong();
    }
    return s;
  }

  /**
   * Where and how events are drawn: the time window, the event id prefix, whether the population is drifted, and
   * whether a draw for the new category is made (every window but the default one, whose output stays as it was).
   */
  record Window(Instant start, long spanSeconds, String idPrefix, boolean drift, boolean newCategoryDraw,
                double hotUserShare) {
    Window(GenerateConfig c) {
      this(c.start(), c.days() * 24L * 3600, idPrefix(c), c.drift(), !c.defaultWindow(), c.hotUserShare());
    }

    /** {@code ev} for the default window; else {@code ev20260302-} (the start, with its time unless midnight). */
    private static String idPrefix(GenerateConfig c) {
      if (c.defaultWindow()) {
        return "ev";
      }
      String iso = c.start().toString(); // 2026-03-02T06:00:00Z: whole seconds, 4-digit year (see GenerateConfig)
      String date = iso.substring(0, 10).replace("-", "");
      String time = iso.substring(11, 19).replace(":", "");
      return "ev" + date + (time.equals("000000") ? "" : "T" + time) + (c.drift() ? "-drift-" : "-");
    }
  }

  private static void corrupt(String[] f, Defect defect, SplittableRandom rnd) {
    switch (defect) {
      case BAD_TIMESTAMP -> f[7] = rnd.nextBoolean() ? "2026-13-45T99:00:00Z" : "yesterday";
      case NEGATIVE_PRICE -> f[6] = "-" + f[6];
      case NAN_PRICE -> f[6] = "NaN";
      case EMPTY_USER_ID -> f[1] = "";
      case BAD_LABEL -> f[8] = "2";
      case MALFORMED_ROW, DUPLICATE_EVENT -> { } // handled when the line is joined / written
    }
  }

  /** Joins fields as CSV; {@code widthChange} -1 drops the last field, +1 adds one (a malformed row). */
  private static String join(StringBuilder sb, String[] fields, int widthChange) {
    sb.setLength(0);
    int n = fields.length + Math.min(0, widthChange);
    for (int i = 0; i < n; i++) {
      if (i > 0) {
        sb.append(',');
      }
      sb.append(fields[i]);
    }
    if (widthChange > 0) {
      sb.append(",extra");
    }
    return sb.toString();
  }

  /** The hidden state behind the events: user and item propensities, prices, category × device effects. */
  static final class World {
    final double[] userEffect;
    final byte[] userCountry;
    final double[] userMobile;
    final double[] itemEffect;
    final byte[] itemCategory;
    final double[] itemPrice;
    final double[][] categoryDevice = new double[CATEGORIES.length][DEVICES.length];
    // the new category's items (ids after the regular ones) and its device effects: drifted windows only
    double[] newItemEffect = new double[0];
    double[] newItemPrice = new double[0];
    final double[] newCategoryDevice = new double[DEVICES.length];

    World(SplittableRandom rnd, int users, int items) {
      userEffect = new double[users];
      userCountry = new byte[users];
      userMobile = new double[users];
      for (int u = 0; u < users; u++) {
        userEffect[u] = gaussian(rnd);
        userCountry[u] = (byte) rnd.nextInt(COUNTRIES.length);
        userMobile[u] = rnd.nextDouble();
      }
      itemEffect = new double[items];
      itemCategory = new byte[items];
      itemPrice = new double[items];
      for (int i = 0; i < items; i++) {
        itemEffect[i] = gaussian(rnd);
        itemCategory[i] = (byte) rnd.nextInt(CATEGORIES.length);
        itemPrice[i] = Math.exp(3.0 + 0.9 * gaussian(rnd));
      }
      for (double[] row : categoryDevice) {
        for (int d = 0; d < row.length; d++) {
          row[d] = 0.6 * gaussian(rnd);
        }
      }
    }

    /**
     * Adds the new category: about one regular category's worth of new items (popularity, price as the others have)
     * and its own category × device effects, all drawn from {@code rnd}, a stream of its own.
     */
    void addNewCategory(SplittableRandom rnd) {
      int items = Math.max(5, itemEffect.length / CATEGORIES.length);
      newItemEffect = new double[items];
      newItemPrice = new double[items];
      for (int i = 0; i < items; i++) {
        newItemEffect[i] = gaussian(rnd);
        newItemPrice[i] = Math.exp(3.0 + 0.9 * gaussian(rnd));
      }
      for (int d = 0; d < DEVICES.length; d++) {
        newCategoryDevice[d] = 0.6 * gaussian(rnd);
      }
    }

    /** The clean fields of event {@code index} of {@code total} in {@code window}. */
    String[] event(SplittableRandom rnd, long index, long total, Window window) {
      // With a hot user, the same draw picks it below the share and else a user as usual (rescaled): without one,
      // the draw and the users are exactly as they always were.
      double h = window.hotUserShare();
      double u = rnd.nextDouble();
      int user = h > 0 && u < h ? 0 : (int) (userEffect.length * Math.pow(h > 0 ? (u - h) / (1 - h) : u, 1.5));
      int item = (int) (itemEffect.length * Math.pow(rnd.nextDouble(), 2.0));
      // Drawn in every window but the default one (so its output stays as it always was), used only with drift:
      // below the share, the row is one of the new category's items instead, picked by the rescaled same draw.
      double n = window.newCategoryDraw() ? rnd.nextDouble() : 1.0;
      boolean newCategory = window.drift() && n < NEW_CATEGORY_SHARE;
      int newItem = newCategory ? (int) (newItemEffect.length * Math.pow(n / NEW_CATEGORY_SHARE, 2.0)) : -1;
      double m = rnd.nextDouble();
      int device = window.drift()
          ? (m < 0.1 + 0.2 * userMobile[user] ? 0 : m < 0.65 ? 1 : 2) // mobile ~20% (was ~55%), tablet 35% (was 8%)
          : (m < 0.3 + 0.5 * userMobile[user] ? 0 : m < 0.92 ? 1 : 2);
      int category = itemCategory[item];
      double basePrice = newCategory ? newItemPrice[newItem] : itemPrice[item];
      double jitter = 0.9 + 0.2 * rnd.nextDouble();
      double price = Math.round((window.drift() ? basePrice * DRIFT_PRICE_FACTOR : basePrice) * jitter * 100) / 100.0;
      long second = (long) (window.spanSeconds() * ((index + rnd.nextDouble()) / total));
      if (rnd.nextDouble() < LATE_FRACTION) {
        second = Math.max(0, second - (long) (rnd.nextDouble() * 48 * 3600)); // arrives late, still in the window
      }
      Instant ts = window.start().plusSeconds(second);
      int hour = Math.floorMod(Math.floorDiv(ts.getEpochSecond(), 3600), 24); // of the day, also for 06:00 starts
      double itemTerm = newCategory ? newItemEffect[newItem] : itemEffect[item];
      double categoryTerm = newCategory ? newCategoryDevice[device] : categoryDevice[category][device];
      double logit = -2.2 + 1.0 * userEffect[user] + 0.7 * itemTerm + categoryTerm
          + 0.5 * Math.cos(2 * Math.PI * (hour - 20) / 24.0) - 0.35 * (Math.log(Math.max(price, 0.01)) - 3.0);
      boolean click = rnd.nextDouble() < 1.0 / (1.0 + Math.exp(-logit));
      return new String[] {
          window.idPrefix() + pad(index, 10), "u" + pad(user, 8),
          "i" + pad(newCategory ? itemEffect.length + newItem : item, 7),
          newCategory ? NEW_CATEGORY : CATEGORIES[category], DEVICES[device],
          COUNTRIES[userCountry[user]], Double.toString(price), ts.toString(), click ? "1" : "0"};
    }

    private static String pad(long v, int width) {
      String s = Long.toString(v);
      return s.length() >= width ? s : "0".repeat(width - s.length()) + s;
    }

    private static double gaussian(SplittableRandom rnd) {
      // Box-Muller: SplittableRandom has no nextGaussian on Java 17
      double u1 = 1.0 - rnd.nextDouble();
      double u2 = rnd.nextDouble();
      return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
  }
}
