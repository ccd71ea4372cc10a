package dev.kiln.features;

import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.DateTimeException;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * A feature set declared in {@code conf/features/*.yaml}: a name and version, the source table and its event key,
 * event time and label, and the features computed from it.
 *
 * <p>Row features (time of day, categorical and numeric columns) depend on the row alone. Aggregates are per-entity
 * statistics over the events strictly before the row's event time (see {@link PointInTimeAggregates}). Statistics
 * that must be learned from data (category vocabularies, imputation values, scaling, the CTR prior) are fitted on the
 * training split only, by {@link FeaturePipeline}; the feature table holds only what is fixed per row.
 *
 * @param timezone     zone for the time features (event times are stored in UTC)
 * @param timeFeatures any of {@code hour}, {@code day_of_week} (ISO, 1 = Monday), {@code is_weekend}
 */
public record FeatureSetSpec(String name, Integer version, String description, String sourceTable, String eventKey,
                             String eventTime, String label, String timezone, List<String> timeFeatures,
                             List<Categorical> categorical, List<Numeric> numeric, List<Aggregate> aggregates)
    implements Serializable {
  public static final Set<String> TIME_FEATURES = Set.of("hour", "day_of_week", "is_weekend");

  public FeatureSetSpec {
    timezone = timezone == null ? "UTC" : timezone;
    timeFeatures = timeFeatures == null ? List.of() : List.copyOf(timeFeatures);
    categorical = categorical == null ? List.of() : List.copyOf(categorical);
    numeric = numeric == null ? List.of() : List.copyOf(numeric);
    aggregates = aggregates == null ? List.of() : List.copyOf(aggregates);
  }

  /** A string column passed through as is; encoded at training time ({@code onehot} or {@code index}). */
  public record Categorical(String column, String encoding) implements Serializable {
    public Categorical {
      encoding = encoding == null ? "onehot" : encoding;
    }
  }

  /**
   * A numeric column, optionally transformed per row ({@code log1p}, or {@code bucketize} into fixed edges), then
   * imputed ({@code mean}, {@code median}) and scaled ({@code standard}) with training statistics.
   */
  public record Numeric(String name, String column, String transform, List<Double> bucketize, String impute,
                        String scale) implements Serializable {
    public Numeric {
      transform = transform == null ? "none" : transform;
      bucketize = bucketize == null ? List.of() : List.copyOf(bucketize);
      impute = impute == null ? "median" : impute;
      scale = scale == null ? "none" : scale;
    }
  }

  /**
   * A per-entity aggregate over the entity's events strictly before the row's event time.
   *
   * @param function {@code count} (events in the window), {@code ctr} (label rate, smoothed towards the training
   *                 set's global rate with weight {@code smoothing}), {@code time_since_previous} (seconds)
   * @param window   {@code all}, or a duration such as {@code 30m}, {@code 1h}, {@code 24h}, {@code 7d}
   */
  public record Aggregate(String name, String entity, String function, String window, Double smoothing)
      implements Serializable {
    public Aggregate {
      window = window == null ? "all" : window;
      smoothing = smoothing == null ? 20.0 : smoothing;
    }

    /** The window length in microseconds, or empty for all history. */
    public Optional<Long> windowMicros() {
      return FeatureWindows.parseMicros(window);
    }

    /** The feature-table columns this aggregate writes. */
    public List<String> outputColumns() {
      return "ctr".equals(function) ? List.of(ctrEventsColumn(), ctrClicksColumn()) : List.of(name);
    }

    public String ctrEventsColumn() {
      return name + "_events";
    }

    public String ctrClicksColumn() {
      return name + "_clicks";
    }
  }

  /** Reads and checks a spec file (or the copy bundled in the jar under the same path). */
  public static FeatureSetSpec load(Path file) {
    FeatureSetSpec spec = Json.readYamlFileOrBundled(file, FeatureSetSpec.class);
    spec.validate(file.toString());
    return spec;
  }

  /** Checks everything that does not need the source table; {@link FeatureColumns} checks the rest. */
  void validate(String source) {
    String where = " (" + source + ")";
    if (name == null || !name.matches("[a-z][a-z0-9_]{0,63}")) {
      throw new KilnUserException("feature set 'name' must be lower-case letters, digits and '_' (got " + name + ")"
          + where);
    }
    if (version == null || version < 1) {
      throw new KilnUserException("feature set " + name + " needs a 'version' of 1 or more" + where);
    }
    for (String required : new String[] {eventKey, eventTime, label}) {
      if (required == null || required.isBlank()) {
        throw new KilnUserException("feature set " + name + " needs event_key, event_time and label" + where);
      }
    }
    try {
      ZoneId.of(timezone);
    } catch (DateTimeException e) {
      throw new KilnUserException("feature set " + name + ": unknown timezone '" + timezone + "'" + where);
    }
    Set<String> names = new LinkedHashSet<>();
    for (String t : timeFeatures) {
      if (!TIME_FEATURES.contains(t)) {
        throw new KilnUserException("time feature '" + t + "': unknown (expected one of "
            + String.join(", ", TIME_FEATURES.stream().sorted().toList()) + ")" + where);
      }
      unique(names, t, where);
    }
    for (Categorical c : categorical) {
      String f = "categorical feature '" + c.column() + "': ";
      if (c.column() == null) {
        throw new KilnUserException("a categorical feature has no 'column'" + where);
      }
      if (!Set.of("onehot", "index").contains(c.encoding())) {
        throw new KilnUserException(f + "encoding must be onehot or index (got " + c.encoding() + ")" + where);
      }
      unique(names, c.column(), where);
    }
    for (Numeric n : numeric) {
      if (n.name() == null || n.column() == null) {
        throw new KilnUserException("a numeric feature needs 'name' and 'column'" + where);
      }
      String f = "numeric feature '" + n.name() + "': ";
      if (!Set.of("none", "log1p").contains(n.transform())) {
        throw new KilnUserException(f + "transform must be none or log1p (got " + n.transform() + ")" + where);
      }
      for (int i = 1; i < n.bucketize().size(); i++) {
        if (!(n.bucketize().get(i) > n.bucketize().get(i - 1))) {
          throw new KilnUserException(f + "bucketize edges must increase strictly " + n.bucketize() + where);
        }
      }
      if (!Set.of("none", "mean", "median").contains(n.impute())) {
        throw new KilnUserException(f + "impute must be none, mean or median (got " + n.impute() + ")" + where);
      }
      if (!Set.of("none", "standard").contains(n.scale())) {
        throw new KilnUserException(f + "scale must be none or standard (got " + n.scale() + ")" + where);
      }
      unique(names, n.name(), where);
    }
    for (Aggregate a : aggregates) {
      if (a.name() == null || a.entity() == null || a.function() == null) {
        throw new KilnUserException("an aggregate needs 'name', 'entity' and 'function'" + where);
      }
      String f = "aggregate '" + a.name() + "': ";
      if (!Set.of("count", "ctr", "time_since_previous").contains(a.function())) {
        throw new KilnUserException(f + "function must be count, ctr or time_since_previous (got " + a.function()
            + ")" + where);
      }
      try {
        a.windowMicros();
      } catch (KilnUserException e) {
        throw new KilnUserException(f + e.getMessage() + where);
      }
      if ("time_since_previous".equals(a.function()) && !"all".equals(a.window())) {
        throw new KilnUserException(f + "time_since_previous looks at all history; remove 'window'" + where);
      }
      if (!(a.smoothing() >= 0) || a.smoothing().isInfinite()) {
        throw new KilnUserException(f + "smoothing must be a number, 0 or more (got " + a.smoothing() + ")" + where);
      }
      for (String out : a.outputColumns()) {
        unique(names, out, where);
      }
    }
    if (names.isEmpty()) {
      throw new KilnUserException("feature set " + name + " declares no features" + where);
    }
  }

  private void unique(Set<String> names, String feature, String where) {
    if (!names.add(feature) || Set.of(eventKey, eventTime, label, FeatureColumns.EVENT_DATE).contains(feature)) {
      throw new KilnUserException("feature '" + feature + "' is declared twice or clashes with a key column" + where);
    }
  }

  /** Entities that have aggregates, in declaration order. */
  public List<String> entities() {
    List<String> out = new ArrayList<>();
    for (Aggregate a : aggregates) {
      if (!out.contains(a.entity())) {
        out.add(a.entity());
      }
    }
    return out;
  }

  /** A digest of the definitions: same digest ⇔ same features. Kept in the table properties. */
  public String definitionHash() {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(Json.toJson(withoutDescription())
          .getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private FeatureSetSpec withoutDescription() {
    return new FeatureSetSpec(name, version, null, sourceTable, eventKey, eventTime, label, timezone, timeFeatures,
        categorical, numeric, aggregates);
  }

  public String toJson() {
    return Json.toJson(this);
  }

  public static FeatureSetSpec fromJson(String json, String source) {
    try {
      FeatureSetSpec spec = Json.JSON.readValue(json, FeatureSetSpec.class);
      spec.validate(source);
      return spec;
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new KilnUserException("unreadable feature-set definition (" + source + "): " + e.getOriginalMessage());
    }
  }
}
