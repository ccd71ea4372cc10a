package dev.kiln.train;

import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * A model's hyper-parameters: its defaults (the seed workflow's for XGBoost: 300 trees, depth 6, learning rate 0.05),
 * then a YAML file ({@code conf/train/<model>.yaml} or {@code --conf}), then {@code --set key=value}. Every key is
 * checked against the model's known parameters and their ranges before any work starts.
 */
public final class ModelParams {
  /** A parameter: integer or real, inclusive bounds, default. */
  record Spec(String name, boolean integer, double min, double max, double defaultValue) {}

  /** A parameter that takes one of a few words; the first is the default. */
  record Choice(String name, List<String> options) {}

  private static final Map<ModelType, List<Choice>> CHOICES = Map.of(
      ModelType.XGBOOST, List.of(new Choice("device", List.of("cpu", "cuda"))));

  private static final Map<ModelType, List<Spec>> KNOWN = Map.of(
      ModelType.XGBOOST, List.of(
          new Spec("n_estimators", true, 1, 100_000, 300),
          new Spec("max_depth", true, 1, 20, 6),
          new Spec("learning_rate", false, 1e-6, 1, 0.05),
          new Spec("early_stopping_rounds", true, 0, 10_000, 30),
          new Spec("scale_pos_weight", false, 1e-6, 1e6, 1),
          new Spec("num_workers", true, 0, 1024, 0),
          new Spec("nthread", true, 0, 1024, 0)),
      ModelType.GBT, List.of(
          new Spec("max_iter", true, 1, 10_000, 100),
          new Spec("max_depth", true, 1, 30, 5),
          new Spec("step_size", false, 1e-6, 1, 0.1)),
      ModelType.RF, List.of(
          new Spec("num_trees", true, 1, 10_000, 100),
          new Spec("max_depth", true, 1, 30, 8)),
      ModelType.MLP, List.of(
          new Spec("hidden1", true, 1, 4096, 128),
          new Spec("hidden2", true, 1, 4096, 64),
          new Spec("epochs", true, 1, 1000, 5),
          new Spec("learning_rate", false, 1e-7, 1, 0.001),
          new Spec("batch_size", true, 1, 1_000_000, 256),
          new Spec("averaging_frequency", true, 1, 10_000, 5),
          new Spec("num_workers", true, 0, 1024, 0)),
      ModelType.LOGREG, List.of(
          new Spec("max_iter", true, 1, 100_000, 100),
          new Spec("reg_param", false, 0, 1e6, 0.0),
          new Spec("elastic_net", false, 0, 1, 0.0)));

  private final ModelType model;
  private final Map<String, Double> values;
  private final Map<String, String> choices;

  private ModelParams(ModelType model, Map<String, Double> values, Map<String, String> choices) {
    this.model = model;
    this.values = values;
    this.choices = choices;
  }

  /**
   * Resolves defaults, then {@code file} (or the bundled {@code conf/train/<model>.yaml} when it exists), then
   * {@code overrides}.
   */
  public static ModelParams resolve(ModelType model, Optional<Path> file, Map<String, String> overrides) {
    Map<String, Double> values = new LinkedHashMap<>();
    KNOWN.get(model).forEach(s -> values.put(s.name(), s.defaultValue()));
    Map<String, String> choices = new LinkedHashMap<>();
    CHOICES.getOrDefault(model, List.of()).forEach(c -> choices.put(c.name(), c.options().get(0)));
    Path conf = file.orElse(Path.of("conf", "train", model.id() + ".yaml"));
    boolean explicit = file.isPresent();
    Map<?, ?> fromFile = Map.of();
    if (explicit || java.nio.file.Files.exists(conf)
        || ModelParams.class.getResource("/" + conf.toString().replace('\\', '/')) != null) {
      fromFile = Json.readYamlFileOrBundled(conf, Map.class);
    }
    for (Map.Entry<?, ?> e : fromFile.entrySet()) {
      set(model, values, choices, String.valueOf(e.getKey()), String.valueOf(e.getValue()), conf.toString());
    }
    for (Map.Entry<String, String> e : overrides.entrySet()) {
      set(model, values, choices, e.getKey(), e.getValue(), "--set");
    }
    return new ModelParams(model, values, choices);
  }

  private static void set(ModelType model, Map<String, Double> values, Map<String, String> choices, String key,
                          String text, String where) {
    java.util.Optional<Choice> choice = CHOICES.getOrDefault(model, List.of()).stream()
        .filter(c -> c.name().equals(key)).findFirst();
    if (choice.isPresent()) {
      String word = text.trim().toLowerCase(java.util.Locale.ROOT);
      if (!choice.get().options().contains(word)) {
        throw new KilnUserException("parameter " + key + " must be one of " + String.join(", ",
            choice.get().options()) + " (got '" + text + "') (" + where + ")");
      }
      choices.put(key, word);
      return;
    }
    Spec spec = KNOWN.get(model).stream().filter(s -> s.name().equals(key)).findFirst().orElseThrow(() ->
        new KilnUserException("unknown parameter '" + key + "' for model " + model.id() + " (known: "
            + String.join(", ", java.util.stream.Stream.concat(KNOWN.get(model).stream().map(Spec::name),
                CHOICES.getOrDefault(model, List.of()).stream().map(Choice::name)).toList()) + ") (" + where + ")"));
    double v;
    try {
      v = Double.parseDouble(text.trim());
    } catch (NumberFormatException e) {
      throw new KilnUserException("parameter " + key + " must be a number (got '" + text + "') (" + where + ")");
    }
    if (spec.integer() && v != Math.rint(v)) {
      throw new KilnUserException("parameter " + key + " must be a whole number (got " + text + ") (" + where + ")");
    }
    if (!(v >= spec.min() && v <= spec.max())) {
      throw new KilnUserException("parameter " + key + " = " + text + " is out of range [" + fmt(spec.min()) + ", "
          + fmt(spec.max()) + "] (" + where + ")");
    }
    values.put(key, v);
  }

  /** Whether {@code key} is a whole-number parameter of {@code model} (false when unknown). */
  static boolean isInteger(ModelType model, String key) {
    return KNOWN.get(model).stream().anyMatch(s -> s.name().equals(key) && s.integer());
  }

  private static String fmt(double d) {
    return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
  }

  public int integer(String key) {
    return (int) Math.round(values.get(key));
  }

  public double real(String key) {
    return values.get(key);
  }

  public String choice(String key) {
    return choices.get(key);
  }

  public ModelType model() {
    return model;
  }

  /** Every parameter with its value, for the runs table and the model card. */
  public Map<String, String> asStrings() {
    Map<String, String> out = new TreeMap<>();
    values.forEach((k, v) -> out.put(k, fmt(v)));
    out.putAll(choices);
    return out;
  }
}
