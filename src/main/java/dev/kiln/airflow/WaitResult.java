package dev.kiln.airflow;

/** How {@link AirflowClient#waitFor} ended: the last state seen, after how many polls and seconds. */
public record WaitResult(DagRun run, Outcome outcome, int polls, double elapsedSeconds) {
  public enum Outcome { SUCCESS, FAILED, TIMED_OUT }
}
