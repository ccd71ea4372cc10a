package dev.kiln.airflow;

import dev.kiln.common.KilnUserException;
import java.util.Locale;

/** Which Airflow REST API a {@link AirflowClient} speaks. */
public enum ApiVersion {
  /** Airflow 2's stable API under {@code /api/v1} (connexion; HTTP basic auth; errors as RFC 7807 problem+json). */
  V1("/api/v1", "Airflow 2"),
  /** Airflow 3's API under {@code /api/v2} (FastAPI; bearer token from {@code POST /auth/token}). */
  V2("/api/v2", "Airflow 3");

  private final String prefix;
  private final String airflow;

  ApiVersion(String prefix, String airflow) {
    this.prefix = prefix;
    this.airflow = airflow;
  }

  /** The path prefix, e.g. {@code /api/v1}. */
  public String prefix() {
    return prefix;
  }

  /** The Airflow major version that serves it, for messages. */
  public String airflow() {
    return airflow;
  }

  /** {@code v1} or {@code v2}. */
  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Parses {@code v1} or {@code v2} (any case). */
  public static ApiVersion parse(String text) {
    String t = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
    return switch (t) {
      case "v1", "1" -> V1;
      case "v2", "2" -> V2;
      default -> throw new KilnUserException("unknown Airflow API version '" + text
          + "': use v1 (Airflow 2) or v2 (Airflow 3)");
    };
  }
}
