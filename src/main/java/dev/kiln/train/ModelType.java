package dev.kiln.train;

import dev.kiln.common.KilnUserException;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** The model families {@code kiln train} fits. */
public enum ModelType {
  XGBOOST, GBT, LOGREG, RF, MLP;

  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Tree learners get index-encoded categoricals and unscaled numbers; linear models and the MLP one-hot vectors. */
  public boolean trees() {
    return this != LOGREG && this != MLP;
  }

  public static ModelType parse(String text) {
    return Arrays.stream(values()).filter(m -> m.id().equals(text == null ? "" : text.trim().toLowerCase(
        Locale.ROOT))).findFirst().orElseThrow(() -> new KilnUserException("unknown model type '" + text
        + "' (expected one of " + Arrays.stream(values()).map(ModelType::id).collect(Collectors.joining(", "))
        + ")"));
  }
}
