package dev.kiln.airflow;

import com.fasterxml.jackson.annotation.JsonFormat;
import java.time.Instant;
import java.util.Map;

/**
 * A DAG run as Airflow reports it ({@code DAGRun} in v1, {@code DAGRunResponse} in v2). {@code state} is Airflow's
 * own word: {@code queued}, {@code running}, {@code success} or {@code failed}. Times are null until they happen.
 */
public record DagRun(
    String dagId,
    String dagRunId,
    String state,
    @JsonFormat(shape = JsonFormat.Shape.STRING) Instant logicalDate,
    @JsonFormat(shape = JsonFormat.Shape.STRING) Instant startDate,
    @JsonFormat(shape = JsonFormat.Shape.STRING) Instant endDate,
    String runType,
    Map<String, Object> conf) {

  public static final String SUCCESS = "success";
  public static final String FAILED = "failed";

  /** Whether the run is over (success or failed). */
  public boolean finished() {
    return SUCCESS.equals(state) || FAILED.equals(state);
  }

  public boolean succeeded() {
    return SUCCESS.equals(state);
  }
}
