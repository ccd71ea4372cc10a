package dev.kiln.common;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class MessagesTest {
  @Test
  void theFirstNonBlankLineStripped() {
    assertEquals("bad column x", Messages.firstLine("\n  \r\n  bad column x  \nat line 3\n", "none"));
    assertEquals("one", Messages.firstLine("one", "none"));
    assertEquals("none", Messages.firstLine(null, "none"));
    assertEquals("none", Messages.firstLine(" \n\t\n", "none"));
  }
}
