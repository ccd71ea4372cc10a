package dev.kiln.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.KilnUserException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EventGeneratorTest {
  @TempDir
  Path tmp;

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
}
