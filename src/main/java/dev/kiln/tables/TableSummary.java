package dev.kiln.tables;

/** One line of {@code kiln tables list}. */
public record TableSummary(String table, long rows, long sizeBytes, long files, long version, String lastOperation,
                           String lastJob, String lastWrittenAt, String path) {}
