package dev.kiln.cli;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * SIGTERM and SIGINT handlers for the long-running {@code kiln pipeline schedule}: they ask it to stop instead of
 * letting the JVM's shutdown hooks tear Spark down under running tasks, so the tasks are cancelled and recorded
 * first. Where the JVM refuses a handler, the default behaviour (exit) stays.
 */
final class StopSignals {
  private static final Logger LOG = LoggerFactory.getLogger(StopSignals.class);

  private StopSignals() {}

  static void install(Runnable stop) {
    for (String name : new String[] {"TERM", "INT"}) {
      try {
        Signal.handle(new Signal(name), s -> new Thread(stop, "kiln-stop-" + name).start());
      } catch (IllegalArgumentException e) {
        LOG.debug("cannot handle SIG{}: {}", name, e.getMessage());
      }
    }
  }
}
