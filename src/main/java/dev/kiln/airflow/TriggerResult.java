package dev.kiln.airflow;

/**
 * What {@link AirflowClient#trigger} created. {@code recoveredAfterRetry}: an attempt failed without an answer (or
 * with a 5xx), the retry got 409 because the first attempt had in fact created the run, and the client fetched that
 * run (same run id, same conf) instead of failing.
 */
public record TriggerResult(DagRun run, boolean recoveredAfterRetry) {}
