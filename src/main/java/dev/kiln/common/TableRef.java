package dev.kiln.common;

import java.util.Set;
import java.util.regex.Pattern;

/** A Kiln table name: {@code <layer>.<name>}, e.g. {@code bronze.events}, {@code meta.ingest_log}. */
public record TableRef(String layer, String name) {
  public static final Set<String> LAYERS = Set.of("bronze", "quarantine", "features", "predictions", "meta");
  private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9_]{0,63}");

  public TableRef {
    if (!LAYERS.contains(layer)) {
      throw new KilnUserException("unknown table layer '" + layer + "' (expected one of " + String.join(", ",
          LAYERS.stream().sorted().toList()) + ")");
    }
    if (!NAME.matcher(name).matches()) {
      throw new KilnUserException("invalid table name '" + name
          + "' (use lower-case letters, digits and '_', starting with a letter)");
    }
  }

  /** Parses {@code layer.name}, or a bare {@code name} in {@code defaultLayer}. */
  public static TableRef parse(String text, String defaultLayer) {
    String t = text == null ? "" : text.trim();
    int dot = t.indexOf('.');
    return dot < 0 ? new TableRef(defaultLayer, t) : new TableRef(t.substring(0, dot), t.substring(dot + 1));
  }

  public static TableRef meta(String name) {
    return new TableRef("meta", name);
  }

  @Override
  public String toString() {
    return layer + "." + name;
  }
}
