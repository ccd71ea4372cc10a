package dev.kiln.ingest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

class RecordValidatorTest {
  private final SchemaSpec schema = SchemaSpec.load(Path.of("conf/schemas/events.yaml"));
  private final PiiHasher hasher = new PiiHasher("pepper-and-salt".getBytes(StandardCharsets.UTF_8));
  private final RecordValidator validator = new RecordValidator(schema, hasher);
  private final int n = schema.columns().size();

  private Row validate(String... values) {
    return validator.validate(values, "f.csv", 7L, () -> "RAW");
  }

  private static List<String> reasons(Row r) {
    return List.of((String[]) r.get(r.length() - 1));
  }

  @Test
  void validRowIsTypedWithPiiHashedAndNoRawRecord() {
    Row r = validate("e1", "u1", "i1", "books", "mobile", "", "9.5", "2026-01-02T03:04:05Z", "1");
    assertEquals(List.of(), reasons(r));
    assertEquals("e1", r.getString(0));
    assertEquals(hasher.hash("u1"), r.getString(1));
    assertTrue(r.getString(1).matches("[0-9a-f]{64}"));
    assertNull(r.get(5), "an empty nullable column is null");
    assertEquals(9.5, r.getDouble(6));
    assertEquals(Timestamp.from(Instant.parse("2026-01-02T03:04:05Z")), r.getTimestamp(7));
    assertEquals(1, r.getInt(8));
    assertEquals("f.csv", r.getString(n));
    assertEquals(7L, r.getLong(n + 1));
    assertNull(r.get(n + 2));
  }

  @Test
  void eachRuleGivesItsReasonCode() {
    assertEquals(List.of("missing:user_id"), reasons(validate("e", " ", "i", "c", "mobile", "", "1", "2026-01-01", "0")));
    assertEquals(List.of("bad_type:timestamp"),
        reasons(validate("e", "u", "i", "c", "mobile", "", "1", "2026-13-45T99:00:00Z", "0")));
    assertEquals(List.of("not_finite:price"), reasons(validate("e", "u", "i", "c", "mobile", "", "NaN", "2026-01-01", "0")));
    assertEquals(List.of("out_of_range:price"), reasons(validate("e", "u", "i", "c", "mobile", "", "-1", "2026-01-01", "0")));
    assertEquals(List.of("not_allowed:label"), reasons(validate("e", "u", "i", "c", "mobile", "", "1", "2026-01-01", "2")));
    assertEquals(List.of("bad_type:label"), reasons(validate("e", "u", "i", "c", "mobile", "", "1", "2026-01-01", "yes")));
    assertEquals(List.of("not_allowed:device"), reasons(validate("e", "u", "i", "c", "phone", "", "1", "2026-01-01", "0")));
    Row two = validate("e", "u", "i", "c", "mobile", "", "x", "2026-01-01", "3");
    assertEquals(List.of("bad_type:price", "not_allowed:label"), reasons(two));
    assertEquals("RAW", two.getString(n + 2));
  }

  @Test
  void timestampsAcceptCommonIsoForms() {
    String[] forms = {"2026-01-02T03:04:05Z", "2026-01-02 03:04:05", "2026-01-02T04:04:05+01:00",
        "2026-01-02T03:04:05.000Z", "2026-01-02T03:04:05.000000"};
    for (String t : forms) {
      Row r = validate("e", "u", "i", "c", "mobile", "", "1", t, "0");
      assertEquals(List.of(), reasons(r), t);
      assertEquals(Instant.parse("2026-01-02T03:04:05Z"), r.getTimestamp(7).toInstant(), t);
    }
  }

  @Test
  void hashDependsOnSaltAndValueOnly() {
    PiiHasher other = new PiiHasher("another-salt".getBytes(StandardCharsets.UTF_8));
    assertEquals(hasher.hash("u1"), new PiiHasher("pepper-and-salt".getBytes(StandardCharsets.UTF_8)).hash("u1"));
    assertNotEquals(hasher.hash("u1"), other.hash("u1"));
    assertNotEquals(hasher.hash("u1"), hasher.hash("u2"));
  }

  @Test
  void malformedRecordCarriesItsReasonAndRaw() {
    Row r = validator.malformed("f.csv", 3L, "a,b");
    assertArrayEquals(new Object[] {"malformed_record"}, reasons(r).toArray());
    assertEquals("a,b", r.getString(n + 2));
  }
}
