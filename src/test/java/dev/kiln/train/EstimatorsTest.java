package dev.kiln.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The GPU is a runtime capability: cuda falls back to the CPU where it cannot work. */
class EstimatorsTest {
  @Test
  void cudaFallsBackToCpuWithoutTheGpuBuildOrWithoutAGpuInLocalMode() {
    assertEquals("cpu", Estimators.device("cpu", true, true, true));
    assertEquals("cpu", Estimators.device("cuda", false, true, false), "CPU-only XGBoost artifact");
    assertEquals("cpu", Estimators.device("cuda", true, false, true), "local mode, no GPU here");
    assertEquals("cuda", Estimators.device("cuda", true, false, false), "a cluster: the executors' GPUs count");
    assertEquals("cuda", Estimators.device("cuda", true, true, true));
  }
}
