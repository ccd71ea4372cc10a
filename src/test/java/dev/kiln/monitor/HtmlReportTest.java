package dev.kiln.monitor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.kiln.monitor.MonitorReport.Check;
import dev.kiln.monitor.MonitorReport.DailyModelQuality;
import dev.kiln.monitor.MonitorReport.FeatureDrift;
import dev.kiln.monitor.MonitorReport.Histogram;
import dev.kiln.monitor.MonitorReport.Status;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The monitoring report as a file and as a person sees it: self-contained HTML with the verdict first, then opened in
 * headless Chromium (Debian's {@code chromium}; CI installs it in .ci/run) for a screenshot and the DOM it built.
 */
class HtmlReportTest {

  private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
  private static final long CHROMIUM_TIMEOUT_S = 120;
  private static final Pattern DATA_PNG = Pattern.compile("src=\"data:image/png;base64,[A-Za-z0-9+/&#;]+\"");

  @TempDir
  Path tmp;

  @Test
  void rendersASelfContainedPageWithTheVerdictFirst() {
    MonitorReport report = alertReport();
    String html = HtmlReport.render(report);

    for (String external : List.of("http://", "https://", "src=\"//", "href=\"//", "url(")) {
      assertFalse(html.contains(external), "the page must not load anything (" + external + ")");
    }
    assertTrue(Pattern.compile("<title>[^<]*ALERT[^<]*</title>").matcher(html).find(), "title names the verdict");
    assertTrue(html.contains("id=\"verdict\""), "the verdict element");
    assertTrue(html.indexOf("id=\"verdict\"") < html.indexOf("Feature drift"), "the verdict comes first");
    assertTrue(html.contains("clicks@champion → v7"), "model, alias and version");
    assertTrue(html.contains("run-20260302-0907") && html.contains("predictions.clicks batch 2026-03-02"));
    assertTrue(html.contains("48,210") && html.contains("1,200,000"), "rows current vs baseline");
    assertTrue(html.contains("2026-03-02 09:07:00 UTC"), "when it was monitored");

    // one PNG per feature, the score distribution and the AUC line
    int charts = 0;
    Matcher m = DATA_PNG.matcher(html);
    while (m.find()) {
      charts++;
    }
    assertEquals(report.features().size() + 2, charts, "an embedded image per chart");

    // the feature table: worst first, 3 decimals, a dash where a metric does not apply
    String table = between(html, "<table class=\"features\">", "</table>");
    assertTrue(table.indexOf("price") < table.indexOf("hour") && table.indexOf("country") < table.indexOf("device"),
        "alerts first: " + table);
    assertTrue(table.indexOf("device") < table.indexOf("hour"), "WARN before OK");
    assertTrue(table.contains("0.412") && table.contains("0.080") && table.contains("—"));

    String checks = between(html, "<table class=\"checks\">", "</table>");
    assertTrue(checks.indexOf("allowed_values") < checks.indexOf("null_rate"), "failed checks first: " + checks);
    assertTrue(checks.contains("48,210") && checks.contains("0.050"), "counts as counts, rates to 3 decimals");

    // escaped by default: text from data cannot become markup
    assertTrue(html.contains("&lt;BR&gt;") && !html.contains("\"<BR>\""), "reasons are escaped");
    assertTrue(html.contains("ROC AUC per day") && html.contains("0.705"), "model quality per day");
  }

  @Test
  void withoutLabelsSaysSoAndAnOkVerdictIsGreen() {
    MonitorReport r = alertReport();
    MonitorReport ok = new MonitorReport(r.modelName(), r.modelVersion(), null, r.runId(), r.current(),
        r.monitoredAt(), Status.OK, List.of(), r.currentRows(), r.baselineRows(), List.of(), null, null, null,
        List.of(), List.of());
    String html = HtmlReport.render(ok);
    assertTrue(html.contains("<title>OK"), html);
    assertTrue(html.contains("class=\"verdict ok\""));
    assertTrue(html.contains("clicks → v7"), "no alias");
    assertTrue(html.contains("no labels have arrived yet for these events"));
    assertFalse(html.contains("data:image/png"), "no data, no charts");
  }

  @Test
  void writesAtomicallyAndLeavesNoTemporaryFile() throws IOException {
    Path out = tmp.resolve("reports/today/report.html");
    HtmlReport.write(alertReport(), out);
    HtmlReport.write(alertReport(), out);  // replaces the previous one
    assertTrue(Files.readString(out).startsWith("<!DOCTYPE html>"));
    try (Stream<Path> files = Files.list(out.getParent())) {
      assertEquals(List.of(out), files.toList(), "only the report in its directory");
    }
  }

  /** Opened in a real browser: the screenshot is a drawn page (red verdict, blue bars) and the DOM has the verdict. */
  @Test
  void looksRightInHeadlessChromium() throws Exception {
    if (!Files.isExecutable(CHROMIUM) && System.getenv("CI") != null) {
      fail("CI must provide Chromium at " + CHROMIUM + " (apt-get install chromium, see .ci/run)");
    }
    Assumptions.assumeTrue(Files.isExecutable(CHROMIUM), "no " + CHROMIUM + " here (apt-get install chromium)");
    Path html = tmp.resolve("report.html");
    HtmlReport.write(alertReport(), html);
    String url = html.toUri().toString();

    Path png = tmp.resolve("report.png");
    chromium("--screenshot=" + png, "--window-size=1280,2400", url);
    BufferedImage shot = ImageIO.read(png.toFile());
    assertNotNull(shot, "Chromium wrote a PNG that decodes");
    keepForHumans(html, png);
    assertEquals(1280, shot.getWidth());
    assertTrue(distinctColours(shot) > 50, "not a blank page: " + distinctColours(shot) + " colours");
    assertTrue(pixelsNear(shot, 0xC62828, 0, 500) > 2000, "the ALERT verdict is drawn in red near the top");
    assertTrue(pixelsNear(shot, ReportCharts.CURRENT.getRGB(), 500, shot.getHeight()) > 1000,
        "the embedded charts are drawn (their blue 'current' bars)");

    String dom = chromium("--dump-dom", url);
    String verdict = between(dom, "id=\"verdict\"", "</section>").replaceAll("<[^>]+>", " ");
    assertTrue(verdict.contains("ALERT") && verdict.contains("A threshold was crossed")
        && verdict.contains("feature price: PSI 0.412"), "the verdict element in the browser's DOM: " + verdict);
  }

  /** Runs headless Chromium with its own profile, bounded by a timeout; returns its standard output. */
  private String chromium(String... args) throws IOException, InterruptedException {
    Path profile = Files.createTempDirectory(tmp, "chromium-profile");
    List<String> cmd = new ArrayList<>(List.of(CHROMIUM.toString(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", "--user-data-dir=" + profile));
    cmd.addAll(List.of(args));
    Path out = Files.createTempFile(tmp, "chromium", ".out");
    Path err = Files.createTempFile(tmp, "chromium", ".err");
    // to files, not pipes: a full pipe buffer could block Chromium and turn into a spurious timeout
    Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
    if (!p.waitFor(CHROMIUM_TIMEOUT_S, TimeUnit.SECONDS)) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      fail("Chromium did not finish in " + CHROMIUM_TIMEOUT_S + "s: " + cmd + "\n" + tail(err));
    }
    assertEquals(0, p.exitValue(), "Chromium failed: " + cmd + "\n" + tail(err));
    return Files.readString(out, StandardCharsets.UTF_8);
  }

  /** target/monitor-report/: the page and its screenshot, to look at after a run (or keep as CI artifacts). */
  private static void keepForHumans(Path html, Path png) throws IOException {
    Path dir = Files.createDirectories(Path.of("target", "monitor-report"));
    Files.copy(html, dir.resolve("report.html"), StandardCopyOption.REPLACE_EXISTING);
    Files.copy(png, dir.resolve("report.png"), StandardCopyOption.REPLACE_EXISTING);
  }

  private static int distinctColours(BufferedImage image) {
    Set<Integer> colours = new HashSet<>();
    for (int y = 0; y < image.getHeight(); y += 2) {
      for (int x = 0; x < image.getWidth(); x += 2) {
        colours.add(image.getRGB(x, y) & 0xFFFFFF);
      }
    }
    return colours.size();
  }

  /** Pixels within a small distance of {@code rgb} in rows [fromY, toY). */
  private static int pixelsNear(BufferedImage image, int rgb, int fromY, int toY) {
    int n = 0;
    for (int y = fromY; y < Math.min(toY, image.getHeight()); y++) {
      for (int x = 0; x < image.getWidth(); x++) {
        int p = image.getRGB(x, y);
        int d = Math.abs(((p >> 16) & 0xFF) - ((rgb >> 16) & 0xFF)) + Math.abs(((p >> 8) & 0xFF) - ((rgb >> 8) & 0xFF))
            + Math.abs((p & 0xFF) - (rgb & 0xFF));
        if (d < 30) {
          n++;
        }
      }
    }
    return n;
  }

  private static String between(String s, String from, String to) {
    int start = s.indexOf(from);
    assertTrue(start >= 0, "no " + from);
    int end = s.indexOf(to, start);
    assertTrue(end >= 0, "no " + to + " after " + from);
    return s.substring(start, end);
  }

  private static String tail(Path file) throws IOException {
    String s = Files.readString(file, StandardCharsets.UTF_8);
    return s.length() <= 4000 ? s : s.substring(s.length() - 4000);
  }

  /** ALERT: a drifted numeric feature, a categorical one with an unseen value, 3 days of labels. */
  static MonitorReport alertReport() {
    List<String> priceBins = List.of("[0, 5)", "[5, 10)", "[10, 20)", "[20, 50)", "[50, 100)", "[100, ∞)");
    FeatureDrift price = new FeatureDrift("price", "numeric", 0.412, 0.287, null, null, Status.ALERT,
        new Histogram(priceBins, List.of(0.22, 0.28, 0.24, 0.16, 0.07, 0.03)),
        new Histogram(priceBins, List.of(0.08, 0.14, 0.22, 0.27, 0.19, 0.10)));
    FeatureDrift country = new FeatureDrift("country", "categorical", 0.268, null, 0.091, 0.080, Status.ALERT,
        new Histogram(List.of("US", "DE", "FR", "GB"), List.of(0.46, 0.22, 0.18, 0.14)),
        new Histogram(List.of("US", "DE", "FR", "GB", "BR"), List.of(0.40, 0.20, 0.17, 0.15, 0.08)));
    FeatureDrift device = new FeatureDrift("device", "categorical", 0.118, null, 0.034, 0.0, Status.WARN,
        new Histogram(List.of("mobile", "desktop", "tablet"), List.of(0.55, 0.37, 0.08)),
        new Histogram(List.of("mobile", "desktop", "tablet"), List.of(0.66, 0.27, 0.07)));
    List<String> hours = new ArrayList<>();
    List<Double> even = new ArrayList<>();
    List<Double> nearlyEven = new ArrayList<>();
    for (int h = 0; h < 24; h += 3) {
      hours.add("[" + h + ", " + (h + 3) + ")");
      even.add(0.125);
      nearlyEven.add(h % 6 == 0 ? 0.131 : 0.119);
    }
    FeatureDrift hour = new FeatureDrift("hour", "numeric", 0.004, 0.021, null, null, Status.OK,
        new Histogram(hours, even), new Histogram(hours, nearlyEven));

    List<String> scoreBins = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      scoreBins.add(String.format(java.util.Locale.ROOT, "[%.1f, %.1f)", i / 10.0, (i + 1) / 10.0));
    }
    Histogram scoreBaseline = new Histogram(scoreBins,
        List.of(0.31, 0.22, 0.14, 0.10, 0.07, 0.05, 0.04, 0.03, 0.02, 0.02));
    Histogram scoreCurrent = new Histogram(scoreBins,
        List.of(0.22, 0.19, 0.15, 0.12, 0.09, 0.07, 0.06, 0.04, 0.03, 0.03));

    List<Check> checks = List.of(
        new Check("null_rate", "price", 0.002, 0.01, Status.OK, "96 of 48,210 rows"),
        new Check("allowed_values", "country", 0.080, 0.05, Status.ALERT, "values outside the training set: BR"),
        new Check("row_count", "*", 48210, null, Status.OK, "vs 50,112 on the previous batch"));
    List<DailyModelQuality> days = List.of(
        new DailyModelQuality(LocalDate.of(2026, 2, 28), 16_034, 15_870, 0.741, 0.083, 0.071),
        new DailyModelQuality(LocalDate.of(2026, 3, 1), 16_120, 15_902, 0.722, 0.091, 0.076),
        new DailyModelQuality(LocalDate.of(2026, 3, 2), 16_056, 9_410, 0.705, 0.097, 0.069));

    return new MonitorReport("clicks", 7, "champion", "run-20260302-0907", "predictions.clicks batch 2026-03-02",
        Instant.parse("2026-03-02T09:07:00Z"), Status.ALERT,
        List.of("feature price: PSI 0.412 > 0.25 (alert)",
            "feature country: 8.0% of rows have a value never seen in training (\"<BR>\"), > 5%",
            "check allowed_values(country): 0.080 > 0.050"),
        48_210, 1_200_000, List.of(hour, device, price, country), scoreBaseline, scoreCurrent, 0.061, checks, days);
  }
}
