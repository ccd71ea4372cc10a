package dev.kiln.airflow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * A <b>stand-in</b> for an Airflow server, for tests: Airflow cannot be installed here, so this implements the part of
 * the published REST contracts that {@link AirflowClient} uses, on 127.0.0.1 and an ephemeral port. It is not
 * Airflow. It follows the same sources as the client (see {@link AirflowClient}): Airflow 2's {@code /api/v1}
 * (v1.yaml: basic auth, RFC 7807 problem+json errors, trigger answers 200, 409 AlreadyExists, an unknown run's
 * task list is empty) or Airflow 3's {@code /api/v2} (bearer tokens from {@code POST /auth/token} answering 201,
 * FastAPI {@code {"detail": ...}} errors, a strict trigger body that requires {@code logical_date}, 422 validation
 * errors, a unique-constraint 409 with an object detail, structured log lines). Error wording is close to Airflow's
 * but not guaranteed identical.
 *
 * <p>A DAG run moves queued → running → success/failed as it is polled ({@code GET .../dagRuns/{id}}); a failing
 * DAG's failing task ends {@code failed} on its second try (logs for both tries) and the tasks after it
 * {@code upstream_failed}. Clearing resets the failed tasks and the run to queued; the re-run succeeds. Faults can be
 * injected per request: any status with headers (429 with {@code Retry-After}, 503, ...), a dropped connection
 * before or after the request was processed, and slow responses.
 */
final class AirflowStandIn implements AutoCloseable {
  enum Flavor {
    /** Airflow 2: only {@code /api/v1}. */
    AIRFLOW_2("2.10.5"),
    /** Airflow 3: only {@code /api/v2} (+ {@code /auth/token}). */
    AIRFLOW_3("3.0.2");

    final String version;

    Flavor(String version) {
      this.version = version;
    }
  }

  /** A DAG: its tasks in order; {@code failingTask} (or null) fails until cleared; polls spent queued and running. */
  record DagSpec(String dagId, List<String> tasks, String failingTask, int queuedPolls, int runningPolls,
      boolean neverFinishes, Set<String> requiredParams) {
    static DagSpec succeeding(String dagId, String... tasks) {
      return new DagSpec(dagId, List.of(tasks), null, 1, 2, false, Set.of());
    }

    static DagSpec failing(String dagId, String failingTask, String... tasks) {
      return new DagSpec(dagId, List.of(tasks), failingTask, 1, 2, false, Set.of());
    }

    static DagSpec stuck(String dagId, String... tasks) {
      return new DagSpec(dagId, List.of(tasks), null, 1, 1, true, Set.of());
    }

    DagSpec withRequiredParams(String... params) {
      return new DagSpec(dagId, tasks, failingTask, queuedPolls, runningPolls, neverFinishes, Set.of(params));
    }
  }

  /** An injected fault, used once. */
  sealed interface Fault {
    /** Answers this status, headers and body instead of handling the request. */
    record Respond(int status, Map<String, String> headers, String contentType, String body) implements Fault {}

    /** Closes the connection without answering, before handling the request. */
    record Drop() implements Fault {}

    /** Handles the request (its effects happen), then closes the connection without answering. */
    record ProcessThenDrop() implements Fault {}

    /** Waits, then handles the request normally. */
    record Delay(long millis) implements Fault {}

    static Fault status(int status) {
      return new Respond(status, Map.of(), "application/json",
          "{\"detail\": \"stand-in injected HTTP " + status + "\"}");
    }

    static Fault tooManyRequests(String retryAfter) {
      return new Respond(429, Map.of("Retry-After", retryAfter), "application/json", "{\"detail\": \"slow down\"}");
    }
  }

  record Recorded(String method, String path, String query, String authorization, String body, long atNanos) {}

  private record Injection(String method, Pattern path, List<Fault> faults) {}

  private record User(String password, boolean canWrite) {}

  private static final class Run {
    final String dagId;
    final String runId;
    final Instant logicalDate;
    final Map<String, Object> conf;
    final Instant queuedAt = Instant.now().truncatedTo(ChronoUnit.MICROS);
    String state = "queued";
    int polls;
    boolean cleared;
    Instant startDate;
    Instant endDate;
    final Map<String, int[]> tries = new LinkedHashMap<>(); // task -> {try_number}
    final Map<String, String> taskStates = new LinkedHashMap<>();

