package dev.kiln.common;

/** Writing CSV fields by RFC 4180's rule: quote a field holding a comma, quote or line break; double its quotes. */
public final class CsvText {
  private CsvText() {}

  public static String field(String value) {
    String v = value == null ? "" : value;
    boolean quote = v.indexOf(',') >= 0 || v.indexOf('"') >= 0 || v.indexOf('\n') >= 0 || v.indexOf('\r') >= 0;
    return quote ? '"' + v.replace("\"", "\"\"") + '"' : v;
  }
}
