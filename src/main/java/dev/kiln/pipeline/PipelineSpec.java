package dev.kiln.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kiln.common.Json;
import dev.kiln.common.KilnUserException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.LocalDate;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A pipeline spec ({@code conf/pipelines/*.yaml}, format in docs/pipelines.md), loaded and checked: every problem is
 * one line naming the file and the task. Deploy/airflow/dags/kiln_pipeline_spec.py reads the same files for Airflow.
 *
 * @param tasks in the spec's order (any order; the graph is checked to be acyclic)
 * @param hash  SHA-256 of the file, recorded with every run
 */
public record PipelineSpec(String name, String description, Optional<CronSchedule> schedule, LocalDate startDate,
                           boolean catchup, Map<String, String> params, List<TaskSpec> tasks, String source,
                           String hash) {
  private static final Pattern ID = Pattern.compile("[a-z][a-z0-9_]{0,63}");
  private static final Pattern DURATION = Pattern.compile("(\\d+)([smh])");
  private static final Set<String> TOP_KEYS = Set.of("pipeline", "description", "schedule", "start_date", "catchup",
      "params", "defaults", "tasks");
  private static final Set<String> DEFAULT_KEYS = Set.of("retries", "retry_delay", "retry_exponential_backoff",
      "max_retry_delay", "timeout");
  private static final Set<String> TASK_KEYS = union(DEFAULT_KEYS, Set.of("id", "args", "depends_on", "branch"));

  public PipelineSpec {
    params = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(params));
    tasks = List.copyOf(tasks);
  }

  public TaskSpec task(String id) {
    return tasks.stream().filter(t -> t.id().equals(id)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no task " + id));
  }

  /** The tasks that list {@code id} under depends_on. */
  public List<TaskSpec> downstream(String id) {
    return tasks.stream().filter(t -> t.dependsOn().contains(id)).toList();
  }

  /** Whether {@code to} comes after {@code from}: it depends on it, directly or through other tasks. */
  public boolean reaches(String from, String to) {
    for (TaskSpec d : downstream(from)) {
      if (d.id().equals(to) || reaches(d.id(), to)) {
        return true;
      }
    }
    return false;
  }

  /** The spec's params with {@code overrides} applied; overriding an undeclared param is a user error. */
  public Map<String, String> params(Map<String, String> overrides) {
    Map<String, String> merged = new LinkedHashMap<>(params);
    for (Map.Entry<String, String> o : overrides.entrySet()) {
      if (!params.containsKey(o.getKey())) {
        throw new KilnUserException("--param " + o.getKey() + ": the pipeline declares no such parameter (it has "
            + (params.isEmpty() ? "none" : String.join(", ", params.keySet())) + ") (" + source + ")");
      }
      merged.put(o.getKey(), o.getValue());
    }
    return merged;
  }

  public static PipelineSpec load(Path file) {
    String text;
    try {
      text = Files.readString(file);
    } catch (NoSuchFileException e) {
      throw new KilnUserException("pipeline spec not found (" + file + ")");
    } catch (IOException e) {
      throw new KilnUserException("cannot read pipeline spec (" + file + "): " + e.getMessage());
    }
    return parse(text, file.toString());
  }

  public static PipelineSpec parse(String yaml, String source) {
    JsonNode root = Json.readYaml(yaml, source, JsonNode.class);
    Where at = new Where(source);
    if (!root.isObject()) {
      throw at.error("the spec must be a mapping with pipeline, tasks, ...");
    }
    unknownKeys(root, TOP_KEYS, at, "");
    String name = text(root, "pipeline", at, "").orElseThrow(() -> at.error("'pipeline' (the name) is missing"));
    if (!ID.matcher(name).matches()) {
      throw at.error("pipeline name '" + name + "' must match [a-z][a-z0-9_]*");
    }
    if (!root.has("schedule")) {
      throw at.error("'schedule' is missing: a cron expression, @daily/@weekly/@monthly, or null (run by hand only)");
    }
    Optional<CronSchedule> schedule = text(root, "schedule", at, "").map(s -> {
      try {
        return CronSchedule.parse(s);
      } catch (IllegalArgumentException e) {
        throw at.error("schedule: " + e.getMessage());
      }
    });
    String startText = text(root, "start_date", at, "").orElseThrow(() -> at.error("'start_date' is missing: the "
        + "first logical date the scheduler and Airflow consider, e.g. 2026-03-01"));
    LocalDate start;
    try {
      start = LocalDate.parse(startText);
    } catch (DateTimeParseException e) {
      throw at.error("start_date '" + startText + "' is not a date (2026-03-01)");
    }
    boolean catchup = bool(root, "catchup", at, "").orElse(false);
    Map<String, String> params = new LinkedHashMap<>();
    JsonNode p = root.path("params");
    if (!p.isMissingNode() && !p.isNull()) {
      if (!p.isObject()) {
        throw at.error("params must be a mapping of names to values");
      }
      for (Iterator<Map.Entry<String, JsonNode>> it = p.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (!e.getKey().matches("[A-Za-z_][A-Za-z0-9_]*")) {
          throw at.error("param '" + e.getKey() + "' must be a name ([A-Za-z_][A-Za-z0-9_]*)");
        }
        if (e.getKey().equals("data_root")) {
          throw at.error("param 'data_root' is reserved: the data root of the run is passed to every task");
        }
        params.put(e.getKey(), plain(e.getValue(), at, "param " + e.getKey()));
      }
    }
    JsonNode defaults = root.path("defaults");
    if (!defaults.isMissingNode() && !defaults.isNull() && !defaults.isObject()) {
      throw at.error("defaults must be a mapping");
    }
    unknownKeys(defaults, DEFAULT_KEYS, at, "defaults: ");
    JsonNode tasksNode = root.path("tasks");
    if (!tasksNode.isArray() || tasksNode.isEmpty()) {
      throw at.error("tasks must be a non-empty list of {id, args, depends_on, ...}");
    }
    List<TaskSpec> tasks = new ArrayList<>();
    Set<String> ids = new HashSet<>();
    for (JsonNode t : tasksNode) {
      if (!t.isObject()) {
        throw at.error("every entry of tasks must be a mapping");
      }
      String id = text(t, "id", at, "").orElseThrow(() -> at.error("a task has no id"));
      if (!ID.matcher(id).matches()) {
        throw at.error("task id '" + id + "' must match [a-z][a-z0-9_]*");
      }
      if (!ids.add(id)) {
        throw at.error("task id '" + id + "' appears twice");
      }
      tasks.add(task(t, id, defaults, params.keySet(), at.task(id)));
    }
    checkGraph(tasks, at);
    return new PipelineSpec(name, text(root, "description", at, "").orElse(""), schedule, start, catchup, params,
        tasks, source, sha256(yaml));
  }

  private static TaskSpec task(JsonNode t, String id, JsonNode defaults, Set<String> params, Where at) {
    unknownKeys(t, TASK_KEYS, at, "");
    JsonNode argsNode = t.path("args");
    if (!argsNode.isArray() || argsNode.isEmpty()) {
      throw at.error("args must be a non-empty list: the kiln command line, e.g. [ingest, --source, ...]");
    }
    List<String> args = new ArrayList<>();
    for (JsonNode a : argsNode) {
      String arg = plain(a, at, "args");
      Templates.problem(arg, params).ifPresent(problem -> {
        throw at.error("args: " + problem);
      });
      if (arg.equals("--data-root") || arg.startsWith("--data-root=")) {
        throw at.error("args must not set --data-root: the runner passes the pipeline run's data root");
      }
      args.add(arg);
    }
    if (args.get(0).equals("kiln")) {
      throw at.error("args start with the kiln command (ingest, train, ...), not with 'kiln'");
    }
    List<String> deps = new ArrayList<>();
    JsonNode d = t.path("depends_on");
    if (!d.isMissingNode() && !d.isNull()) {
      if (!d.isArray()) {
        throw at.error("depends_on must be a list of task ids");
      }
      d.forEach(x -> deps.add(x.asText()));
    }
    Map<Integer, List<String>> branch = new HashMap<>();
    JsonNode b = t.path("branch");
    if (!b.isMissingNode() && !b.isNull()) {
      if (!b.isObject() || b.isEmpty()) {
        throw at.error("branch must map exit codes to lists of downstream task ids, e.g. {0: [], 3: [retrain]}");
      }
      for (Iterator<Map.Entry<String, JsonNode>> it = b.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        int code;
        try {
          code = Integer.parseInt(e.getKey().trim());
        } catch (NumberFormatException ex) {
          throw at.error("branch key '" + e.getKey() + "' is not an exit code (0..255)");
        }
        if (code < 0 || code > 255 || !(e.getValue().isArray() || e.getValue().isNull())) {
          throw at.error("branch " + e.getKey() + ": an exit code 0..255 mapped to a list of task ids");
        }
        List<String> chosen = new ArrayList<>();
        e.getValue().forEach(x -> chosen.add(x.asText()));
        branch.put(code, chosen);
      }
    }
    int retries = integer(t, defaults, "retries", 0, at);
    if (retries < 0 || retries > 100) {
      throw at.error("retries must be 0..100 (got " + retries + ")");
    }
    Optional<Duration> timeout = duration(t, defaults, "timeout", at);
    if (timeout.filter(Duration::isZero).isPresent()) {
      throw at.error("timeout must be more than 0s");
    }
    return new TaskSpec(id, args, deps, retries,
        duration(t, defaults, "retry_delay", at).orElse(Duration.ofMinutes(5)),
        bool(t, "retry_exponential_backoff", at, "").or(() -> bool(defaults, "retry_exponential_backoff", at,
            "defaults: ")).orElse(false),
        duration(t, defaults, "max_retry_delay", at), timeout, branch);
  }

  /** Dependencies name tasks, branches choose direct downstream tasks, and there is no cycle. */
  private static void checkGraph(List<TaskSpec> tasks, Where at) {
    Map<String, TaskSpec> byId = new LinkedHashMap<>();
    tasks.forEach(t -> byId.put(t.id(), t));
    for (TaskSpec t : tasks) {
      for (String dep : t.dependsOn()) {
        if (!byId.containsKey(dep)) {
          throw at.task(t.id()).error("depends_on names '" + dep + "', which is not a task of this pipeline");
        }
        if (dep.equals(t.id())) {
          throw at.task(t.id()).error("depends on itself");
        }
      }
      for (List<String> chosen : t.branch().values()) {
        for (String c : chosen) {
          if (!byId.containsKey(c) || !byId.get(c).dependsOn().contains(t.id())) {
            throw at.task(t.id()).error("branch chooses '" + c + "', which is not a task that depends_on "
                + t.id());
          }
        }
      }
    }
    // Kahn's algorithm: whatever is left over sits on a cycle
    Map<String, Integer> waiting = new HashMap<>();
    tasks.forEach(t -> waiting.put(t.id(), t.dependsOn().size()));
    List<String> ready = new ArrayList<>(tasks.stream().filter(t -> t.dependsOn().isEmpty()).map(TaskSpec::id)
        .toList());
    int done = 0;
    while (!ready.isEmpty()) {
      String id = ready.remove(0);
      done++;
      for (TaskSpec t : tasks) {
        if (t.dependsOn().contains(id) && waiting.merge(t.id(), -1, Integer::sum) == 0) {
          ready.add(t.id());
        }
      }
    }
    if (done < tasks.size()) {
      List<String> cycle = waiting.entrySet().stream().filter(e -> e.getValue() > 0).map(Map.Entry::getKey)
          .sorted().toList();
      throw at.error("the tasks " + String.join(", ", cycle) + " depend on each other in a cycle");
    }
  }

  private static void unknownKeys(JsonNode node, Set<String> allowed, Where at, String prefix) {
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String key = it.next();
      if (!allowed.contains(key)) {
        throw at.error(prefix + "unknown key '" + key + "' (expected one of " + String.join(", ",
            allowed.stream().sorted().toList()) + ")");
      }
    }
  }

  private static Optional<String> text(JsonNode node, String key, Where at, String prefix) {
    JsonNode v = node.path(key);
    if (v.isMissingNode() || v.isNull()) {
      return Optional.empty();
    }
    if (v.isContainerNode()) {
      throw at.error(prefix + key + " must be a plain value");
    }
    return Optional.of(v.asText()).filter(s -> !s.isBlank());
  }

  /**
   * Text or a whole number: what Java and Airflow's Jinja print the same way (a float or a boolean would not be:
   * 1.0 / True), so anything else is refused.
   */
  private static String plain(JsonNode v, Where at, String what) {
    if (v.isTextual() || v.isIntegralNumber()) {
      return v.asText();
    }
    throw at.error(what + ": '" + v + "' must be text or a whole number (quote it, e.g. \"0.002\")");
  }

  private static Optional<Boolean> bool(JsonNode node, String key, Where at, String prefix) {
    JsonNode v = node.path(key);
    if (v.isMissingNode() || v.isNull()) {
      return Optional.empty();
    }
    if (!v.isBoolean()) {
      throw at.error(prefix + key + " must be true or false");
    }
    return Optional.of(v.asBoolean());
  }

  private static int integer(JsonNode task, JsonNode defaults, String key, int fallback, Where at) {
    JsonNode v = task.has(key) ? task.get(key) : defaults.path(key);
    if (v.isMissingNode() || v.isNull()) {
      return fallback;
    }
    if (!v.canConvertToInt() || !v.isIntegralNumber()) {
      throw at.error(key + " must be a whole number (got '" + v.asText() + "')");
    }
    return v.asInt();
  }

  private static Optional<Duration> duration(JsonNode task, JsonNode defaults, String key, Where at) {
    JsonNode v = task.has(key) ? task.get(key) : defaults.path(key);
    if (v.isMissingNode() || v.isNull()) {
      return Optional.empty();
    }
    Matcher m = DURATION.matcher(v.asText().trim());
    if (!m.matches()) {
      throw at.error(key + " '" + v.asText() + "' is not a duration (e.g. 30s, 10m, 2h)");
    }
    long n = Long.parseLong(m.group(1));
    return Optional.of(switch (m.group(2)) {
      case "m" -> Duration.ofMinutes(n);
      case "h" -> Duration.ofHours(n);
      default -> Duration.ofSeconds(n);
    });
  }

  private static String sha256(String text) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(
          StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Set<String> union(Set<String> a, Set<String> b) {
    Set<String> all = new HashSet<>(a);
    all.addAll(b);
    return Set.copyOf(all);
  }

  /** Where a problem is, for one-line errors: the file, and the task when there is one. */
  private record Where(String source, String task) {
    Where(String source) {
      this(source, null);
    }

    Where task(String id) {
      return new Where(source, id);
    }

    KilnUserException error(String what) {
      return new KilnUserException("pipeline spec: " + (task == null ? "" : "task " + task + ": ") + what + " ("
          + source + ")");
    }
  }
}