    Run(String dagId, String runId, Instant logicalDate, Map<String, Object> conf) {
      this.dagId = dagId;
      this.runId = runId;
      this.logicalDate = logicalDate;
      this.conf = conf;
    }
  }

  private record Reply(int status, String contentType, String body, Map<String, String> headers) {
    static Reply json(int status, JsonNode body) {
      return new Reply(status, "application/json", body.toString(), Map.of());
    }
  }

  private static final ObjectMapper MAPPER = new ObjectMapper();

  final Flavor flavor;
  private final HttpServer server;
  private final ExecutorService executor;
  private final Map<String, User> users = new HashMap<>();
  private final Map<String, DagSpec> dags = new LinkedHashMap<>();
  private final Map<String, Run> runs = new LinkedHashMap<>();
  private final Set<String> tokens = new java.util.HashSet<>();
  private final List<Injection> injections = new CopyOnWriteArrayList<>();
  private final List<Recorded> requests = new CopyOnWriteArrayList<>();
  private final AtomicInteger tokenCounter = new AtomicInteger();
  /** Extra text the stand-in writes into every task log (e.g. to check that the client masks secrets in logs). */
  volatile String logExtra = "";

  private AirflowStandIn(Flavor flavor) throws IOException {
    this.flavor = flavor;
    this.server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    this.executor = Executors.newFixedThreadPool(8, r -> {
      Thread t = new Thread(r, "airflow-stand-in");
      t.setDaemon(true);
      return t;
    });
    server.setExecutor(executor);
    server.createContext("/", this::exchange);
    server.start();
  }

  static AirflowStandIn start(Flavor flavor) {
    try {
      return new AirflowStandIn(flavor);
    } catch (IOException e) {
      throw new IllegalStateException("cannot start the Airflow stand-in", e);
    }
  }

  String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  String prefix() {
    return flavor == Flavor.AIRFLOW_2 ? "/api/v1" : "/api/v2";
  }

  synchronized AirflowStandIn user(String username, String password, boolean canWrite) {
    users.put(username, new User(password, canWrite));
    return this;
  }

  synchronized AirflowStandIn dag(DagSpec spec) {
    dags.put(spec.dagId(), spec);
    return this;
  }

  /** Faults for the next requests whose method matches and whose path matches {@code pathRegex} (find). */
  AirflowStandIn inject(String method, String pathRegex, Fault... faults) {
    injections.add(new Injection(method, Pattern.compile(pathRegex), new CopyOnWriteArrayList<>(List.of(faults))));
    return this;
  }

  /** Forgets every issued token (as if they expired): the next v2 request with one gets 401. */
  synchronized void expireTokens() {
    tokens.clear();
  }

  synchronized int runCount(String dagId) {
    return (int) runs.values().stream().filter(r -> r.dagId.equals(dagId)).count();
  }

  synchronized String runState(String dagId, String runId) {
    Run r = runs.get(dagId + "/" + runId);
    return r == null ? null : r.state;
  }

  List<Recorded> requests() {
    return List.copyOf(requests);
  }

