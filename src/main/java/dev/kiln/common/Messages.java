package dev.kiln.common;

/** A library's message (often several lines: a stack of causes, a plan) as the one line a user error shows. */
public final class Messages {
  private Messages() {}

  /** The first non-blank line of {@code message}, stripped; {@code ifNone} when it is null or blank. */
  public static String firstLine(String message, String ifNone) {
    if (message != null) {
      for (String line : message.lines().toList()) {
        if (!line.isBlank()) {
          return line.strip();
        }
      }
    }
    return ifNone;
  }
}
