package dev.kiln.train;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** Finds a Python interpreter that can import xgboost: $KILN_PYTHON, Debian's /usr/bin/python3, then python3. */
final class PythonXgboost {
  private PythonXgboost() {}

  static Optional<String> find() {
    List<String> candidates = new ArrayList<>();
    Optional.ofNullable(System.getenv("KILN_PYTHON")).ifPresent(candidates::add);
    candidates.add("/usr/bin/python3");
    candidates.add("python3");
    for (String python : candidates) {
      try {
        Process p = new ProcessBuilder(python, "-c", "import xgboost").redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        if (p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0) {
          return Optional.of(python);
        }
      } catch (IOException e) {
        // not installed: try the next one
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return Optional.empty();
      }
    }
    return Optional.empty();
  }
}
