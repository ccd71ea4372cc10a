package dev.kiln.monitor;

import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import java.nio.file.Path;
import java.util.Objects;

/** The thresholds of {@code conf/monitor/*.yaml}: warn and alert levels per check (see the bundled default). */
public record MonitorThresholds(Baseline baseline, Drift drift, Quality quality, ModelQuality modelQuality) {

  /**
   * @param recentDays compare with the training rows of the last N days of the training data (0: all of them).
   *                   Aggregates over an entity's whole history grow with time, so the latest training rows are
   *                   the ones that look like what the model sees after training.
   */
  public record Baseline(Integer recentDays) {}

  /** A check's two levels; a value at or above {@code alert} makes the verdict ALERT. */
  public record Level(Double warn, Double alert) {
    MonitorReport.Status judge(double value) {
      if (value >= alert) {
        return MonitorReport.Status.ALERT;
      }
      return value >= warn ? MonitorReport.Status.WARN : MonitorReport.Status.OK;
    }

    void check(String name, String where) {
      if (warn == null || alert == null || !(warn >= 0) || !(alert >= warn)) {
        throw new KilnUserException("thresholds: " + name + " needs warn >= 0 and alert >= warn (got warn " + warn
            + ", alert " + alert + ") (" + where + ")");
      }
    }
  }

  public record Drift(Level psi, Level ks, Level js, Level unseenShare, Level scorePsi, Integer minRows) {}

  public record Quality(Level nullRateIncrease, Level duplicateKeyRate, Level outOfRangeRate, Level rowCountChange) {}

  public record ModelQuality(Level aucDrop, Integer minLabeled) {}

  /** Reads and checks a thresholds file (falling back to the copy bundled in the jar for the default path). */
  public static MonitorThresholds load(Path file) {
    MonitorThresholds t = Json.readYamlFileOrBundled(file, MonitorThresholds.class);
    String where = file.toString();
    if (t.baseline() == null || t.drift() == null || t.quality() == null || t.modelQuality() == null) {
      throw new KilnUserException("thresholds need the sections baseline, drift, quality and model_quality (" + where
          + ")");
    }
    if (t.baseline().recentDays() == null || t.baseline().recentDays() < 0) {
      throw new KilnUserException("thresholds: baseline.recent_days must be >= 0 (" + where + ")");
    }
    Drift d = t.drift();
    Quality q = t.quality();
    require(d.psi(), "drift.psi", where);
    require(d.ks(), "drift.ks", where);
    require(d.js(), "drift.js", where);
    require(d.unseenShare(), "drift.unseen_share", where);
    require(d.scorePsi(), "drift.score_psi", where);
    require(q.nullRateIncrease(), "quality.null_rate_increase", where);
    require(q.duplicateKeyRate(), "quality.duplicate_key_rate", where);
    require(q.outOfRangeRate(), "quality.out_of_range_rate", where);
    require(q.rowCountChange(), "quality.row_count_change", where);
    require(t.modelQuality().aucDrop(), "model_quality.auc_drop", where);
    if (d.minRows() == null || d.minRows() < 0 || t.modelQuality().minLabeled() == null
        || t.modelQuality().minLabeled() < 0) {
      throw new KilnUserException("thresholds: drift.min_rows and model_quality.min_labeled must be >= 0 (" + where
          + ")");
    }
    return t;
  }

  private static void require(Level level, String name, String where) {
    if (level == null) {
      throw new KilnUserException("thresholds: " + name + " is missing (" + where + ")");
    }
    Objects.requireNonNull(name);
    level.check(name, where);
  }
}
