package dev.kiln.monitor;

import com.fasterxml.jackson.annotation.JsonFormat;
import java.time.Instant;
import java.time.LocalDate;
import java.util.List;
import java.util.Locale;

/**
 * Everything one {@code kiln monitor} run found, in the shape the HTML report and {@code --json} show it: the
 * verdict first, then per-feature drift, the score distribution, data-quality checks and model quality per day.
 *
 * @param current        what was monitored, e.g. {@code predictions.clicks batch 2026-03-02}
 * @param reasons        one plain sentence per threshold crossed (empty when the verdict is OK)
 * @param baselineRows   rows in the baseline (the model's training split)
 * @param scoreBaseline  the model's scores on its own held-out split, binned
 * @param modelQuality   one entry per day of the current data that has labels by now (empty when none has)
 */
public record MonitorReport(String modelName, int modelVersion, String alias, String runId, String current,
                            @JsonFormat(shape = JsonFormat.Shape.STRING) Instant monitoredAt, Status verdict, List<String> reasons, long currentRows,
                            long baselineRows, List<FeatureDrift> features, Histogram scoreBaseline,
                            Histogram scoreCurrent, Double scorePsi, List<Check> quality,
                            List<DailyModelQuality> modelQuality) {

  /** OK, WARN (worth a look) or ALERT (a threshold crossed: {@code kiln monitor} exits 3). */
  public enum Status {
    OK, WARN, ALERT;

    public String id() {
      return name().toLowerCase(Locale.ROOT);
    }

    public static Status worst(Status a, Status b) {
      return a.ordinal() >= b.ordinal() ? a : b;
    }
  }

  /**
   * A histogram as shares of rows per bin (they sum to 1 over the bins shown).
   *
   * @param labels bin labels: {@code [lo, hi)} ranges for numeric features, values for categorical ones
   */
  public record Histogram(List<String> labels, List<Double> shares) {}

  /**
   * Drift of one model input between the baseline and the current data. Metrics that do not apply to the kind are
   * null: KS for numeric features, Jensen-Shannon and the unseen share for categorical ones; PSI for both.
   */
  public record FeatureDrift(String feature, String kind, Double psi, Double ks, Double js, Double unseenShare,
                             Status status, Histogram baseline, Histogram current) {}

  /** A data-quality check of the current data, e.g. {@code null_rate} of {@code price}: value vs threshold. */
  public record Check(String name, String column, double value, Double threshold, Status status, String detail) {}

  /** Model quality on one day of current data whose labels have arrived. */
  public record DailyModelQuality(@JsonFormat(shape = JsonFormat.Shape.STRING) LocalDate day, long rows, long labeled, Double rocAuc, double meanScore,
                                  Double observedRate) {}
}
