package dev.kiln.ingest;

/**
 * Quarantine reason codes: {@code <rule>:<column>}, or {@code malformed_record} when a record cannot be split into
 * the expected fields (wrong column count, invalid JSON). Stable strings: dashboards and tests count by them.
 */
public final class Reasons {
  public static final String MALFORMED_RECORD = "malformed_record";

  private Reasons() {}

  public static String missing(String column) {
    return "missing:" + column;
  }

  public static String badType(String column) {
    return "bad_type:" + column;
  }

  public static String notFinite(String column) {
    return "not_finite:" + column;
  }

  public static String notAllowed(String column) {
    return "not_allowed:" + column;
  }

  public static String outOfRange(String column) {
    return "out_of_range:" + column;
  }
}
