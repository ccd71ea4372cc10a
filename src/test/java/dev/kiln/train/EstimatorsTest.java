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

  @Test
  void aTrainingMatrixThatCannotFitInLocalModeIsRefusedUpFront() {
    var spark = SharedSpark.get();
    Estimators.checkNativeMemory(spark, 1_000_000, 15); // ~114 MB: fine
    KilnUserException e = assertThrows(KilnUserException.class,
        () -> Estimators.checkNativeMemory(spark, 100_000_000_000L, 15));
    assertTrue(e.getMessage().startsWith("XGBoost needs about") && e.getMessage().contains("outside the JVM heap"),
        e.getMessage());
  }
}
