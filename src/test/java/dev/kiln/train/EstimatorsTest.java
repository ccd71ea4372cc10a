package dev.kiln.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.KilnUserException;
import dev.kiln.testing.SharedSpark;
import org.junit.jupiter.api.Test;

class EstimatorsTest {
  /** The GPU is a runtime capability: cuda falls back to the CPU where it cannot work. */
  @Test
  void cudaFallsBackToCpuWithoutTheGpuBuildOrWithoutAGpuInLocalMode() {
    assertEquals("cpu", Estimators.device("cpu", true, true, true));
    assertEquals("cpu", Estimators.device("cuda", false, true, false), "CPU-only XGBoost artifact");
    assertEquals("cpu", Estimators.device("cuda", true, false, true), "local mode, no GPU here");
    assertEquals("cuda", Estimators.device("cuda", true, false, false), "a cluster: the executors' GPUs count");
    assertEquals("cuda", Estimators.device("cuda", true, true, true));
  }

  /** One XGBoost worker per GPU in local mode: two ranks on one GPU are refused by XGBoost's collective. */
  @Test
  void xgboostWorkersDefaultToEveryTaskSlotOnTheCpuAndOnePerLocalGpuOnCuda() {
    assertEquals(16, Estimators.defaultWorkers(16, "cpu", true, 1));
    assertEquals(1, Estimators.defaultWorkers(1, "cpu", true, 0));
    assertEquals(8, Estimators.defaultWorkers(8, "cpu", false, 0));
    assertEquals(1, Estimators.defaultWorkers(16, "cuda", true, 1));
    assertEquals(4, Estimators.defaultWorkers(16, "cuda", true, 4));
    assertEquals(2, Estimators.defaultWorkers(2, "cuda", true, 4), "never more than the task slots");
    assertEquals(16, Estimators.defaultWorkers(16, "cuda", false, 0), "a cluster: as on the CPU");
  }

  @Test
  void aTrainingMatrixThatCannotFitInLocalModeIsRefusedUpFront() {
    var spark = SharedSpark.get();
    Estimators.checkNativeMemory(spark, 1_000_000, 15); // ~172 MB: fine
    KilnUserException e = assertThrows(KilnUserException.class,
        () -> Estimators.checkNativeMemory(spark, 100_000_000_000L, 15));
    assertTrue(e.getMessage().startsWith("XGBoost needs about") && e.getMessage().contains("outside the JVM heap"),
        e.getMessage());
  }

  /**
   * XGBoost's per-round evaluation lines are native stderr output, switched off only by XGBoost4J's own verbose_eval
   * entry in the parameter map that reaches the workers (Kiln logs the rounds at DEBUG instead).
   */
  @Test
  void xgboostIsToldNotToPrintEveryRound() {
    var spark = SharedSpark.get();
    var x = Estimators.xgboost(spark, ModelParams.resolve(ModelType.XGBOOST, java.util.Optional.empty(),
        java.util.Map.of()), "cpu", 1, true);
    assertEquals(0, x.getXGBoostParams().get("verbose_eval").get());
    assertEquals(300, x.getNumRound(), "the other parameters as before");
    assertTrue(Estimators.describe(x).matches("XGBoost: up to 300 rounds, depth 6, eta 0\\.05, \\d+ worker\\(s\\) x "
        + "\\d+ thread\\(s\\), early stopping 30"), Estimators.describe(x));
  }
}
