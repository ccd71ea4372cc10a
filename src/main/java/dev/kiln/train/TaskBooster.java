package dev.kiln.train;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import ml.dmlc.xgboost4j.java.Booster;
import ml.dmlc.xgboost4j.java.XGBoost;
import ml.dmlc.xgboost4j.java.XGBoostError;

/**
 * The booster as scoring tasks use it: shipped (broadcast) as its saved model, loaded once per executor JVM and shared
 * by its tasks (prediction is thread-safe), with {@code nthread} set to the cores Spark gives one task. A loaded
 * booster otherwise predicts on every core of the machine, in each of the tasks running at once.
 */
final class TaskBooster implements Serializable {
  private static final long serialVersionUID = 1L;

  private final byte[] model;
  private final int threads;
  private transient volatile Booster booster;

  private TaskBooster(byte[] model, int threads) {
    this.model = model;
    this.threads = threads;
  }

  static TaskBooster of(ml.dmlc.xgboost4j.scala.Booster booster, int threads) {
    try {
      return new TaskBooster(booster.toByteArray("ubj"), threads); // UBJSON: the model exactly, trees and base score
    } catch (XGBoostError e) {
      throw new IllegalStateException("cannot serialize the booster", e);
    }
  }

  Booster get() {
    Booster b = booster;
    if (b == null) {
      synchronized (this) {
        b = booster;
        if (b == null) {
          try {
            b = XGBoost.loadModel(model);
            b.setParam("nthread", threads);
          } catch (XGBoostError e) {
            throw new IllegalStateException("cannot load the booster", e);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
          booster = b;
        }
      }
    }
    return b;
  }
}
