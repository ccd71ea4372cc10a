package dev.kiln.airflow;

/** The log of one try of one task instance, as text (v2's structured lines rendered one per line). */
public record TaskLog(String dagId, String dagRunId, String taskId, int tryNumber, String content) {}