  long count(String method, String pathRegex) {
    Pattern p = Pattern.compile(pathRegex);
    return requests.stream().filter(r -> r.method().equals(method) && p.matcher(r.path()).find()).count();
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
    try {
      executor.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  // -----------------------------------------------------------------------------------------------------------------

  private void exchange(HttpExchange ex) throws IOException {
    try {
      String method = ex.getRequestMethod();
      String rawPath = ex.getRequestURI().getRawPath();
      String query = ex.getRequestURI().getRawQuery();
      String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      requests.add(new Recorded(method, decodePath(rawPath), query, ex.getRequestHeaders().getFirst("Authorization"),
          body, System.nanoTime()));
      Fault fault = nextFault(method, decodePath(rawPath));
      if (fault instanceof Fault.Respond f) {
        f.headers().forEach((k, v) -> ex.getResponseHeaders().add(k, v));
        send(ex, new Reply(f.status(), f.contentType(), f.body(), Map.of()));
        return;
      }
      if (fault instanceof Fault.Drop) {
        return; // closing without response headers closes the connection
      }
      if (fault instanceof Fault.Delay d) {
        try {
          Thread.sleep(d.millis());
        } catch (InterruptedException e) {
          return;
        }
      }
      Reply reply;
      try {
        reply = handle(method, rawPath, query == null ? "" : query, body,
            ex.getRequestHeaders().getFirst("Authorization"), ex.getRequestHeaders().getFirst("Accept"));
      } catch (RuntimeException e) {
        reply = error(500, "Internal Server Error", "stand-in bug: " + e);
      }
      if (fault instanceof Fault.ProcessThenDrop) {
        return;
      }
      reply.headers().forEach((k, v) -> ex.getResponseHeaders().add(k, v));
      send(ex, reply);
    } finally {
      ex.close(); // without response headers sent, this closes the connection: a dropped connection
    }
  }

  private Fault nextFault(String method, String path) {
    for (Injection i : injections) {
      if (i.method().equals(method) && i.path().matcher(path).find() && !i.faults().isEmpty()) {
        return i.faults().remove(0);
      }
    }
    return null;
  }

  private static void send(HttpExchange ex, Reply reply) throws IOException {
    byte[] bytes = reply.body().getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", reply.contentType());
    ex.sendResponseHeaders(reply.status(), bytes.length == 0 ? -1 : bytes.length);
    if (bytes.length > 0) {
      try (OutputStream out = ex.getResponseBody()) {
        out.write(bytes);
      }
    }
  }

  /** Percent-decodes a path without treating '+' as a space (it is literal in paths). */
  static String decodePath(String raw) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (int i = 0; i < raw.length(); i++) {
      char c = raw.charAt(i);
      if (c == '%' && i + 2 < raw.length()) {
        out.write(Integer.parseInt(raw.substring(i + 1, i + 3), 16));
        i += 2;
      } else {
        out.write(c);
      }
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  private synchronized Reply handle(String method, String rawPath, String query, String body, String auth,
      String accept) {
    String[] parts = rawPath.split("/", -1);
    List<String> seg = new ArrayList<>();
    for (int i = 1; i < parts.length; i++) {
      seg.add(decodePath(parts[i]));
    }
    String path = "/" + String.join("/", seg);
    boolean v1 = flavor == Flavor.AIRFLOW_2;

    // Version endpoints (no auth) and the other API, which this Airflow does not serve.
    if (path.equals(prefix() + "/version") && method.equals("GET")) {
      ObjectNode n = MAPPER.createObjectNode().put("version", flavor.version).putNull("git_version");
      return Reply.json(200, n);
    }
    if (v1 && (path.startsWith("/api/v2") || path.startsWith("/auth/"))) {
      return new Reply(404, "text/html", "<!DOCTYPE html><title>404 Not Found</title><h1>Not Found</h1>", Map.of());
    }
    if (!v1 && path.startsWith("/api/v1")) {
      return Reply.json(404, MAPPER.createObjectNode().put("detail", "Not Found"));
    }
    if (!v1 && path.equals("/auth/token")) {
      return method.equals("POST") ? login(body) : Reply.json(405, MAPPER.createObjectNode().put("detail",
          "Method Not Allowed"));
    }
    if (!path.startsWith(prefix() + "/")) {
      return error(404, "Not Found", "The requested URL was not found on the server.");
    }

    // Authentication, then authorization (writes need canWrite).
    User user = authenticate(auth);
    if (user == null) {
      return v1 ? problem(401, "Unauthorized", null, Map.of("WWW-Authenticate", "Basic"))
          : Reply.json(401, MAPPER.createObjectNode().put("detail", "Not authenticated"));
    }
    if (!method.equals("GET") && !user.canWrite()) {
      return error(403, "Forbidden", "You do not have permission to perform this action");
    }

    List<String> rest = seg.subList(2, seg.size()); // after api, vN
    // dags/{dag}/dagRuns
    if (rest.size() == 3 && rest.get(0).equals("dags") && rest.get(2).equals("dagRuns") && method.equals("POST")) {
      return trigger(rest.get(1), body);
    }
    if (rest.size() == 4 && rest.get(0).equals("dags") && rest.get(2).equals("dagRuns") && method.equals("GET")) {
      return getRun(rest.get(1), rest.get(3));
    }
    if (rest.size() == 5 && rest.get(0).equals("dags") && rest.get(2).equals("dagRuns")
        && rest.get(4).equals("taskInstances") && method.equals("GET")) {
      return listTasks(rest.get(1), rest.get(3), query);
    }
    if (rest.size() == 8 && rest.get(0).equals("dags") && rest.get(2).equals("dagRuns")
        && rest.get(4).equals("taskInstances") && rest.get(6).equals("logs") && method.equals("GET")) {
      if (!queryMap(query).getOrDefault("map_index", "-1").equals("-1")) { // no mapped tasks here
        return flavor == Flavor.AIRFLOW_2 ? problem(404, "TaskInstance not found", null, Map.of())
            : Reply.json(404, MAPPER.createObjectNode().put("detail", "TaskInstance not found"));
      }
      return log(rest.get(1), rest.get(3), rest.get(5), rest.get(7), accept);
    }
    if (rest.size() == 3 && rest.get(0).equals("dags") && rest.get(2).equals("clearTaskInstances")
        && method.equals("POST")) {
      return clear(rest.get(1), body);
    }
    return error(404, "Not Found", "The requested URL was not found on the server.");
  }

  private User authenticate(String auth) {
    if (auth == null) {
      return null;
    }
    if (flavor == Flavor.AIRFLOW_2) {
      if (!auth.startsWith("Basic ")) {
        return null;
      }
      String decoded;
      try {
        decoded = new String(Base64.getDecoder().decode(auth.substring(6).strip()), StandardCharsets.UTF_8);
      } catch (IllegalArgumentException e) {
        return null;
      }
      int colon = decoded.indexOf(':');
      if (colon < 0) {
        return null;
      }
      User u = users.get(decoded.substring(0, colon));
      return u != null && u.password().equals(decoded.substring(colon + 1)) ? u : null;
    }
    if (!auth.startsWith("Bearer ")) {
      return null;
    }
    String token = auth.substring(7).strip();
    if (!tokens.contains(token)) {
      return null;
    }
    return users.get(token.substring(token.lastIndexOf('.') + 1));
  }

  /** Airflow 3 simple auth manager: POST /auth/token {"username", "password"} → 201 {"access_token"}. */
  private Reply login(String body) {
    JsonNode n;
    try {
      n = MAPPER.readTree(body);
    } catch (IOException e) {
      return Reply.json(422, validation("body", "JSON decode error", "json_invalid", null));
    }
    if (n == null || !n.isObject() || !n.hasNonNull("username") || !n.hasNonNull("password")) {
      return Reply.json(422, validation("username", "Field required", "missing", n));
    }
    User u = users.get(n.get("username").asText());
    if (u == null || !u.password().equals(n.get("password").asText())) {
      return Reply.json(401, MAPPER.createObjectNode().put("detail", "Invalid credentials"));
    }
    String token = "standin-jwt-" + tokenCounter.incrementAndGet() + "-" + Long.toHexString(System.nanoTime()) + "."
        + n.get("username").asText();
    tokens.add(token);
    return Reply.json(201, MAPPER.createObjectNode().put("access_token", token));
  }

  private Reply trigger(String dagId, String body) {
    boolean v1 = flavor == Flavor.AIRFLOW_2;
    JsonNode n;
    try {
      n = MAPPER.readTree(body);
    } catch (IOException e) {
      return v1 ? problem(400, "Bad Request", "Request body is not valid JSON", Map.of())
          : Reply.json(422, validation("body", "JSON decode error", "json_invalid", null));
    }
    if (n == null || !n.isObject()) {
      return v1 ? problem(400, "Bad Request", "None is not of type 'object'", Map.of())
          : Reply.json(422, validation("body", "Input should be a valid dictionary", "dict_type", n));
    }
    if (!v1) {
      // TriggerDAGRunPostBody is a StrictBaseModel: unknown fields are rejected and logical_date is required.
      Set<String> known = Set.of("dag_run_id", "data_interval_start", "data_interval_end", "logical_date", "run_after",
          "conf", "note");
      for (var it = n.fieldNames(); it.hasNext(); ) {
        String f = it.next();
        if (!known.contains(f)) {
          return Reply.json(422, validation(f, "Extra inputs are not permitted", "extra_forbidden", n));
        }
      }
      if (!n.has("logical_date")) {
        return Reply.json(422, validation("logical_date", "Field required", "missing", n));
      }
    }
    DagSpec dag = dags.get(dagId);
    if (dag == null) {
      return v1 ? problem(404, "DAG not found", "DAG with dag_id: '" + dagId + "' not found", Map.of())
          : Reply.json(404, MAPPER.createObjectNode().put("detail", "DAG with dag_id: '" + dagId + "' not found"));
    }
    JsonNode conf = n.path("conf");
    if (!conf.isMissingNode() && !conf.isNull() && !conf.isObject()) {
      return v1 ? problem(400, "Bad Request", "'conf' must be an object", Map.of())
          : Reply.json(422, validation("conf", "Input should be a valid dictionary", "dict_type", n));
    }
    for (String param : dag.requiredParams()) {
      if (!conf.has(param)) {
        String msg = "Invalid input for param " + param + ": None is not of type 'string'";
        return v1 ? problem(400, "Bad Request", msg, Map.of())
            : Reply.json(400, MAPPER.createObjectNode().put("detail", msg));
      }
    }
    Instant logical;
    JsonNode ld = n.get("logical_date");
    if (ld == null || ld.isNull()) {
      logical = v1 ? Instant.now().truncatedTo(ChronoUnit.MICROS) : null;
    } else {
      try {
        logical = java.time.OffsetDateTime.parse(ld.asText()).toInstant();
      } catch (java.time.format.DateTimeParseException e) {
        return v1 ? problem(400, "Bad Request", "'" + ld.asText() + "' is not a 'date-time' - 'logical_date'", Map.of())
            : Reply.json(422, validation("logical_date", "Input should be a valid datetime",
                "datetime_from_date_parsing", n));
      }
    }
    String runId = n.hasNonNull("dag_run_id") ? n.get("dag_run_id").asText()
        : "manual__" + (logical == null ? Instant.now() : logical);
    if (runs.containsKey(dagId + "/" + runId)) {
      return conflict(dagId, "DAGRun with DAG ID: '" + dagId + "' and DAGRun ID: '" + runId + "' already exists");
    }
    if (logical != null) {
      for (Run r : runs.values()) {
        if (r.dagId.equals(dagId) && logical.equals(r.logicalDate)) {
          return conflict(dagId, "DAGRun with DAG ID: '" + dagId + "' and DAGRun logical date: '" + logical
              + "' already exists");
        }
      }
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> confMap = conf.isObject() ? MAPPER.convertValue(conf, LinkedHashMap.class) : Map.of();
    Run run = new Run(dagId, runId, logical, confMap);
    dag.tasks().forEach(t -> {
      run.taskStates.put(t, null);
      run.tries.put(t, new int[] {0});
    });
    runs.put(dagId + "/" + runId, run);
    return Reply.json(200, runJson(run));
  }

  private Reply conflict(String dagId, String v1Detail) {
    if (flavor == Flavor.AIRFLOW_2) {
      return problem(409, "Conflict", v1Detail, Map.of());
    }
    // Airflow 3 turns the database's unique-constraint error into this (api_fastapi/common/exceptions.py).
    ObjectNode detail = MAPPER.createObjectNode()
        .put("reason", "Unique constraint violation")
        .put("statement", "INSERT INTO dag_run (dag_id, run_id, ...) VALUES (?, ?, ...)")
        .put("orig_error", "UNIQUE constraint failed: dag_run.dag_id, dag_run.run_id")
        .put("message", "Serious error when handling your request. Check logs for more details - you will find it in "
            + "api server when you look for ID standin");
    ObjectNode n = MAPPER.createObjectNode();
    n.set("detail", detail);
    return Reply.json(409, n);
  }

  private Reply getRun(String dagId, String runId) {
    Run run = runs.get(dagId + "/" + runId);
    if (run == null) {
      return runNotFound(dagId, runId);
    }
    advance(run);
    return Reply.json(200, runJson(run));
  }

  private Reply runNotFound(String dagId, String runId) {
    return flavor == Flavor.AIRFLOW_2
        ? problem(404, "DAGRun not found", "DAGRun with DAG ID: '" + dagId + "' and DagRun ID: '" + runId
            + "' not found", Map.of())
        : Reply.json(404, MAPPER.createObjectNode().put("detail", "The DagRun with dag_id: `" + dagId
            + "` and run_id: `" + runId + "` was not found"));
  }

  /** One poll: queued for queuedPolls, running for runningPolls, then the outcome (never, for a stuck DAG). */
  private void advance(Run run) {
    if (run.state.equals("success") || run.state.equals("failed")) {
      return;
    }
    DagSpec dag = dags.get(run.dagId);
    run.polls++;
    List<String> tasks = dag.tasks();
    if (run.polls <= dag.queuedPolls()) {
      run.state = "queued";
      return;
    }
    if (run.startDate == null) {
      run.startDate = Instant.now().truncatedTo(ChronoUnit.MICROS);
    }
    if (dag.neverFinishes() || run.polls <= dag.queuedPolls() + dag.runningPolls()) {
      run.state = "running";
      for (String t : tasks) {
        if (run.taskStates.get(t) == null) {
          run.taskStates.put(t, "running");
          run.tries.get(t)[0]++;
          break;
        }
        if ("running".equals(run.taskStates.get(t))) {
          break;
        }
      }
      return;
    }
    boolean failed = false;
    for (String t : tasks) {
      String s = run.taskStates.get(t);
      if ("success".equals(s)) {
        continue;
      }
      if (failed) {
        run.taskStates.put(t, "upstream_failed");
        continue;
      }
      if (t.equals(dag.failingTask()) && !run.cleared) {
        run.taskStates.put(t, "failed");
        run.tries.get(t)[0] = Math.max(run.tries.get(t)[0], 0) + ("running".equals(s) ? 1 : 2); // retried once
        failed = true;
      } else {
        if (!"running".equals(s)) {
          run.tries.get(t)[0]++;
        }
        run.taskStates.put(t, "success");
      }
    }
    run.state = failed ? "failed" : "success";
    run.endDate = Instant.now().truncatedTo(ChronoUnit.MICROS);
  }

  private Reply listTasks(String dagId, String runId, String query) {
    Run run = runs.get(dagId + "/" + runId);
    if (run == null) {
      if (flavor == Flavor.AIRFLOW_2) { // v1 lists nothing for an unknown run
        return Reply.json(200, MAPPER.createObjectNode().put("total_entries", 0).set("task_instances",
            MAPPER.createArrayNode()));
      }
      return runNotFound(dagId, runId);
    }
    Map<String, String> q = queryMap(query);
    int limit = Integer.parseInt(q.getOrDefault("limit", flavor == Flavor.AIRFLOW_2 ? "100" : "50"));
    limit = Math.min(limit, 100); // [api] maximum_page_limit
    int offset = Integer.parseInt(q.getOrDefault("offset", "0"));
    List<String> tasks = new ArrayList<>(run.taskStates.keySet());
    ArrayNode items = MAPPER.createArrayNode();
    for (int i = offset; i < Math.min(tasks.size(), offset + limit); i++) {
      items.add(taskJson(run, tasks.get(i)));
    }
    ObjectNode n = MAPPER.createObjectNode();
    n.set("task_instances", items);
    n.put("total_entries", tasks.size());
    return Reply.json(200, n);
  }

  private Reply log(String dagId, String runId, String taskId, String tryText, String accept) {
    boolean v1 = flavor == Flavor.AIRFLOW_2;
    Run run = runs.get(dagId + "/" + runId);
    int tryNumber;
    try {
      tryNumber = Integer.parseInt(tryText);
    } catch (NumberFormatException e) {
      return v1 ? problem(400, "Bad Request", "'" + tryText + "' is not of type 'integer'", Map.of())
          : Reply.json(422, validation("try_number", "Input should be a valid integer", "int_parsing", null));
    }
    if (run == null || !run.tries.containsKey(taskId) || tryNumber < 1 || tryNumber > run.tries.get(taskId)[0]) {
      return v1 ? problem(404, "TaskInstance not found", null, Map.of())
          : Reply.json(404, MAPPER.createObjectNode().put("detail", "TaskInstance not found"));
    }
    DagSpec dag = dags.get(dagId);
    boolean failingTry = taskId.equals(dag.failingTask()) && !(run.cleared && tryNumber == run.tries.get(taskId)[0]);
    List<String> lines = new ArrayList<>();
    lines.add("Executing <Task(PythonOperator): " + taskId + "> on " + run.logicalDate);
    lines.add("Started process to run task, try " + tryNumber);
    if (!logExtra.isEmpty()) {
      lines.add(logExtra);
    }
    if (failingTry) {
      lines.add("Task failed with exception: ValueError: boom in " + taskId + " (try " + tryNumber + ")");
      lines.add(tryNumber < 2 ? "Marking task as UP_FOR_RETRY" : "Marking task as FAILED");
    } else {
      lines.add("Done. Returned value was: None");
      lines.add("Marking task as SUCCESS");
    }
    if (v1) {
      if (accept != null && accept.contains("text/plain")) {
        return new Reply(200, "text/plain", String.join("\n", lines) + "\n", Map.of());
      }
      String pyRepr = "[('standin-worker', '" + String.join("\\n", lines) + "')]";
      return Reply.json(200, MAPPER.createObjectNode().put("content", pyRepr).putNull("continuation_token"));
    }
    ArrayNode content = MAPPER.createArrayNode();
    Instant t = run.startDate == null ? Instant.now() : run.startDate;
    for (String line : lines) {
      content.addObject().put("timestamp", t.toString()).put("event", line)
          .put("level", line.contains("failed") || line.contains("FAILED") ? "error" : "info")
          .put("logger", "airflow.task");
    }
    ObjectNode n = MAPPER.createObjectNode();
    n.set("content", content);
    n.putNull("continuation_token");
    return Reply.json(200, n);
  }

  private Reply clear(String dagId, String body) {
    boolean v1 = flavor == Flavor.AIRFLOW_2;
    JsonNode n;
    try {
      n = MAPPER.readTree(body);
    } catch (IOException e) {
      n = null;
    }
    if (n == null || !n.isObject()) {
      return v1 ? problem(400, "Bad Request", "None is not of type 'object'", Map.of())
          : Reply.json(422, validation("body", "Input should be a valid dictionary", "dict_type", n));
    }
    if (!v1) {
      Set<String> known = Set.of("dry_run", "start_date", "end_date", "only_failed", "only_running", "reset_dag_runs",
          "task_ids", "dag_run_id", "include_upstream", "include_downstream", "include_future", "include_past",
          "run_on_latest_version", "prevent_running_task");
      for (var it = n.fieldNames(); it.hasNext(); ) {
        String f = it.next();
        if (!known.contains(f)) {
          return Reply.json(422, validation(f, "Extra inputs are not permitted", "extra_forbidden", n));
        }
      }
    }
    if (!dags.containsKey(dagId)) {
      return v1 ? problem(404, "Not Found", "Dag id " + dagId + " not found", Map.of())
          : Reply.json(404, MAPPER.createObjectNode().put("detail", "The Dag with ID: `" + dagId + "` was not found"));
    }
    String runId = n.path("dag_run_id").asText(null);
    Run run = runId == null ? null : runs.get(dagId + "/" + runId);
    if (run == null) {
      String msg = "Dag Run id " + runId + " not found in dag " + dagId;
      return v1 ? problem(404, "Not Found", msg, Map.of())
          : Reply.json(404, MAPPER.createObjectNode().put("detail", msg));
    }
    boolean dryRun = n.path("dry_run").asBoolean(true); // both contracts default dry_run to true
    boolean onlyFailed = n.path("only_failed").asBoolean(true);
    ArrayNode items = MAPPER.createArrayNode();
    List<String> toClear = new ArrayList<>();
    for (var e : run.taskStates.entrySet()) {
      String s = e.getValue();
      if (!onlyFailed || "failed".equals(s) || "upstream_failed".equals(s)) {
        toClear.add(e.getKey());
        if (v1) {
          items.addObject().put("task_id", e.getKey()).put("dag_id", dagId).put("dag_run_id", runId)
              .put("execution_date", String.valueOf(run.logicalDate));
        } else {
          items.add(taskJson(run, e.getKey()));
        }
      }
    }
    if (!dryRun && !toClear.isEmpty()) {
      toClear.forEach(t -> run.taskStates.put(t, null));
      run.cleared = true;
      if (n.path("reset_dag_runs").asBoolean(true)) {
        run.state = "queued";
        run.polls = 0;
        run.endDate = null;
      }
    }
    ObjectNode out = MAPPER.createObjectNode();
    out.set("task_instances", items);
    if (!v1) {
      out.put("total_entries", items.size());
    }
    return Reply.json(200, out);
  }

  // -----------------------------------------------------------------------------------------------------------------

  private ObjectNode runJson(Run run) {
    ObjectNode n = MAPPER.createObjectNode();
    n.put("dag_run_id", run.runId);
    n.put("dag_id", run.dagId);
    putTime(n, "logical_date", run.logicalDate);
    if (flavor == Flavor.AIRFLOW_2) {
      putTime(n, "execution_date", run.logicalDate);
      n.put("external_trigger", true);
    } else {
      putTime(n, "queued_at", run.queuedAt);
      putTime(n, "run_after", run.queuedAt);
      n.put("triggered_by", "rest_api");
      n.set("dag_versions", MAPPER.createArrayNode());
    }
    putTime(n, "start_date", run.startDate);
    putTime(n, "end_date", run.endDate);
    putTime(n, "data_interval_start", run.logicalDate);
    putTime(n, "data_interval_end", run.logicalDate);
    n.putNull("last_scheduling_decision");
    n.put("run_type", "manual");
    n.put("state", run.state);
    n.set("conf", MAPPER.valueToTree(run.conf));
    n.putNull("note");
    return n;
  }

  private ObjectNode taskJson(Run run, String task) {
    ObjectNode n = MAPPER.createObjectNode();
    if (flavor == Flavor.AIRFLOW_3) {
      n.put("id", "0190-standin-" + task);
    }
    n.put("task_id", task);
    n.put("dag_id", run.dagId);
    n.put("dag_run_id", run.runId);
    n.put("map_index", -1);
    putTime(n, flavor == Flavor.AIRFLOW_2 ? "execution_date" : "logical_date", run.logicalDate);
    String state = run.taskStates.get(task);
    boolean ran = state != null && !state.equals("upstream_failed");
    putTime(n, "start_date", ran ? run.startDate : null);
    putTime(n, "end_date", ran && !state.equals("running") ? run.endDate : null);
    if (ran && !state.equals("running")) {
      n.put("duration", 1.5);
    } else {
      n.putNull("duration");
    }
    if (state == null) {
      n.putNull("state");
    } else {
      n.put("state", state);
    }
    n.put("try_number", run.tries.get(task)[0]);
    n.put("max_tries", task.equals(dags.get(run.dagId).failingTask()) ? 1 : 0);
    n.put("hostname", "standin-worker");
    n.put("pool", "default_pool");
    n.put("pool_slots", 1);
    n.put("queue", "default");
    n.put("operator", "PythonOperator");
    return n;
  }

  private static void putTime(ObjectNode n, String field, Instant t) {
    if (t == null) {
      n.putNull(field);
    } else {
      n.put(field, t.atOffset(java.time.ZoneOffset.UTC).toString().replace("Z", "+00:00"));
    }
  }

  /** An error in this flavour's format: problem+json (v1) or {"detail"} (v2). */
  private Reply error(int status, String title, String detail) {
    return flavor == Flavor.AIRFLOW_2 ? problem(status, title, detail, Map.of())
        : Reply.json(status, MAPPER.createObjectNode().put("detail", detail == null ? title : detail));
  }

  /** RFC 7807, as Airflow 2's connexion API writes it. */
  private static Reply problem(int status, String title, String detail, Map<String, String> headers) {
    ObjectNode n = MAPPER.createObjectNode();
    if (detail == null) {
      n.putNull("detail");
    } else {
      n.put("detail", detail);
    }
    n.put("status", status);
    n.put("title", title);
    n.put("type", "https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html#section/Errors/"
        + switch (status) {
          case 400 -> "BadRequest";
          case 401 -> "Unauthenticated";
          case 403 -> "PermissionDenied";
          case 404 -> "NotFound";
          case 409 -> "AlreadyExists";
          default -> "Unknown";
        });
    return new Reply(status, "application/problem+json", n.toString(), headers);
  }

  /** A FastAPI/pydantic 422 body; {@code input} echoes what was sent, as FastAPI does. */
  static ObjectNode validation(String field, String msg, String type, JsonNode input) {
    ObjectNode item = MAPPER.createObjectNode();
    item.put("type", type);
    ArrayNode loc = item.putArray("loc");
    loc.add("body");
    if (!field.equals("body")) {
      loc.add(field);
    }
    item.put("msg", msg);
    if (input == null) {
      item.putNull("input");
    } else {
      item.set("input", input);
    }
    ObjectNode n = MAPPER.createObjectNode();
    n.putArray("detail").add(item);
    return n;
  }

  private static Map<String, String> queryMap(String query) {
    Map<String, String> m = new HashMap<>();
    if (query == null || query.isEmpty()) {
      return m;
    }
    for (String kv : query.split("&")) {
      int eq = kv.indexOf('=');
      if (eq > 0) {
        m.put(decodePath(kv.substring(0, eq)), decodePath(kv.substring(eq + 1)));
      }
    }
    return m;
  }
}
