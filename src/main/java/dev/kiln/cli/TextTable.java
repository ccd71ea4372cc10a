package dev.kiln.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/** Prints rows as an aligned text table: numbers right-aligned, everything else left-aligned. */
final class TextTable {
  private final List<String> header;
  private final List<List<String>> rows = new ArrayList<>();

  TextTable(List<String> header) {
    this.header = header;
  }

  TextTable add(List<?> row) {
    rows.add(row.stream().map(v -> v == null ? "NULL" : v.toString()).toList());
    return this;
  }

  static void print(PrintWriter out, List<String> header, List<List<String>> rows) {
    TextTable table = new TextTable(header);
    rows.forEach(table::add);
    table.print(out);
  }

  void print(PrintWriter out) {
    int[] width = new int[header.size()];
    boolean[] numeric = new boolean[header.size()];
    for (int i = 0; i < width.length; i++) {
      width[i] = header.get(i).length();
      numeric[i] = !rows.isEmpty();
      for (List<String> r : rows) {
        width[i] = Math.max(width[i], r.get(i).length());
        numeric[i] &= r.get(i).matches("-?[0-9][0-9,.]*") || r.get(i).equals("NULL");
      }
    }
    line(out, header, width, numeric);
    StringBuilder rule = new StringBuilder();
    for (int i = 0; i < width.length; i++) {
      rule.append(i == 0 ? "" : "  ").append("-".repeat(width[i]));
    }
    out.println(rule);
    rows.forEach(r -> line(out, r, width, numeric));
    out.flush();
  }

  private static void line(PrintWriter out, List<String> cells, int[] width, boolean[] numeric) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < width.length; i++) {
      String c = cells.get(i).replace('\n', ' ');
      sb.append(i == 0 ? "" : "  ");
      sb.append(numeric[i] ? " ".repeat(width[i] - c.length()) + c
          : i == width.length - 1 ? c : c + " ".repeat(width[i] - c.length()));
    }
    out.println(sb.toString().stripTrailing());
  }

  static String bytes(long n) {
    if (n < 1024) {
      return n + " B";
    }
    String[] units = {"KB", "MB", "GB", "TB"};
    double v = n;
    int u = -1;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return String.format("%.1f %s", v, units[u]);
  }
}
