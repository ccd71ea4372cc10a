package dev.kiln.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kiln.cli.KilnCli;
import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EventGeneratorTest {
  private static final Instant MARCH = Instant.parse("2026-03-02T00:00:00Z");

  @TempDir
  Path tmp;

  /** 7 days from 2026-03-02 of the population of a 20,000-row default run with seed 42. */
  private GenerateResult march(String dir, long rows, boolean drift) {
    return new EventGenerator(new GenerateConfig(rows, tmp.resolve(dir), 42, 0, 1, MARCH, 7, drift, 20_000))
        .generate();
  }

  private GenerateResult defaultWindow(String dir) {
    return new EventGenerator(new GenerateConfig(20_000, tmp.resolve(dir), 42, 0, 1)).generate();
  }

  private List<String[]> fields(GenerateResult r) throws IOException {
    return dataLines(r).stream().map(line -> line.split(",", -1)).toList();
  }

  private static Set<String> column(List<String[]> rows, int index) {
    Set<String> values = new HashSet<>();
    rows.forEach(f -> values.add(f[index]));
    return values;
  }

  private static double share(List<String[]> rows, Predicate<String[]> p) {
    return (double) rows.stream().filter(p).count() / rows.size();
  }

  private static double meanPrice(List<String[]> rows) {
    return rows.stream().mapToDouble(f -> Double.parseDouble(f[6])).average().orElseThrow();
  }

  private static String sha256(GenerateResult r) throws IOException, NoSuchAlgorithmException {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    for (String f : r.files()) {
      md.update(Files.readAllBytes(Path.of(r.out()).resolve(f)));
    }
    return HexFormat.of().formatHex(md.digest());
  }

  private List<String> dataLines(GenerateResult r) throws IOException {
    List<String> lines = new ArrayList<>();
    for (String f : r.files()) {
      List<String> all = Files.readAllLines(Path.of(r.out()).resolve(f));
      assertEquals(EventGenerator.HEADER, all.get(0));
      lines.addAll(all.subList(1, all.size()));
    }
    return lines;
  }

  @Test
  void sameSeedGivesIdenticalFilesAndAnotherSeedDoesNot() throws IOException {
    GenerateResult a = new EventGenerator(new GenerateConfig(5_000, tmp.resolve("a"), 7, 0.02, 2)).generate();
    GenerateResult b = new EventGenerator(new GenerateConfig(5_000, tmp.resolve("b"), 7, 0.02, 2)).generate();
    GenerateResult c = new EventGenerator(new GenerateConfig(5_000, tmp.resolve("c"), 8, 0.02, 2)).generate();
    assertEquals(2, a.files().size());
    for (String f : a.files()) {
      assertArrayEquals(Files.readAllBytes(tmp.resolve("a").resolve(f)), Files.readAllBytes(tmp.resolve("b").resolve(f)));
    }
    assertTrue(!dataLines(a).equals(dataLines(c)), "a different seed must give different events");
  }

  @Test
  void truthCountsMatchWhatIsInTheFiles() throws IOException {
    GenerateResult r = new EventGenerator(new GenerateConfig(20_000, tmp, 3, 0.1, 3)).generate();
    List<String> lines = dataLines(r);
    assertEquals(r.linesWritten(), lines.size());

    Map<String, Long> found = new HashMap<>();
    Set<String> ids = new HashSet<>();
    long duplicates = 0;
    for (String line : lines) {
      String[] f = line.split(",", -1);
      String reason = null;
      if (f.length != 9) {
        reason = "malformed_record";
      } else if (f[1].isEmpty()) {
        reason = "missing:user_id";
      } else if (f[6].equals("NaN")) {
        reason = "not_finite:price";
      } else if (f[6].startsWith("-")) {
        reason = "out_of_range:price";
      } else if (!f[7].matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ") || f[7].startsWith("2026-13")) {
        reason = "bad_type:timestamp";
      } else if (!f[8].equals("0") && !f[8].equals("1")) {
        reason = "not_allowed:label";
      }
      if (reason != null) {
        found.merge(reason, 1L, Long::sum);
      } else if (!ids.add(f[0])) {
        duplicates++;
      }
    }
    assertEquals(r.reasons(), found);
    assertEquals(r.expectedDuplicates(), duplicates);
    assertEquals(r.expectedAccepted(), ids.size());
    assertEquals(r.linesWritten(), r.expectedAccepted() + r.expectedQuarantined() + r.expectedDuplicates());
    // every defect kind shows up at a 10% dirty rate
    assertEquals(6, found.size());
    assertTrue(duplicates > 0);
    assertTrue(Files.exists(tmp.resolve(EventGenerator.TRUTH_FILE)));
  }

  @Test
  void eventsSpanSixtyDaysWithAboutOnePercentLate() throws IOException {
    GenerateResult r = new EventGenerator(new GenerateConfig(50_000, tmp, 42, 0, 1)).generate();
    Instant previousMax = EventGenerator.START;
    long late = 0;
    Instant first = null;
    Instant last = null;
    for (String line : dataLines(r)) {
      Instant t = Instant.parse(line.split(",")[7]);
      if (t.isBefore(previousMax.minusSeconds(3600))) {
        late++;
      }
      previousMax = t.isAfter(previousMax) ? t : previousMax;
      first = first == null || t.isBefore(first) ? t : first;
      last = last == null || t.isAfter(last) ? t : last;
    }
    double lateShare = late / 50_000.0;
    assertTrue(lateShare > 0.004 && lateShare < 0.015, "late share " + lateShare);
    long days = java.time.Duration.between(first, last).toDays();
    assertTrue(days >= 59 && days <= 60, "span " + days + " days");
  }

  /** Users who clicked more in the first month click more in the second: history carries signal. */
  @Test
  void pastUserClickRateIsPredictiveOfFutureClicks() throws IOException {
    GenerateResult r = new EventGenerator(new GenerateConfig(200_000, tmp, 42, 0, 1)).generate();
    assertTrue(r.positiveRate() > 0.05 && r.positiveRate() < 0.4, "click rate " + r.positiveRate());
    Instant mid = EventGenerator.START.plusSeconds(EventGenerator.SPAN_SECONDS / 2);
    Map<String, long[]> history = new HashMap<>();
    List<String[]> future = new ArrayList<>();
    for (String line : dataLines(r)) {
      String[] f = line.split(",");
      if (Instant.parse(f[7]).isBefore(mid)) {
        long[] h = history.computeIfAbsent(f[1], k -> new long[2]);
        h[0]++;
        h[1] += Long.parseLong(f[8]);
      } else {
        future.add(f);
      }
    }
    long[] high = new long[2];
    long[] low = new long[2];
    for (String[] f : future) {
      long[] h = history.get(f[1]);
      if (h == null || h[0] < 5) {
        continue;
      }
      double ctr = (double) h[1] / h[0];
      long[] bucket = ctr > r.positiveRate() * 1.5 ? high : ctr < r.positiveRate() * 0.5 ? low : null;
      if (bucket != null) {
        bucket[0]++;
        bucket[1] += Long.parseLong(f[8]);
      }
    }
    double highRate = (double) high[1] / high[0];
    double lowRate = (double) low[1] / low[0];
    assertTrue(highRate > 2 * lowRate, "future click rate of high-CTR users " + highRate + " vs low " + lowRate);
  }

  @Test
  void rejectsBadParameters() {
    assertThrows(KilnUserException.class, () -> new GenerateConfig(0, tmp, 1, 0, 1));
    assertThrows(KilnUserException.class, () -> new GenerateConfig(10, tmp, 1, 0.9, 1));
    assertThrows(KilnUserException.class, () -> new GenerateConfig(10, tmp, 1, Double.NaN, 1));
    assertThrows(KilnUserException.class, () -> new GenerateConfig(10, tmp, 1, 0, -1));
  }

  @Test
  void generateIfAbsentReusesAnIdenticalRun() {
    GenerateConfig config = new GenerateConfig(1_000, tmp, 1, 0.01, 1);
    assertTrue(!new EventGenerator(config).generateIfAbsent().reused());
    assertTrue(new EventGenerator(config).generateIfAbsent().reused());
    assertTrue(!new EventGenerator(new GenerateConfig(1_000, tmp, 2, 0.01, 1)).generateIfAbsent().reused());
  }

  /** The default window's bytes, as generate wrote them before windows existed: they must never change. */
  @Test
  void defaultWindowOutputIsUnchanged() throws Exception {
    GenerateResult r = new EventGenerator(new GenerateConfig(3_000, tmp.resolve("a"), 1, 0.05, 2)).generate();
    assertEquals("8ec6a8213e682d864b0d6ca0078f032de55b1e3e0b319f541f0e897c50fa639f", sha256(r));
    GenerateResult spelledOut = new EventGenerator(new GenerateConfig(3_000, tmp.resolve("b"), 1, 0.05, 2,
        GenerateConfig.DEFAULT_START, GenerateConfig.DEFAULT_DAYS, false, 3_000)).generate();
    assertEquals(sha256(r), sha256(spelledOut));
    assertEquals("2026-01-01T00:00:00Z", r.start());
    assertEquals(60, r.days());
    assertFalse(r.drift());
  }

  /** A model trained on the default window must see no drift here: same users and items, same distributions. */
  @Test
  void laterWindowIsAFreshSampleOfTheSamePopulation() throws IOException {
    List<String[]> first = fields(defaultWindow("first"));
    GenerateResult laterResult = march("later", 5_000, false);
    List<String[]> later = fields(laterResult);
    assertEquals(5_000, later.size());

    Instant end = MARCH.plus(Duration.ofDays(7));
    for (String[] f : later) {
      Instant t = Instant.parse(f[7]);
      assertTrue(!t.isBefore(MARCH) && t.isBefore(end), "timestamp outside the window: " + f[7]);
      assertTrue(f[0].matches("ev20260302-\\d{10}"), "event id " + f[0]);
    }
    assertTrue(Duration.between(MARCH, later.stream().map(f -> Instant.parse(f[7])).max(Instant::compareTo)
        .orElseThrow()).toHours() >= 7 * 24 - 2, "events reach the end of the window");
    Set<String> firstIds = column(first, 0);
    assertTrue(later.stream().noneMatch(f -> firstIds.contains(f[0])), "ids must not collide with the default's");

    Set<String> firstUsers = column(first, 1);
    Set<String> laterUsers = column(later, 1);
    long known = laterUsers.stream().filter(firstUsers::contains).count();
    assertTrue(laterUsers.size() > 500 && known > 0.95 * laterUsers.size(),
        known + " of " + laterUsers.size() + " users known");

    // the same items: same category, prices within the same ±10% jitter of the item's price
    Map<String, String> category = new HashMap<>();
    Map<String, double[]> priceRange = new HashMap<>();
    for (List<String[]> rows : List.of(first, later)) {
      for (String[] f : rows) {
        assertEquals(category.computeIfAbsent(f[2], k -> f[3]), f[3], "category of " + f[2]);
        double p = Double.parseDouble(f[6]);
        double[] range = priceRange.computeIfAbsent(f[2], k -> new double[] {p, p});
        range[0] = Math.min(range[0], p);
        range[1] = Math.max(range[1], p);
      }
    }
    priceRange.forEach((item, r) -> assertTrue(r[1] <= r[0] * 1.1 / 0.9 + 0.02, item + " price range " + r[0]
        + ".." + r[1]));
    assertTrue(column(first, 2).containsAll(column(later, 2)), "no new items without drift");

    // no drift: device mix, prices and click rate as in the default window
    for (String device : EventGenerator.DEVICES) {
      double a = share(first, f -> f[4].equals(device));
      double b = share(later, f -> f[4].equals(device));
      assertTrue(Math.abs(a - b) < 0.03, device + " share " + a + " vs " + b);
    }
    double priceRatio = meanPrice(later) / meanPrice(first);
    assertTrue(priceRatio > 0.85 && priceRatio < 1.15, "mean price ratio " + priceRatio);
    double firstRate = share(first, f -> f[8].equals("1"));
    assertTrue(Math.abs(laterResult.positiveRate() - firstRate) < 0.04,
        "click rate " + laterResult.positiveRate() + " vs " + firstRate);
  }

  /** The hidden user propensities are the same, so a user's click rate so far predicts their clicks later on. */
  @Test
  void userHistoryCarriesOverToALaterWindow() throws IOException {
    List<String[]> first = fields(defaultWindow("first"));
    List<String[]> later = fields(march("later", 10_000, false));
    double rate = share(first, f -> f[8].equals("1"));
    Map<String, long[]> history = new HashMap<>();
    for (String[] f : first) {
      long[] h = history.computeIfAbsent(f[1], k -> new long[2]);
      h[0]++;
      h[1] += Long.parseLong(f[8]);
    }
    long[] high = new long[2];
    long[] low = new long[2];
    for (String[] f : later) {
      long[] h = history.get(f[1]);
      if (h == null || h[0] < 10) {
        continue;
      }
      double ctr = (double) h[1] / h[0];
      long[] bucket = ctr > rate * 1.5 ? high : ctr < rate * 0.5 ? low : null;
      if (bucket != null) {
        bucket[0]++;
        bucket[1] += Long.parseLong(f[8]);
      }
    }
    double highRate = (double) high[1] / high[0];
    double lowRate = (double) low[1] / low[0];
    assertTrue(highRate > 2 * lowRate, "later click rate of high-CTR users " + highRate + " vs low " + lowRate);
  }

  @Test
  void driftShiftsPricesAndDevicesAndAddsANewCategory() throws IOException {
    List<String[]> first = fields(defaultWindow("first"));
    List<String[]> clean = fields(march("clean", 5_000, false));
    List<String[]> drifted = fields(march("drifted", 5_000, true));
    assertEquals(clean.size(), drifted.size());

    // a category never seen in training, on new items
    assertFalse(Arrays.asList(EventGenerator.CATEGORIES).contains(EventGenerator.NEW_CATEGORY));
    Predicate<String[]> isNew = f -> f[3].equals(EventGenerator.NEW_CATEGORY);
    assertTrue(first.stream().noneMatch(isNew) && clean.stream().noneMatch(isNew));
    double newShare = share(drifted, isNew);
    assertTrue(newShare > 0.12 && newShare < 0.18, "share of new category " + newShare);
    Set<String> firstItems = column(first, 2);
    assertTrue(drifted.stream().filter(isNew).noneMatch(f -> firstItems.contains(f[2])), "new category, new items");
    assertTrue(column(drifted, 3).size() > 10, "the default categories are still there");

    // prices ×1.6: exactly so on the rows that kept their item, about so overall
    double cleanSum = 0;
    double driftedSum = 0;
    for (int i = 0; i < clean.size(); i++) {
      if (!isNew.test(drifted.get(i))) {
        assertEquals(clean.get(i)[2], drifted.get(i)[2]);
        cleanSum += Double.parseDouble(clean.get(i)[6]);
        driftedSum += Double.parseDouble(drifted.get(i)[6]);
      }
    }
    assertEquals(EventGenerator.DRIFT_PRICE_FACTOR, driftedSum / cleanSum, 0.005);
    double overall = meanPrice(drifted) / meanPrice(clean);
    assertTrue(overall > 1.35 && overall < 1.85, "mean price ratio " + overall);

    // far more tablet and desktop, far less mobile, and nothing ingest would reject
    double mobile = share(clean, f -> f[4].equals("mobile"));
    double driftedMobile = share(drifted, f -> f[4].equals("mobile"));
    double tablet = share(clean, f -> f[4].equals("tablet"));
    double driftedTablet = share(drifted, f -> f[4].equals("tablet"));
    double desktop = share(clean, f -> f[4].equals("desktop"));
    double driftedDesktop = share(drifted, f -> f[4].equals("desktop"));
    assertTrue(driftedMobile < mobile - 0.25, "mobile " + mobile + " -> " + driftedMobile);
    assertTrue(driftedTablet > tablet + 0.2, "tablet " + tablet + " -> " + driftedTablet);
    assertTrue(driftedDesktop > desktop, "desktop " + desktop + " -> " + driftedDesktop);
    assertTrue(Set.of(EventGenerator.DEVICES).containsAll(column(drifted, 4)));

    // otherwise the twin of the undrifted window: same users, countries, times; its own ids
    for (int i = 0; i < clean.size(); i++) {
      String[] c = clean.get(i);
      String[] d = drifted.get(i);
      assertEquals(List.of(c[1], c[5], c[7]), List.of(d[1], d[5], d[7]));
      assertEquals(c[0].replace("ev20260302-", "ev20260302-drift-"), d[0]);
    }
  }

  @Test
  void driftedWindowIsDeterministic() throws Exception {
    GenerateConfig config = new GenerateConfig(4_000, tmp.resolve("a"), 9, 0.05, 2, MARCH, 7, true, 0);
    GenerateResult a = new EventGenerator(config).generate();
    GenerateResult b = new EventGenerator(new GenerateConfig(4_000, tmp.resolve("b"), 9, 0.05, 2, MARCH, 7, true, 0))
        .generate();
    assertEquals(2, a.files().size());
    assertEquals(sha256(a), sha256(b));
    assertEquals(a.reasons(), b.reasons());
    GenerateResult other = new EventGenerator(new GenerateConfig(4_000, tmp.resolve("c"), 9, 0.05, 2,
        MARCH.plus(Duration.ofDays(7)), 7, true, 0)).generate();
    assertTrue(!dataLines(a).equals(dataLines(other)), "another window gives other events");
  }

  @Test
  void windowStartingWithinADayHasItsOwnIdsAndTimes() throws IOException {
    Instant six = Instant.parse("2026-03-02T06:00:00Z");
    GenerateResult r = new EventGenerator(new GenerateConfig(500, tmp, 1, 0, 1, six, 1, false, 0)).generate();
    for (String[] f : fields(r)) {
      assertTrue(f[0].matches("ev20260302T060000-\\d{10}"), f[0]);
      Instant t = Instant.parse(f[7]);
      assertTrue(!t.isBefore(six) && t.isBefore(six.plus(Duration.ofDays(1))), f[7]);
    }
  }

  @Test
  void truthRecordsTheWindowAndReuseTellsWindowsApart() throws IOException {
    GenerateConfig first = new GenerateConfig(1_000, tmp, 1, 0.01, 1);
    GenerateConfig later = new GenerateConfig(1_000, tmp, 1, 0.01, 1, MARCH, 7, false, 0);
    GenerateConfig drifted = new GenerateConfig(1_000, tmp, 1, 0.01, 1, MARCH, 7, true, 0);
    GenerateConfig morePeople = new GenerateConfig(1_000, tmp, 1, 0.01, 1, MARCH, 7, true, 100_000);
    assertFalse(new EventGenerator(first).generateIfAbsent().reused());
    assertFalse(new EventGenerator(later).generateIfAbsent().reused());
    assertTrue(new EventGenerator(later).generateIfAbsent().reused());
    assertFalse(new EventGenerator(drifted).generateIfAbsent().reused());
    GenerateResult again = new EventGenerator(drifted).generateIfAbsent();
    assertTrue(again.reused());
    assertEquals(List.of("2026-03-02T00:00:00Z", 7, true, 1_000L),
        List.of(again.start(), again.days(), again.drift(), again.populationRows()));
    JsonNode truth = Json.JSON.readTree(tmp.resolve(EventGenerator.TRUTH_FILE).toFile());
    assertEquals("2026-03-02T00:00:00Z", truth.get("start").asText());
    assertEquals(7, truth.get("days").asInt());
    assertTrue(truth.get("drift").asBoolean());
    assertFalse(new EventGenerator(morePeople).generateIfAbsent().reused());
    assertFalse(new EventGenerator(first).generateIfAbsent().reused());

    // a truth file from before windows existed is of the default window
    ObjectNode old = (ObjectNode) Json.JSON.readTree(tmp.resolve(EventGenerator.TRUTH_FILE).toFile());
    old.remove(List.of("start", "days", "drift", "population_rows"));
    Files.writeString(tmp.resolve(EventGenerator.TRUTH_FILE), Json.toPrettyJson(old));
    assertTrue(new EventGenerator(first).generateIfAbsent().reused());
    assertFalse(new EventGenerator(later).generateIfAbsent().reused());
  }

  @Test
  void rejectsBadWindows() {
    assertEquals(MARCH, GenerateConfig.parseStart("2026-03-02"));
    assertEquals(MARCH.plusSeconds(6 * 3600), GenerateConfig.parseStart("2026-03-02T06:00:00Z"));
    List<Runnable> bad = List.of(
        () -> GenerateConfig.parseStart("2026-02-30"),
        () -> GenerateConfig.parseStart("yesterday"),
        () -> GenerateConfig.parseStart("2026-03-02T06:00"),
        () -> GenerateConfig.parseStart(""),
        () -> new GenerateConfig(10, tmp, 1, 0, 1, MARCH, 0, false, 0),
        () -> new GenerateConfig(10, tmp, 1, 0, 1, MARCH.plusMillis(500), 7, false, 0),
        () -> new GenerateConfig(10, tmp, 1, 0, 1, Instant.parse("1969-12-31T00:00:00Z"), 7, false, 0),
        () -> new GenerateConfig(10, tmp, 1, 0, 1, MARCH, 7, false, -1));
    for (Runnable r : bad) {
      KilnUserException e = assertThrows(KilnUserException.class, r::run);
      assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }
  }

  /** --hot-user-share: one user gets that share on top of its own; the same draws, so nothing else moves. */
  @Test
  void hotUserShareGivesOneUserThatShareAndLeavesTheRestAsItWas() throws IOException {
    GenerateResult plain = new EventGenerator(new GenerateConfig(4_000, tmp.resolve("plain"), 3, 0, 1)).generate();
    GenerateConfig config = new GenerateConfig(4_000, tmp.resolve("hot"), 3, 0, 1, GenerateConfig.DEFAULT_START,
        GenerateConfig.DEFAULT_DAYS, false, 0, 0.3);
    GenerateResult hot = new EventGenerator(config).generate();
    List<String[]> a = fields(plain);
    List<String[]> b = fields(hot);
    double share = share(b, f -> f[1].equals("u00000000"));
    assertTrue(share > 0.28 && share < 0.33, "hot user's share " + share);
    assertTrue(share(a, f -> f[1].equals("u00000000")) < 0.05);
    for (int i = 0; i < a.size(); i++) { // ids, items, times: the same rows
      assertEquals(List.of(a.get(i)[0], a.get(i)[2], a.get(i)[7]), List.of(b.get(i)[0], b.get(i)[2], b.get(i)[7]));
    }
    assertEquals(0.3, hot.hotUserShare());
    assertTrue(Files.readString(Path.of(hot.out()).resolve(EventGenerator.TRUTH_FILE)).contains("\"hot_user_share\""));
    assertFalse(Files.readString(Path.of(plain.out()).resolve(EventGenerator.TRUTH_FILE)).contains("hot_user"));
    assertTrue(new EventGenerator(config).generateIfAbsent().reused());
    assertFalse(new EventGenerator(new GenerateConfig(4_000, tmp.resolve("hot"), 3, 0, 1)).generateIfAbsent()
        .reused(), "a run without the hot user is another run");
    assertThrows(KilnUserException.class, () -> new GenerateConfig(10, tmp, 1, 0, 1, GenerateConfig.DEFAULT_START,
        GenerateConfig.DEFAULT_DAYS, false, 0, 0.95));
  }

  @Test
  void cliGeneratesAWindowAndSaysSo() throws IOException {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = KilnCli.execute(new String[] {"generate", "--rows", "500", "--out", tmp.resolve("cli").toString(),
        "--start", "2026-03-02", "--days", "7", "--drift"}, new PrintWriter(out, true), new PrintWriter(err, true));
    assertEquals(0, code, err.toString());
    assertTrue(out.toString().contains("window: 2026-03-02 to 2026-03-09 (7 days)"), out.toString());
    assertTrue(out.toString().contains("drifted: price ×1.6, device mix, new category 'vr'"), out.toString());
    assertTrue(Files.readString(tmp.resolve("cli/events-00000.csv")).contains(",vr,"));

    for (String[] args : List.of(new String[] {"--start", "2026-02-30"}, new String[] {"--days", "0"})) {
      StringWriter e = new StringWriter();
      List<String> argv = new ArrayList<>(List.of("generate", "--rows", "10", "--out", tmp.resolve("x").toString()));
      argv.addAll(List.of(args));
      assertEquals(2, KilnCli.execute(argv.toArray(String[]::new), new PrintWriter(new StringWriter(), true),
          new PrintWriter(e, true)));
      assertTrue(e.toString().startsWith("error: " + args[0]) && e.toString().strip().lines().count() == 1,
          e.toString());
    }
  }
}
