package dev.kiln.common;

/** Process exit codes shared by every Kiln job (see README, "Exit codes"). */
public final class ExitCodes {
  public static final int OK = 0;
  public static final int INTERNAL_ERROR = 1;
  public static final int USER_ERROR = 2;
  /** A monitoring threshold was crossed (used by the monitor stage). */
  public static final int THRESHOLD_CROSSED = 3;
  /** A watched orchestrator run (an Airflow DAG run) ended failed. */
  public static final int RUN_FAILED = 4;
  /** Waiting for an orchestrator run timed out before it finished. */
  public static final int WAIT_TIMED_OUT = 5;

  private ExitCodes() {}
}
