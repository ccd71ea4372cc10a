package dev.kiln.airflow;

import java.util.List;

/**
 * What {@link AirflowClient#clearFailed} cleared (or, with {@code dryRun}, would clear): the failed and
 * upstream-failed task instances of one run, which Airflow then schedules again.
 */
public record ClearResult(String dagId, String dagRunId, boolean dryRun, List<String> taskIds) {}
