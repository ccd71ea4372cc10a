package dev.kiln.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.KilnUserException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SchemaSpecTest {
  @TempDir
  Path tmp;

  @Test
  void loadsTheShippedEventsSchema() {
    SchemaSpec s = SchemaSpec.load(Path.of("conf/schemas/events.yaml"));
    assertEquals("events", s.name());
    assertEquals("event_id", s.eventKey());
    assertEquals("timestamp", s.eventTime());
    assertEquals(List.of("event_id", "user_id", "item_id", "category", "device", "country", "price", "timestamp",
        "label"), s.columnNames());
    assertTrue(s.column("user_id").orElseThrow().isPii());
    assertTrue(s.column("country").orElseThrow().isNullable());
    assertEquals(ColumnType.DOUBLE, s.column("price").orElseThrow().type());
    assertEquals(8, s.requiredColumns().size());
  }

  private String error(String yaml) throws IOException {
    Path f = tmp.resolve("s.yaml");
    Files.writeString(f, yaml);
    return assertThrows(KilnUserException.class, () -> SchemaSpec.load(f)).getMessage();
  }

  @Test
  void invalidYamlNamesFileLineAndColumn() throws IOException {
    String msg = error("name: x\ncolumns:\n  - name: a\n   type: [oops\n");
    assertTrue(msg.contains("s.yaml") && msg.contains("line "), msg);
  }

  @Test
  void unknownTypeAndUnknownKeysAreErrors() throws IOException {
    String base = "name: x\nevent_key: a\nevent_time: t\ncolumns:\n";
    String t = "  - {name: t, type: timestamp, nullable: false}\n";
    assertTrue(error(base + "  - {name: a, type: text, nullable: false}\n" + t).contains("unknown column type 'text'"));
    assertTrue(error(base + "  - {name: a, type: string, nullable: false, colour: red}\n" + t).contains("colour"));
  }

  @Test
  void keyAndTimeColumnsMustBeDeclaredAndRequired() throws IOException {
    String t = "  - {name: t, type: timestamp, nullable: false}\n";
    assertTrue(error("name: x\nevent_key: b\nevent_time: t\ncolumns:\n  - {name: a, type: string}\n" + t)
        .contains("event_key 'b' is not a declared column"));
    assertTrue(error("name: x\nevent_key: a\nevent_time: t\ncolumns:\n  - {name: a, type: string}\n" + t)
        .contains("nullable: false"));
    assertTrue(error("name: x\nevent_key: a\nevent_time: t\ncolumns:\n  - {name: a, type: string, nullable: false}\n"
        + "  - {name: t, type: string, nullable: false}\n").contains("non-nullable timestamp"));
  }

  @Test
  void rulesMustFitTheirColumnType() throws IOException {
    String head = "name: x\nevent_key: a\nevent_time: t\ncolumns:\n  - {name: a, type: string, nullable: false}\n"
        + "  - {name: t, type: timestamp, nullable: false}\n";
    assertTrue(error(head + "  - {name: p, type: int, pii: true}\n").contains("pii but not a string"));
    assertTrue(error(head + "  - {name: p, type: string, min: 1}\n").contains("not numeric"));
    assertTrue(error(head + "  - {name: p, type: int, allowed: [1, two]}\n").contains("allows 'two'"));
    assertTrue(error(head + "  - {name: _source_file, type: string}\n").contains("reserves"));
  }

  @Test
  void missingFileIsAUserError() {
    String msg = assertThrows(KilnUserException.class, () -> SchemaSpec.load(tmp.resolve("none.yaml"))).getMessage();
    assertTrue(msg.contains("config file not found") && msg.contains("none.yaml"), msg);
  }
}
