package dev.kiln.airflow;

import com.fasterxml.jackson.annotation.JsonFormat;
import java.time.Instant;

/**
 * One task instance of a DAG run ({@code TaskInstance} in v1, {@code TaskInstanceResponse} in v2). {@code state} is
 * Airflow's word ({@code success}, {@code failed}, {@code upstream_failed}, {@code running}, {@code up_for_retry},
 * ...) or null when the task has no state yet; {@code mapIndex} is -1 unless the task is mapped.
 */
public record TaskInstance(
    String taskId,
    int mapIndex,
    String state,
    int tryNumber,
    int maxTries,
    @JsonFormat(shape = JsonFormat.Shape.STRING) Instant startDate,
    @JsonFormat(shape = JsonFormat.Shape.STRING) Instant endDate,
    Double durationSeconds,
    String operator) {

  public boolean failed() {
    return "failed".equals(state);
  }

  /** {@code task_id}, or {@code task_id[map_index]} for a mapped task. */
  public String label() {
    return mapIndex < 0 ? taskId : taskId + "[" + mapIndex + "]";
  }
}
