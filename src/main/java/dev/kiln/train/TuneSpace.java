package dev.kiln.train;

import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.Set;

/**
 * A hyper-parameter search space ({@code conf/tune/*.yaml}): the model, the strategy, the metric to pick the best
 * trial by, parameters fixed for every trial, and per searched parameter either a list of {@code values} or a
 * {@code min}/{@code max} range (uniform, or log-uniform with {@code log: true}; whole numbers for integer parameters).
 */
public record TuneSpace(String model, String strategy, String metric, Map<String, Object> fixed,
                        Map<String, Range> params) {
  static final Set<String> METRICS = Set.of("roc_auc", "pr_auc", "f1", "log_loss", "brier");

  /** One searched parameter. */
  public record Range(List<Double> values, Double min, Double max, Boolean log) {
    double sample(SplittableRandom random) {
      if (values != null) {
        return values.get(random.nextInt(values.size()));
      }
      double u = random.nextDouble();
      return Boolean.TRUE.equals(log) ? Math.exp(Math.log(min) + u * (Math.log(max) - Math.log(min)))
          : min + u * (max - min);
    }
  }

  public static TuneSpace read(Path file) {
    TuneSpace s = Json.readYamlFileOrBundled(file, TuneSpace.class);
    String where = " (" + file + ")";
    if (s.model() == null) {
      throw new KilnUserException("the search space needs a model" + where);
    }
    ModelType.parse(s.model());
    if (!List.of("random", "grid").contains(s.strategy())) {
      throw new KilnUserException("strategy must be random or grid (got '" + s.strategy() + "')" + where);
    }
    if (!METRICS.contains(s.metric())) {
      throw new KilnUserException("unknown metric '" + s.metric() + "' (expected one of " + String.join(", ",
          new java.util.TreeSet<>(METRICS)) + ")" + where);
    }
    if (s.params() == null || s.params().isEmpty()) {
      throw new KilnUserException("the search space has no params to search" + where);
    }
    s.params().forEach((name, r) -> {
      boolean list = r != null && r.values() != null && !r.values().isEmpty();
      boolean range = r != null && r.min() != null && r.max() != null && r.min() <= r.max()
          && (!Boolean.TRUE.equals(r.log()) || r.min() > 0);
      if (list == range) {
        throw new KilnUserException("param " + name + " needs either values: [...] or min <= max (log: min > 0)"
            + where);
      }
      if (s.strategy().equals("grid") && !list) {
        throw new KilnUserException("grid search needs values: [...] for param " + name + where);
      }
    });
    return s;
  }

  public ModelType modelType() {
    return ModelType.parse(model);
  }

  public boolean lowerIsBetter() {
    return metric.equals("log_loss") || metric.equals("brier");
  }

  /**
   * The trials' parameter overrides ({@code --set} style): every grid combination (at most {@code limit}), or
   * {@code limit} random draws from {@code seed}.
   */
  public List<Map<String, String>> trials(int limit, long seed) {
    List<Map<String, String>> trials = new ArrayList<>();
    if (strategy.equals("grid")) {
      trials.add(new LinkedHashMap<>());
      for (Map.Entry<String, Range> p : params.entrySet()) {
        List<Map<String, String>> next = new ArrayList<>();
        for (Map<String, String> t : trials) {
          for (double v : p.getValue().values()) {
            Map<String, String> m = new LinkedHashMap<>(t);
            m.put(p.getKey(), format(v));
            next.add(m);
          }
        }
        trials = next;
      }
      trials = trials.subList(0, Math.min(limit, trials.size()));
    } else {
      SplittableRandom random = new SplittableRandom(seed);
      for (int i = 0; i < limit; i++) {
        Map<String, String> m = new LinkedHashMap<>();
        params.forEach((name, r) -> m.put(name, format(r.sample(random))));
        trials.add(m);
      }
    }
    List<Map<String, String>> withFixed = new ArrayList<>();
    for (Map<String, String> t : trials) {
      Map<String, String> m = new LinkedHashMap<>();
      if (fixed != null) {
        fixed.forEach((k, v) -> m.put(k, String.valueOf(v)));
      }
      m.putAll(t);
      withFixed.add(m);
    }
    return withFixed;
  }

  private static String format(double v) {
    return v == Math.rint(v) && Math.abs(v) < 1e15 ? String.valueOf((long) v) : String.format(Locale.ROOT, "%.6g", v);
  }
}
