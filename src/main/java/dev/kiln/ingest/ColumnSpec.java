package dev.kiln.ingest;

import java.io.Serializable;
import java.util.List;

/**
 * One column of a source schema.
 *
 * @param name    column name, as it appears in the source header / JSON keys
 * @param type    value type; text is parsed into it
 * @param nullable whether a missing or empty value is allowed (a missing required value quarantines the row)
 * @param allowed if set, the only values accepted (compared after parsing, in canonical text form)
 * @param min     if set, the smallest numeric value accepted
 * @param max     if set, the largest numeric value accepted
 * @param pii     personal data: stored as a salted SHA-256 hash, never in clear
 * @param description free text for people
 */
public record ColumnSpec(String name, ColumnType type, Boolean nullable, List<String> allowed, Double min,
                         Double max, Boolean pii, String description) implements Serializable {
  public ColumnSpec {
    nullable = nullable == null ? Boolean.TRUE : nullable;
    pii = pii == null ? Boolean.FALSE : pii;
    allowed = allowed == null ? null : List.copyOf(allowed);
  }

  public boolean isNullable() {
    return nullable;
  }

  public boolean isPii() {
    return pii;
  }
}
