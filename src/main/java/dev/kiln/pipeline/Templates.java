package dev.kiln.pipeline;

import java.time.LocalDate;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The subset of Airflow's Jinja templates a pipeline spec may use, rendered here exactly as Airflow renders them, so a
 * spec means the same under Kiln's runner and as an Airflow DAG: {@code {{ ds }}}, {@code {{ ds_nodash }}},
 * {@code {{ params.NAME }}} and {@code {{ macros.ds_add(ds, N) }}}.
 */
public final class Templates {
  private static final Pattern TEMPLATE = Pattern.compile("\\{\\{(.*?)}}");
  private static final Pattern PARAM = Pattern.compile("params\\.([A-Za-z_][A-Za-z0-9_]*)");
  private static final Pattern DS_ADD = Pattern.compile("macros\\.ds_add\\(\\s*ds\\s*,\\s*(-?\\d{1,5})\\s*\\)");

  private Templates() {}

  /**
   * The first expression in {@code text} that is not one of the supported templates (or names an undeclared
   * parameter), as a message; empty when every template is fine.
   */
  public static Optional<String> problem(String text, java.util.Set<String> params) {
    Matcher m = TEMPLATE.matcher(text);
    while (m.find()) {
      String expr = m.group(1).trim();
      Matcher p = PARAM.matcher(expr);
      if (p.matches()) {
        if (!params.contains(p.group(1))) {
          return Optional.of("'{{ " + expr + " }}' names a parameter the spec does not declare under params");
        }
      } else if (!expr.equals("ds") && !expr.equals("ds_nodash") && !DS_ADD.matcher(expr).matches()) {
        return Optional.of("'{{ " + expr + " }}' is not a supported template (ds, ds_nodash, params.NAME, "
            + "macros.ds_add(ds, N))");
      }
    }
    if (text.replaceAll(TEMPLATE.pattern(), "").contains("{{")) {
      return Optional.of("'" + text + "' has an unclosed '{{'");
    }
    return Optional.empty();
  }

  /** {@code text} with every template replaced; the templates were checked by {@link #problem}. */
  public static String render(String text, LocalDate ds, Map<String, String> params) {
    Matcher m = TEMPLATE.matcher(text);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(out, Matcher.quoteReplacement(value(m.group(1).trim(), ds, params)));
    }
    m.appendTail(out);
    return out.toString();
  }

  private static String value(String expr, LocalDate ds, Map<String, String> params) {
    if (expr.equals("ds")) {
      return ds.toString();
    }
    if (expr.equals("ds_nodash")) {
      return ds.format(DateTimeFormatter.BASIC_ISO_DATE);
    }
    Matcher p = PARAM.matcher(expr);
    if (p.matches()) {
      String v = params.get(p.group(1));
      if (v == null) {
        throw new IllegalArgumentException("no value for parameter " + p.group(1));
      }
      return v;
    }
    Matcher add = DS_ADD.matcher(expr);
    if (add.matches()) {
      return ds.plusDays(Long.parseLong(add.group(1))).toString();
    }
    throw new IllegalArgumentException("unsupported template {{ " + expr + " }}");
  }
}
