package dev.kiln.monitor;

import dev.kiln.monitor.MonitorReport.Check;
import dev.kiln.monitor.MonitorReport.DailyModelQuality;
import dev.kiln.monitor.MonitorReport.FeatureDrift;
import dev.kiln.monitor.MonitorReport.Status;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The plain view model of {@code report.mustache}: strings, booleans, maps and lists only, every number already
 * formatted, so the template holds no logic and Mustache escapes everything it prints.
 */
final class ReportView {

  static final String NONE = "—";
  private static final DateTimeFormatter WHEN =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss 'UTC'", Locale.ROOT).withZone(ZoneOffset.UTC);
  /** Worst first, then the most drifted, then by name: what needs a look is at the top. */
  private static final Comparator<FeatureDrift> FEATURE_ORDER = Comparator
      .comparing((FeatureDrift f) -> rank(f.status()))
      .thenComparing(f -> f.psi() == null || f.psi().isNaN() ? Double.NEGATIVE_INFINITY : f.psi(),
          Comparator.reverseOrder())
      .thenComparing(f -> String.valueOf(f.feature()));

  private ReportView() {}

  static Map<String, Object> of(MonitorReport r) {
    Map<String, Object> v = new LinkedHashMap<>();
    Status verdict = r.verdict() == null ? Status.ALERT : r.verdict();
    v.put("verdict", status(verdict));
    v.put("headline", switch (verdict) {
      case OK -> "No threshold crossed";
      case WARN -> "Worth a look";
      case ALERT -> "A threshold was crossed";
    });
    List<String> reasons = r.reasons() == null ? List.of() : r.reasons();
    v.put("reasons", reasons);
    v.put("hasReasons", !reasons.isEmpty());
    v.put("model", model(r));
    v.put("runId", text(r.runId()));
    v.put("current", text(r.current()));
    v.put("currentRows", count(r.currentRows()));
    v.put("baselineRows", count(r.baselineRows()));
    v.put("monitoredAt", r.monitoredAt() == null ? NONE : WHEN.format(r.monitoredAt()));

    List<FeatureDrift> features = new ArrayList<>(r.features() == null ? List.of() : r.features());
    features.sort(FEATURE_ORDER);
    v.put("features", features.stream().map(ReportView::feature).toList());
    v.put("hasFeatures", !features.isEmpty());
    v.put("featureCounts", counts(features.stream().map(FeatureDrift::status).toList()));

    v.put("scoreChart", ReportCharts.histogram(r.scoreBaseline(), r.scoreCurrent(), 720, 300));
    v.put("scorePsi", num(r.scorePsi()));

    List<Check> checks = new ArrayList<>(r.quality() == null ? List.of() : r.quality());
    checks.sort(Comparator.comparing((Check c) -> rank(c.status())));  // stable: same-status checks keep their order
    v.put("checks", checks.stream().map(ReportView::check).toList());
    v.put("hasChecks", !checks.isEmpty());

    List<DailyModelQuality> days = r.modelQuality() == null ? List.of() : r.modelQuality();
    v.put("days", days.stream().map(ReportView::day).toList());
    v.put("hasDays", !days.isEmpty());
    v.put("aucChart", days.isEmpty() ? null : ReportCharts.lineByDay("ROC AUC",
        days.stream().map(d -> String.valueOf(d.day())).toList(),
        days.stream().map(DailyModelQuality::rocAuc).toList(), 720, 260));
    return v;
  }

  private static Map<String, Object> feature(FeatureDrift f) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", text(f.feature()));
    m.put("kind", text(f.kind()));
    m.put("psi", num(f.psi()));
    m.put("ks", num(f.ks()));
    m.put("js", num(f.js()));
    m.put("unseen", num(f.unseenShare()));
    m.put("status", status(f.status()));
    m.put("chart", ReportCharts.histogram(f.baseline(), f.current(), 380, 230));
    return m;
  }

  private static Map<String, Object> check(Check c) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", text(c.name()));
    m.put("column", text(c.column()));
    m.put("value", measure(c.value()));
    m.put("threshold", c.threshold() == null ? NONE : measure(c.threshold()));
    m.put("status", status(c.status()));
    m.put("detail", c.detail() == null ? "" : c.detail());
    return m;
  }

  private static Map<String, Object> day(DailyModelQuality d) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("day", String.valueOf(d.day()));
    m.put("rows", count(d.rows()));
    m.put("labeled", count(d.labeled()));
    m.put("auc", num(d.rocAuc()));
    m.put("meanScore", num(d.meanScore()));
    m.put("observedRate", num(d.observedRate()));
    return m;
  }

  /** {@code clicks@champion → v7}, or {@code clicks → v7} when the run named a version rather than an alias. */
  private static String model(MonitorReport r) {
    String name = text(r.modelName());
    String alias = r.alias() == null || r.alias().isBlank() ? "" : "@" + r.alias();
    return name + alias + " → v" + r.modelVersion();
  }

  /** The word, its CSS class ({@code ok}, {@code warn}, {@code alert}) and whether it is OK. */
  private static Map<String, Object> status(Status s) {
    Status status = s == null ? Status.WARN : s;
    return Map.of("word", status.name(), "cls", status.id(), "ok", status == Status.OK);
  }

  private static List<Map<String, Object>> counts(List<Status> statuses) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (Status s : List.of(Status.ALERT, Status.WARN, Status.OK)) {
      long n = statuses.stream().filter(x -> (x == null ? Status.WARN : x) == s).count();
      if (n > 0) {
        out.add(Map.of("n", n, "word", s.name(), "cls", s.id()));
      }
    }
    return out;
  }

  private static int rank(Status s) {
    return -(s == null ? Status.WARN : s).ordinal();  // as status() shows it
  }

  static String num(Double d) {
    if (d == null || d.isNaN()) {
      return NONE;
    }
    if (d.isInfinite()) {
      return d > 0 ? "∞" : "−∞";
    }
    return String.format(Locale.ROOT, "%.3f", d);
  }

  /** A check's value: counts (row_count, distinct values) as whole numbers, rates and ratios with 3 decimals. */
  static String measure(double d) {
    boolean count = Math.abs(d) > 1 && Math.abs(d) < 1e15 && d == Math.rint(d);
    return count ? count((long) d) : num(d);
  }

  private static String count(long n) {
    return String.format(Locale.ROOT, "%,d", n);
  }

  private static String text(String s) {
    return s == null || s.isBlank() ? NONE : s;
  }
}
