package dev.kiln.airflow;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kiln.common.KilnUserException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Random;
import java.util.function.Consumer;
import javax.net.ssl.SSLException;

/**
 * A client for Apache Airflow's REST API: trigger a DAG run, read its state, wait for it, list its task instances,
 * read a task's log and clear its failed tasks. {@code java.net.http} and Jackson only.
 *
 * <p><b>Contracts followed</b> (read from apache/airflow, not guessed):
 * <ul>
 *   <li>{@link ApiVersion#V1} (Airflow 2): {@code airflow/api_connexion/openapi/v1.yaml} at commit 00f2b0ab48f6
 *       (the 2.10 line; its info.version reads "2.9.0.dev0"). {@code POST /api/v1/dags/{dag_id}/dagRuns} with
 *       {@code dag_run_id}, optional {@code logical_date}, {@code conf} (200 DAGRun; 409 AlreadyExists; 400; 404);
 *       {@code GET .../dagRuns/{dag_run_id}}; {@code GET .../dagRuns/{dag_run_id}/taskInstances} (limit/offset,
 *       {@code task_instances} + {@code total_entries}); {@code GET .../taskInstances/{task_id}/logs/{task_try_number}}
 *       ({@code full_content}; text/plain or JSON {@code content});
 *       {@code POST /api/v1/dags/{dag_id}/clearTaskInstances}
 *       ({@code dry_run}, {@code only_failed}, {@code dag_run_id}, {@code reset_dag_runs}; answers
 *       {@code TaskInstanceReferenceCollection}); {@code GET /api/v1/version}. Auth: HTTP basic. Errors: RFC 7807
 *       problem+json ({@code type}, {@code title}, {@code status}, {@code detail}).</li>
 *   <li>{@link ApiVersion#V2} (Airflow 3): {@code airflow-core/src/airflow/api_fastapi/core_api/openapi/
 *       v2-rest-api-generated.yaml} and the pydantic models behind it ({@code datamodels/dag_run.py}:
 *       {@code TriggerDAGRunPostBody} is strict and <em>requires</em> {@code logical_date}, which may be null;
 *       {@code datamodels/task_instances.py}: {@code ClearTaskInstancesBody}; {@code datamodels/log.py}:
 *       {@code TaskInstancesLogResponse.content} is a list of {@code {timestamp, event, ...}} or of strings), same
 *       paths under {@code /api/v2} ({@code .../taskInstances/{task_id}/logs/{try_number}}). Auth: {@code POST
 *       /auth/token} with {@code {"username", "password"}} answers 201 {@code {"access_token"}}, then
 *       {@code Authorization: Bearer}; on a 401 the client gets a new token once. Errors: FastAPI's
 *       {@code {"detail": ...}}, where detail is a string, a list of {@code {loc, msg, type}} (422) or, for a
 *       unique-constraint 409, an object with a {@code reason}.</li>
 * </ul>
 *
 * <p><b>Retries</b> ({@link RetryPolicy}): HTTP 429 (waiting what {@code Retry-After} says, in seconds or as an HTTP
 * date), 500/502/503/504 and connection errors (refused, timed out, dropped), with jittered exponential backoff,
 * bounded in attempts and in total time. Every request here may be retried: reads are idempotent; a trigger always
 * carries a client-chosen {@code dag_run_id}, so if a lost attempt had created the run the retry gets 409 and the
 * client fetches that run instead of creating a second one; clearing only-failed tasks twice clears nothing new.
 *
 * <p><b>Errors</b> are {@link KilnUserException}s with one line: credentials refused (401/403), what was not found
 * (404), conflicts (409), Airflow's own {@code detail}/{@code title} for 400/422, and an unreachable server after the
 * retries. <b>Secrets</b> never show: not in messages, {@link #toString()}, the trace or URLs; text that comes back
 * from Airflow (error details, logs) has any of them masked as {@code ***}.
 */
public final class AirflowClient {
  /** Waits between attempts and polls; tests swap in one that records instead of sleeping. */
  @FunctionalInterface
  public interface Sleeper {
    void sleep(Duration duration) throws InterruptedException;

    Sleeper REAL = d -> {
      if (!d.isNegative() && !d.isZero()) {
        Thread.sleep(d.toMillis());
      }
    };
  }

  /** Masks secrets in text that came from the server. */
  static final String MASK = "***";

  private static final ObjectMapper MAPPER = new ObjectMapper(
      JsonFactory.builder().disable(StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION).build());
  private static final int PAGE_SIZE = 100;
  private static final int MAX_PAGES = 1000;
  private static final int MAX_DETAIL = 300;

  private final String baseUrl;
  private final ApiVersion requestedApi;
  private final AirflowCredentials credentials;
  private final RetryPolicy policy;
  private final Duration requestTimeout;
  private final Sleeper sleeper;
  private final Clock clock;
  private final Random random;
  private final Consumer<String> trace;
  private final HttpClient http;

  private volatile ApiVersion api;
  private volatile String serverVersion;
  private String bearer;
  private boolean staticTokenRejected;

  private AirflowClient(Builder b) {
    BaseUrl url = normalizeBaseUrl(b.baseUrl);
    this.baseUrl = url.url();
    this.requestedApi = b.api != null ? b.api : url.hint().orElse(null);
    this.credentials = b.credentials;
    this.policy = b.retryPolicy;
    this.requestTimeout = b.requestTimeout;
    this.sleeper = b.sleeper;
    this.clock = b.clock;
    this.random = b.random;
    this.trace = b.trace;
    this.http = HttpClient.newBuilder()
        .connectTimeout(b.connectTimeout)
        .followRedirects(HttpClient.Redirect.NEVER) // a redirect must not carry the Authorization header elsewhere
        .version(HttpClient.Version.HTTP_1_1)
        .build();
    this.api = requestedApi;
  }

  public static Builder builder(String baseUrl) {
    return new Builder(baseUrl);
  }

  /** Configures an {@link AirflowClient}; only the base URL is required. */
  public static final class Builder {
    private final String baseUrl;
    private ApiVersion api;
    private AirflowCredentials credentials = AirflowCredentials.none();
    private RetryPolicy retryPolicy = RetryPolicy.DEFAULT;
    private Duration connectTimeout = Duration.ofSeconds(10);
    private Duration requestTimeout = Duration.ofSeconds(30);
    private Sleeper sleeper = Sleeper.REAL;
    private Clock clock = Clock.systemUTC();
    private Random random = new SecureRandom();
    private Consumer<String> trace = line -> { };

    private Builder(String baseUrl) {
      this.baseUrl = baseUrl;
    }

    /**
     * The API to speak; null (the default) detects it on first use: {@code /api/v2/version}, then
     * {@code /api/v1/version}.
     */
    public Builder api(ApiVersion version) {
      this.api = version;
      return this;
    }

    public Builder detect() {
      return api(null);
    }

    public Builder credentials(AirflowCredentials c) {
      this.credentials = Objects.requireNonNull(c);
      return this;
    }

    public Builder retryPolicy(RetryPolicy p) {
      this.retryPolicy = Objects.requireNonNull(p);
      return this;
    }

    public Builder connectTimeout(Duration d) {
      this.connectTimeout = Objects.requireNonNull(d);
      return this;
    }

    /** How long one attempt may wait for the response headers (default 30 s). */
    public Builder requestTimeout(Duration d) {
      this.requestTimeout = Objects.requireNonNull(d);
      return this;
    }

    public Builder sleeper(Sleeper s) {
      this.sleeper = Objects.requireNonNull(s);
      return this;
    }

    /** The wall clock, used to read {@code Retry-After} HTTP dates. */
    public Builder clock(Clock c) {
      this.clock = Objects.requireNonNull(c);
      return this;
    }

    public Builder random(Random r) {
      this.random = Objects.requireNonNull(r);
      return this;
    }

    /**
     * Receives one line per HTTP exchange and per retry ({@code POST http://host/api/v1/dags/d/dagRuns -> 200 (12
     * ms)}): method, URL without credentials, status, time. Never headers or bodies.
     */
    public Builder trace(Consumer<String> t) {
      this.trace = Objects.requireNonNull(t);
      return this;
    }

    public AirflowClient build() {
      return new AirflowClient(this);
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Configuration helpers

  /** A base URL without a trailing slash, and the API version when the URL ended in /api/v1 or /api/v2. */
  record BaseUrl(String url, Optional<ApiVersion> hint) {}

  /** {@code --url}, else {@value AirflowCredentials#URL_ENV}, else a one-line error. */
  public static String resolveUrl(Optional<String> flag, Map<String, String> env) {
    return flag.filter(s -> !s.isBlank())
        .or(() -> Optional.ofNullable(env.get(AirflowCredentials.URL_ENV)).filter(s -> !s.isBlank()))
        .orElseThrow(() -> new KilnUserException("no Airflow URL: pass --url or set $" + AirflowCredentials.URL_ENV));
  }

  /**
   * Checks and normalizes a base URL: http or https, a host, no user:password@ (credentials never go in URLs), no
   * query or fragment; a trailing / or /api/v1 or /api/v2 is dropped (the latter chooses the API). Errors never
   * repeat the URL, which might hold a secret.
   */
  static BaseUrl normalizeBaseUrl(String raw) {
    String text = raw == null ? "" : raw.strip();
    if (text.isEmpty()) {
      throw new KilnUserException("no Airflow URL: pass --url or set $" + AirflowCredentials.URL_ENV);
    }
    URI uri;
    try {
      uri = new URI(text);
    } catch (URISyntaxException e) {
      throw new KilnUserException("the Airflow URL is not a valid URL (expected e.g. https://airflow.example.com)");
    }
    if (uri.getRawUserInfo() != null) {
      throw new KilnUserException("the Airflow URL must not contain credentials (user:password@): set $"
          + AirflowCredentials.USERNAME_ENV + " and $" + AirflowCredentials.PASSWORD_ENV
          + ", or use --credentials-file");
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw new KilnUserException(
          "the Airflow URL must start with http:// or https:// (expected e.g. https://airflow.example.com)");
    }
    if (uri.getHost() == null) {
      throw new KilnUserException("the Airflow URL has no host (expected e.g. https://airflow.example.com)");
    }
    if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
      throw new KilnUserException(
          "the Airflow URL must not have a query or fragment (?... or #...): give the base URL only");
    }
    String path = uri.getRawPath() == null ? "" : uri.getRawPath();
    while (path.endsWith("/")) {
      path = path.substring(0, path.length() - 1);
    }
    Optional<ApiVersion> hint = Optional.empty();
    for (ApiVersion v : ApiVersion.values()) {
      if (path.endsWith(v.prefix())) {
        path = path.substring(0, path.length() - v.prefix().length());
        hint = Optional.of(v);
      }
    }
    String authority = uri.getRawAuthority();
    return new BaseUrl(scheme + "://" + authority + path, hint);
  }

  /** A fresh run id: {@code kiln__<UTC time>_<8 hex>}, within Airflow's default allowed_run_id_pattern. */
  public static String newRunId(Clock clock, Random random) {
    String time = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC).format(clock.instant());
    byte[] bytes = new byte[4];
    random.nextBytes(bytes);
    return "kiln__" + time + "_" + HexFormat.of().formatHex(bytes);
  }

  public String baseUrl() {
    return baseUrl;
  }

  /** The server's version string when detection read it (e.g. {@code 2.10.5}). */
  public Optional<String> serverVersion() {
    return Optional.ofNullable(serverVersion);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // API version

  /** The API in use: the one given, or the one detected now (once) by probing the server. */
  public ApiVersion apiVersion() {
    ApiVersion v = api;
    if (v == null) {
      synchronized (this) {
        if (api == null) {
          api = detect();
        }
        v = api;
      }
    }
    return v;
  }

  private ApiVersion detect() {
    Reply v2 = execute(Call.get(ApiVersion.V2.prefix() + "/version", "detect the Airflow API version").anonymous());
    if (apiAnswered(v2)) {
      return ApiVersion.V2;
    }
    Reply v1 = execute(Call.get(ApiVersion.V1.prefix() + "/version", "detect the Airflow API version").anonymous());
    if (apiAnswered(v1)) {
      return ApiVersion.V1;
    }
    throw new KilnUserException("found no Airflow REST API at " + baseUrl + ": GET /api/v2/version answered HTTP "
        + v2.status() + " and GET /api/v1/version HTTP " + v1.status()
        + " (is this the Airflow webserver/API server? --api v1 or v2 skips detection)");
  }

  /** 200 with a JSON {@code version}, or 401/403 (the endpoint exists but wants credentials). */
  private boolean apiAnswered(Reply r) {
    if (r.status() == 401 || r.status() == 403) {
      return true;
    }
    if (r.status() == 200) {
      Optional<JsonNode> json = r.jsonOrEmpty();
      if (json.isPresent() && json.get().hasNonNull("version")) {
        serverVersion = scrub(json.get().get("version").asText());
        trace.accept("airflow: " + baseUrl + " runs Airflow " + serverVersion);
        return true;
      }
    }
    return false;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Operations

  /**
   * Triggers a run of {@code dagId}. The run id is {@code runId} or a fresh {@link #newRunId}: always chosen here, so
   * a retried trigger cannot create a second run. {@code logicalDate} empty: Airflow 2 uses now; Airflow 3 gets
   * {@code "logical_date": null} (the field is required there) and makes a run without one.
   */
  public TriggerResult trigger(String dagId, Optional<String> runId, Optional<Instant> logicalDate,
      Map<String, Object> conf) {
    requireId(dagId, "DAG id");
    String id = runId.filter(s -> !s.isBlank()).orElseGet(() -> newRunId(clock, random));
    Map<String, Object> runConf = conf == null ? Map.of() : conf;
    ApiVersion v = apiVersion();
    ObjectNode body = MAPPER.createObjectNode();
    body.put("dag_run_id", id);
    if (logicalDate.isPresent()) {
      body.put("logical_date", logicalDate.get().toString());
    } else if (v == ApiVersion.V2) {
      body.putNull("logical_date");
    }
    body.set("conf", MAPPER.valueToTree(runConf));
    Call call = Call.post(v.prefix() + "/dags/" + segment(dagId) + "/dagRuns", body, "trigger DAG '" + dagId + "'");
    Reply r = execute(call);
    if (r.ok()) {
      return new TriggerResult(parseDagRun(r.json(call, this)), false);
    }
    if (r.status() == 409 && r.ambiguousBefore()) {
      // An earlier attempt may have created the run before its answer got lost: same id and conf means same run.
      Optional<DagRun> existing = findDagRun(dagId, id);
      if (existing.isPresent() && sameConf(existing.get().conf(), runConf)) {
        trace.accept("airflow: run " + id + " already existed after a retried trigger: it is the run this trigger "
            + "created");
        return new TriggerResult(existing.get(), true);
      }
    }
    if (r.status() == 409) {
      throw failure(call, r, "a DAG run with id '" + id + "'"
          + logicalDate.map(d -> " or logical date " + d).orElse("") + " already exists for DAG '" + dagId + "'");
    }
    throw failure(call, r, "DAG '" + dagId + "' not found in Airflow at " + baseUrl);
  }

  /** The run's current state. */
  public DagRun dagRun(String dagId, String runId) {
    requireId(dagId, "DAG id");
    requireId(runId, "run id");
    Call call = Call.get(runPath(dagId, runId), "read DAG run '" + runId + "' of DAG '" + dagId + "'");
    Reply r = execute(call);
    if (!r.ok()) {
      throw failure(call, r, "DAG run '" + runId + "' of DAG '" + dagId + "' not found in Airflow at " + baseUrl);
    }
    return parseDagRun(r.json(call, this));
  }

  private Optional<DagRun> findDagRun(String dagId, String runId) {
    requireId(dagId, "DAG id");
    requireId(runId, "run id");
    Call call = Call.get(runPath(dagId, runId), "read DAG run '" + runId + "' of DAG '" + dagId + "'");
    Reply r = execute(call);
    if (r.ok()) {
      return Optional.of(parseDagRun(r.json(call, this)));
    }
    if (r.status() == 404) {
      return Optional.empty();
    }
    throw failure(call, r, "");
  }

  /**
   * Polls until the run finishes or {@code timeout} passes; see
   * {@link #waitFor(String, String, Duration, Duration, Consumer)}.
   */
  public WaitResult waitFor(String dagId, String runId, Duration timeout, Duration pollInterval) {
    return waitFor(dagId, runId, timeout, pollInterval, run -> { });
  }

  /**
   * Polls the run until it is {@code success} or {@code failed}, or {@code timeout} has passed (then a last poll
   * reports where it stands). The wait between polls starts at {@code pollInterval} and grows by half each time, up
   * to 8 times {@code pollInterval} and at most a minute (never below {@code pollInterval}). {@code progress} sees
   * every polled state.
   */
  public WaitResult waitFor(String dagId, String runId, Duration timeout, Duration pollInterval,
      Consumer<DagRun> progress) {
    if (pollInterval.isNegative() || pollInterval.isZero()) {
      throw new KilnUserException("the poll interval must be positive");
    }
    long start = System.nanoTime();
    long deadline = start + timeout.toNanos();
    Duration cap = pollInterval.multipliedBy(8).compareTo(Duration.ofMinutes(1)) > 0
        ? (pollInterval.compareTo(Duration.ofMinutes(1)) > 0 ? pollInterval : Duration.ofMinutes(1))
        : pollInterval.multipliedBy(8);
    Duration interval = pollInterval;
    int polls = 0;
    while (true) {
      DagRun run = dagRun(dagId, runId);
      polls++;
      progress.accept(run);
      long now = System.nanoTime();
      double elapsed = (now - start) / 1e9;
      if (run.finished()) {
        return new WaitResult(run, run.succeeded() ? WaitResult.Outcome.SUCCESS : WaitResult.Outcome.FAILED, polls,
            elapsed);
      }
      long remaining = deadline - now;
      if (remaining <= 0) {
        return new WaitResult(run, WaitResult.Outcome.TIMED_OUT, polls, elapsed);
      }
      sleep(Duration.ofNanos(Math.min(interval.toNanos(), remaining)), "waiting for DAG run '" + runId + "'");
      long next = (long) (interval.toNanos() * 1.5);
      interval = Duration.ofNanos(Math.min(next, cap.toNanos()));
    }
  }

  /** Every task instance of the run (all pages), in Airflow's order. */
  public List<TaskInstance> taskInstances(String dagId, String runId) {
    requireId(dagId, "DAG id");
    requireId(runId, "run id");
    String what = "list the task instances of DAG run '" + runId + "' of DAG '" + dagId + "'";
    List<TaskInstance> all = new ArrayList<>();
    for (int page = 0; page < MAX_PAGES; page++) {
      Map<String, String> query = new LinkedHashMap<>();
      query.put("limit", String.valueOf(PAGE_SIZE));
      query.put("offset", String.valueOf(all.size()));
      Call call = Call.get(runPath(dagId, runId) + "/taskInstances", what).query(query);
      Reply r = execute(call);
      if (!r.ok()) {
        throw failure(call, r, "DAG run '" + runId + "' of DAG '" + dagId + "' not found in Airflow at " + baseUrl);
      }
      JsonNode json = r.json(call, this);
      JsonNode items = json.path("task_instances");
      if (!items.isArray()) {
        throw unexpected(call, "no task_instances list");
      }
      items.forEach(n -> all.add(parseTaskInstance(n)));
      long total = json.path("total_entries").asLong(all.size());
      if (items.isEmpty() || all.size() >= total) {
        break;
      }
    }
    if (all.isEmpty()) {
      dagRun(dagId, runId); // Airflow 2 lists an unknown run as empty: say "not found" instead
    }
    return all;
  }

  /** The full log of one try of a task ({@code full_content=true}), text; secrets in it are masked. */
  public TaskLog log(String dagId, String runId, String taskId, int tryNumber) {
    return log(dagId, runId, taskId, -1, tryNumber);
  }

  /** As {@link #log(String, String, String, int)} for one map index of a mapped task (-1: not mapped). */
  public TaskLog log(String dagId, String runId, String taskId, int mapIndex, int tryNumber) {
    requireId(dagId, "DAG id");
    requireId(runId, "run id");
    requireId(taskId, "task id");
    if (tryNumber < 1) {
      throw new KilnUserException("try number must be 1 or more (got " + tryNumber + ")");
    }
    ApiVersion v = apiVersion();
    String path = runPath(dagId, runId) + "/taskInstances/" + segment(taskId) + "/logs/" + tryNumber;
    Map<String, String> query = new LinkedHashMap<>();
    query.put("full_content", "true");
    if (mapIndex >= 0) {
      query.put("map_index", String.valueOf(mapIndex));
    }
    String task = mapIndex < 0 ? "'" + taskId + "'" : "'" + taskId + "[" + mapIndex + "]'";
    Call call = Call.get(path, "read the log of task " + task + " try " + tryNumber + " in DAG run '" + runId
        + "' of DAG '" + dagId + "'").query(query).accept(v == ApiVersion.V1 ? "text/plain" : "application/json");
    Reply r = execute(call);
    if (!r.ok()) {
      throw failure(call, r, "no log for task " + task + " try " + tryNumber + " in DAG run '" + runId
          + "' of DAG '" + dagId + "'");
    }
    String content;
    if (r.isJson()) {
      JsonNode c = r.json(call, this).path("content");
      content = renderLog(c);
    } else {
      content = r.body();
    }
    return new TaskLog(dagId, runId, taskId, tryNumber, scrub(content));
  }

  /** Clears the run's failed (and upstream-failed) task instances so Airflow runs them again. */
  public ClearResult clearFailed(String dagId, String runId) {
    return clearFailed(dagId, runId, false);
  }

  /** As {@link #clearFailed(String, String)}; with {@code dryRun} Airflow only lists what it would clear. */
  public ClearResult clearFailed(String dagId, String runId, boolean dryRun) {
    requireId(dagId, "DAG id");
    requireId(runId, "run id");
    ApiVersion v = apiVersion();
    ObjectNode body = MAPPER.createObjectNode();
    body.put("dry_run", dryRun);
    body.put("only_failed", true);
    body.put("dag_run_id", runId);
    body.put("reset_dag_runs", true);
    Call call = Call.post(v.prefix() + "/dags/" + segment(dagId) + "/clearTaskInstances", body,
        "clear the failed tasks of DAG run '" + runId + "' of DAG '" + dagId + "'");
    Reply r = execute(call);
    if (!r.ok()) {
      throw failure(call, r, "DAG '" + dagId + "' or its run '" + runId + "' not found in Airflow at " + baseUrl);
    }
    JsonNode items = r.json(call, this).path("task_instances");
    List<String> ids = new ArrayList<>();
    items.forEach(n -> {
      int map = n.path("map_index").asInt(-1);
      String task = n.path("task_id").asText();
      ids.add(map < 0 ? task : task + "[" + map + "]");
    });
    return new ClearResult(dagId, runId, dryRun, List.copyOf(ids));
  }

  @Override
  public String toString() {
    ApiVersion v = api;
    return "AirflowClient[" + baseUrl + ", api " + (v == null ? "auto" : v.id()) + ", credentials: "
        + (credentials.isEmpty() ? "none" : "set") + "]";
  }

  // ---------------------------------------------------------------------------------------------------------------
  // HTTP

  /** One logical request; {@code action} completes "could not ..." in messages. */
  record Call(String method, String path, Map<String, String> query, String body, String accept, String action,
      boolean authenticated) {
    static Call get(String path, String action) {
      return new Call("GET", path, Map.of(), null, "application/json", action, true);
    }

    static Call post(String path, JsonNode body, String action) {
      try {
        return new Call("POST", path, Map.of(), MAPPER.writeValueAsString(body), "application/json", action, true);
      } catch (IOException e) {
        throw new IllegalStateException("cannot serialize a request body", e);
      }
    }

    Call query(Map<String, String> q) {
      return new Call(method, path, q, body, accept, action, authenticated);
    }

    Call accept(String a) {
      return new Call(method, path, query, body, a, action, authenticated);
    }

    Call anonymous() {
      return new Call(method, path, query, body, accept, action, false);
    }

    String pathAndQuery() {
      if (query.isEmpty()) {
        return path;
      }
      StringBuilder b = new StringBuilder(path).append('?');
      query.forEach((k, v) -> b.append(b.charAt(b.length() - 1) == '?' ? "" : "&").append(segment(k)).append('=')
          .append(segment(v)));
      return b.toString();
    }
  }

  /** A response; {@code ambiguousBefore}: an earlier attempt of the same call may have reached the server. */
  record Reply(int status, HttpHeaders headers, String body, boolean ambiguousBefore, int attempts) {
    boolean ok() {
      return status >= 200 && status < 300;
    }

    boolean isJson() {
      String type = headers.firstValue("Content-Type").orElse("").toLowerCase(Locale.ROOT);
      return type.contains("json") && !type.contains("ndjson");
    }

    Optional<JsonNode> jsonOrEmpty() {
      try {
        return Optional.ofNullable(MAPPER.readTree(body)).filter(n -> !n.isMissingNode());
      } catch (IOException e) {
        return Optional.empty();
      }
    }

    JsonNode json(Call call, AirflowClient client) {
      return jsonOrEmpty().filter(JsonNode::isObject).orElseThrow(() -> client.unexpected(call,
          "not a JSON object (Content-Type " + headers.firstValue("Content-Type").orElse("none") + ")"));
    }
  }

  private Reply execute(Call call) {
    long started = System.nanoTime();
    long deadline = started + policy.maxTotal().toNanos();
    boolean refreshed = false;
    boolean ambiguous = false;
    String lastProblem = "";
    IOException lastFailure = null;
    Reply lastReply = null;
    int attempt = 0;
    while (true) {
      attempt++;
      HttpRequest request = request(call);
      long t0 = System.nanoTime();
      Duration wait;
      try {
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        int status = response.statusCode();
        trace.accept("airflow: " + call.method() + " " + baseUrl + call.pathAndQuery() + " -> " + status + " ("
            + (System.nanoTime() - t0) / 1_000_000 + " ms)");
        Reply reply = new Reply(status, response.headers(), response.body() == null ? "" : response.body(), ambiguous,
            attempt);
        if (status == 401 && call.authenticated() && !refreshed && canRefresh()) {
          refreshed = true; // the token may have expired: get a new one, once; this is not a retry
          forgetToken();
          attempt--;
          continue;
        }
        if (status == 429) {
          Optional<Duration> retryAfter = retryAfter(response.headers());
          wait = retryAfter.isPresent() ? retryAfter.get() : policy.backoff(attempt, random);
          lastReply = reply;
          lastFailure = null;
          lastProblem = "HTTP 429 Too Many Requests" + retryAfter.map(d -> ", Retry-After " + seconds(d)).orElse("");
          if (retryAfter.isPresent() && System.nanoTime() + wait.toNanos() > deadline) {
            throw new KilnUserException("Airflow is rate-limiting requests (HTTP 429) and asks to wait "
                + seconds(wait) + ", more than the " + seconds(policy.maxTotal()) + " this client may spend to "
                + call.action() + after(attempt, started));
          }
        } else if (status == 500 || status == 502 || status == 503 || status == 504) {
          Optional<Duration> retryAfter = status == 503 ? retryAfter(response.headers()) : Optional.empty();
          wait = retryAfter.isPresent() ? retryAfter.get() : policy.backoff(attempt, random);
          lastReply = reply;
          lastFailure = null;
          lastProblem = "HTTP " + status + suffix(detail(reply));
          ambiguous = true;
        } else {
          return reply;
        }
      } catch (SSLException e) {
        throw new KilnUserException("TLS with Airflow at " + baseUrl + " failed: " + oneLine(e.getMessage()), e);
      } catch (HttpConnectTimeoutException e) {
        wait = policy.backoff(attempt, random);
        lastFailure = e;
        lastReply = null;
        lastProblem = "could not connect within the connect timeout";
        traceFailure(call, t0, "connect timeout");
      } catch (HttpTimeoutException e) {
        wait = policy.backoff(attempt, random);
        lastFailure = e;
        lastReply = null;
        lastProblem = "no answer within " + seconds(requestTimeout);
        ambiguous = true;
        traceFailure(call, t0, "timed out");
      } catch (ConnectException e) {
        wait = policy.backoff(attempt, random);
        lastFailure = e;
        lastReply = null;
        lastProblem = "connection refused";
        traceFailure(call, t0, "connection refused");
      } catch (IOException e) {
        wait = policy.backoff(attempt, random);
        lastFailure = e;
        lastReply = null;
        lastProblem = "connection dropped (" + e.getClass().getSimpleName() + ")";
        ambiguous = true;
        traceFailure(call, t0, "connection dropped");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new KilnUserException("interrupted while waiting for Airflow to " + call.action());
      }
      long now = System.nanoTime();
      if (attempt >= policy.maxAttempts() || now + wait.toNanos() > deadline) {
        if (lastReply != null && lastReply.status() == 429) {
          throw new KilnUserException("Airflow kept rate-limiting the request to " + call.action() + " (" + lastProblem
              + ")" + after(attempt, started));
        }
        if (lastReply != null) {
          throw new KilnUserException("Airflow failed to " + call.action() + ": " + lastProblem
              + after(attempt, started));
        }
        throw new KilnUserException("cannot reach Airflow at " + baseUrl + " to " + call.action() + ": " + lastProblem
            + after(attempt, started), lastFailure);
      }
      trace.accept("airflow: retrying in " + wait.toMillis() + " ms (" + lastProblem + "; attempt " + (attempt + 1)
          + " of " + policy.maxAttempts() + ")");
      sleep(wait, call.action());
    }
  }

  private void traceFailure(Call call, long t0, String what) {
    trace.accept("airflow: " + call.method() + " " + baseUrl + call.pathAndQuery() + " -> " + what + " ("
        + (System.nanoTime() - t0) / 1_000_000 + " ms)");
  }

  private String after(int attempts, long started) {
    return " (gave up after " + attempts + " attempt" + (attempts == 1 ? "" : "s") + " in "
        + seconds(Duration.ofNanos(System.nanoTime() - started)) + ")";
  }

  private void sleep(Duration d, String action) {
    try {
      sleeper.sleep(d);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new KilnUserException("interrupted while waiting to " + action);
    }
  }

  private HttpRequest request(Call call) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(baseUrl + call.pathAndQuery()))
        .timeout(requestTimeout)
        .header("Accept", call.accept())
        .header("User-Agent", "kiln-airflow-client");
    if (call.authenticated()) {
      authorization().ifPresent(value -> b.header("Authorization", value));
    }
    if (call.body() != null) {
      b.header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString(call.body(), StandardCharsets.UTF_8));
    } else {
      b.method(call.method(), HttpRequest.BodyPublishers.noBody());
    }
    return b.build();
  }

  /** The Authorization header value for the API in use, fetching an Airflow 3 token when needed. */
  private Optional<String> authorization() {
    if (apiVersion() == ApiVersion.V1) {
      if (credentials.hasPassword()) {
        return Optional.of(credentials.basicHeader());
      }
      return Optional.ofNullable(credentials.staticToken()).map(t -> "Bearer " + t);
    }
    synchronized (this) {
      if (bearer != null) {
        return Optional.of("Bearer " + bearer);
      }
      if (credentials.hasToken() && !staticTokenRejected) {
        return Optional.of("Bearer " + credentials.staticToken());
      }
      if (credentials.hasPassword()) {
        bearer = fetchToken();
        return Optional.of("Bearer " + bearer);
      }
      return Optional.empty();
    }
  }

  private synchronized boolean canRefresh() {
    return apiVersion() == ApiVersion.V2 && credentials.hasPassword();
  }

  private synchronized void forgetToken() {
    if (bearer == null && credentials.hasToken()) {
      staticTokenRejected = true;
    }
    bearer = null;
  }

  /** Airflow 3: {@code POST /auth/token} with the username and password; 201 {@code {"access_token": ...}}. */
  private String fetchToken() {
    ObjectNode body = MAPPER.createObjectNode();
    body.put("username", credentials.username());
    body.put("password", credentials.password());
    Call call = Call.post("/auth/token", body, "get an access token (POST /auth/token)").anonymous();
    Reply r = execute(call);
    if (!r.ok()) {
      throw failure(call, r, "Airflow at " + baseUrl + " has no /auth/token endpoint (is it Airflow 2? try --api v1)");
    }
    JsonNode token = r.json(call, this).path("access_token");
    if (!token.isTextual() || token.asText().isBlank()) {
      throw unexpected(call, "no access_token");
    }
    return token.asText();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Errors

  /**
   * The one-line user error for a non-2xx answer; {@code specific} says what a 404 (or, for a trigger, a 409) means
   * for this call.
   */
  private KilnUserException failure(Call call, Reply r, String specific) {
    String detail = detail(r);
    int s = r.status();
    String message;
    if (s == 401) {
      message = "Airflow refused the credentials (HTTP 401" + colon(detail) + ") when trying to " + call.action()
          + ": " + credentialHint();
    } else if (s == 403) {
      message = "Airflow refused the credentials (HTTP 403 Forbidden" + colon(detail) + "): the user may not "
          + call.action();
    } else if (s == 404) {
      message = (specific.isEmpty() ? "not found: " + call.action() : specific) + " (HTTP 404" + colon(detail) + ")";
    } else if (s == 409) {
      message = (specific.isEmpty() ? "conflict when trying to " + call.action() : specific) + " (HTTP 409 Conflict"
          + colon(detail) + ")";
    } else if (s == 400 || s == 422) {
      message = "Airflow rejected the request to " + call.action() + " (HTTP " + s + ")" + (detail.isEmpty() ? ""
          : ": " + detail);
    } else if (s >= 300 && s < 400) {
      String location = r.headers().firstValue("Location").map(l -> l.replaceAll("[?#].*$", "")).orElse("elsewhere");
      message = "Airflow at " + baseUrl + " redirected the request to " + call.action() + " (HTTP " + s + " to "
          + scrub(location) + "): give the address it redirects to as --url";
    } else {
      message = "Airflow answered HTTP " + s + " when trying to " + call.action() + (detail.isEmpty() ? ""
          : ": " + detail);
    }
    return new KilnUserException(oneLine(message));
  }

  private KilnUserException unexpected(Call call, String what) {
    return new KilnUserException("unexpected answer from Airflow at " + baseUrl + " when trying to " + call.action()
        + ": " + what + " (check --url and --api)");
  }

  private String credentialHint() {
    if (credentials.isEmpty()) {
      return "no credentials were given: set $" + AirflowCredentials.USERNAME_ENV + " and $"
          + AirflowCredentials.PASSWORD_ENV + " (or $" + AirflowCredentials.TOKEN_ENV + "), or pass --credentials-file";
    }
    return "check the credentials from " + credentials.source();
  }

  /**
   * Airflow's explanation from an error body, one line, secrets masked: v1 problem+json {@code detail} (else
   * {@code title}); v2 {@code detail} as a string, a list of {@code {loc, msg}} (422), or an object's {@code reason}
   * (409). Never a validation error's {@code input} (it echoes the request, which may hold the password).
   */
  String detail(Reply r) {
    String body = r.body() == null ? "" : r.body().strip();
    if (body.isEmpty()) {
      return "";
    }
    Optional<JsonNode> json = r.jsonOrEmpty();
    if (json.isEmpty() || !json.get().isObject()) {
      if (body.startsWith("<") || r.headers().firstValue("Content-Type").orElse("").contains("html")) {
        return "";
      }
      return trimDetail(scrub(body));
    }
    JsonNode n = json.get();
    JsonNode d = n.get("detail");
    String text;
    if (d != null && d.isTextual() && !d.asText().isBlank()) {
      text = d.asText();
    } else if (d != null && d.isArray()) {
      List<String> parts = new ArrayList<>();
      d.forEach(item -> {
        if (item.isObject() && item.has("msg")) {
          List<String> loc = new ArrayList<>();
          item.path("loc").forEach(l -> {
            if (!l.asText().equals("body")) {
              loc.add(l.asText());
            }
          });
          parts.add((loc.isEmpty() ? "" : String.join(".", loc) + ": ") + item.path("msg").asText());
        } else if (item.isTextual()) {
          parts.add(item.asText());
        }
      });
      text = String.join("; ", parts);
    } else if (d != null && d.isObject()) {
      text = d.hasNonNull("reason") ? d.get("reason").asText()
          : d.hasNonNull("message") ? d.get("message").asText() : "";
    } else {
      text = n.hasNonNull("title") ? n.get("title").asText() : n.hasNonNull("message") ? n.get("message").asText() : "";
    }
    return trimDetail(scrub(text));
  }

  private static String trimDetail(String text) {
    String t = oneLine(text);
    return t.length() <= MAX_DETAIL ? t : t.substring(0, MAX_DETAIL - 3) + "...";
  }

  static String oneLine(String text) {
    return text == null ? "" : text.replaceAll("\\s+", " ").strip();
  }

  private static String colon(String detail) {
    return detail.isEmpty() ? "" : ": " + detail;
  }

  private static String suffix(String detail) {
    return detail.isEmpty() ? "" : " (" + detail + ")";
  }

  /** Masks every secret form in text that came from the server. */
  String scrub(String text) {
    if (text == null) {
      return null;
    }
    String out = text;
    for (String secret : credentials.secretForms()) {
      out = out.replace(secret, MASK);
    }
    String token;
    synchronized (this) {
      token = bearer;
    }
    if (token != null && !token.isEmpty()) {
      out = out.replace(token, MASK);
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Parsing

  private String runPath(String dagId, String runId) {
    return apiVersion().prefix() + "/dags/" + segment(dagId) + "/dagRuns/" + segment(runId);
  }

  private static void requireId(String id, String what) {
    if (id == null || id.isBlank()) {
      throw new KilnUserException(what + " must not be empty");
    }
  }

  /** Percent-encodes one path segment or query part (everything but RFC 3986 unreserved characters). */
  static String segment(String s) {
    StringBuilder b = new StringBuilder();
    for (byte c : s.getBytes(StandardCharsets.UTF_8)) {
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.'
          || c == '_' || c == '~') {
        b.append((char) c);
      } else {
        b.append('%').append(String.format("%02X", c & 0xff));
      }
    }
    return b.toString();
  }

  private DagRun parseDagRun(JsonNode n) {
    String runId = text(n, "dag_run_id");
    return new DagRun(text(n, "dag_id"), runId != null ? runId : text(n, "run_id"), text(n, "state"),
        instant(n.hasNonNull("logical_date") ? n.get("logical_date") : n.get("execution_date")),
        instant(n.get("start_date")), instant(n.get("end_date")), text(n, "run_type"), conf(n.get("conf")));
  }

  private static TaskInstance parseTaskInstance(JsonNode n) {
    JsonNode duration = n.get("duration");
    return new TaskInstance(text(n, "task_id"), n.path("map_index").asInt(-1), text(n, "state"),
        n.path("try_number").asInt(0), n.path("max_tries").asInt(0), instant(n.get("start_date")),
        instant(n.get("end_date")), duration != null && duration.isNumber() ? duration.asDouble() : null,
        text(n, "operator"));
  }

  private static String text(JsonNode n, String field) {
    JsonNode v = n.get(field);
    return v == null || v.isNull() ? null : v.asText();
  }

  private static Map<String, Object> conf(JsonNode n) {
    if (n == null || !n.isObject()) {
      return Map.of();
    }
    return MAPPER.convertValue(n, new TypeReference<LinkedHashMap<String, Object>>() {});
  }

  /** Airflow's timestamps: ISO-8601 with an offset ({@code +00:00}) or {@code Z}; a missing offset means UTC. */
  static Instant instant(JsonNode n) {
    if (n == null || !n.isTextual() || n.asText().isBlank()) {
      return null;
    }
    String s = n.asText().strip();
    try {
      return OffsetDateTime.parse(s).toInstant();
    } catch (DateTimeParseException e) {
      try {
        return LocalDateTime.parse(s).toInstant(ZoneOffset.UTC);
      } catch (DateTimeParseException e2) {
        return null;
      }
    }
  }

  private static boolean sameConf(Map<String, Object> a, Map<String, Object> b) {
    return MAPPER.valueToTree(a == null ? Map.of() : a).equals(MAPPER.valueToTree(b == null ? Map.of() : b));
  }

  /** v1: a string; v2: a list of {@code {timestamp, event, level, ...}} or of strings, one line each. */
  private static String renderLog(JsonNode content) {
    if (content == null || content.isNull() || content.isMissingNode()) {
      return "";
    }
    if (content.isTextual()) {
      return content.asText();
    }
    if (!content.isArray()) {
      return content.toString();
    }
    StringBuilder b = new StringBuilder();
    for (JsonNode line : content) {
      if (line.isTextual()) {
        b.append(line.asText());
      } else if (line.isObject()) {
        String ts = line.hasNonNull("timestamp") ? "[" + line.get("timestamp").asText() + "] " : "";
        String level = line.hasNonNull("level") ? line.get("level").asText().toUpperCase(Locale.ROOT) + " - " : "";
        b.append(ts).append(level).append(line.path("event").asText(""));
        JsonNode error = line.get("error_detail");
        if (error != null && error.isArray()) {
          for (JsonNode e : error) {
            b.append('\n').append(e.path("exc_type").asText("")).append(": ").append(e.path("exc_value").asText(""));
          }
        }
      } else {
        b.append(line.toString());
      }
      b.append('\n');
    }
    return b.toString();
  }

  /** {@code Retry-After}: delta-seconds or an HTTP date (RFC 9110 section 10.2.3); empty if absent or unreadable. */
  Optional<Duration> retryAfter(HttpHeaders headers) {
    Optional<String> value = headers.firstValue("Retry-After").map(String::strip).filter(s -> !s.isEmpty());
    if (value.isEmpty()) {
      return Optional.empty();
    }
    String v = value.get();
    if (v.matches("\\d{1,9}")) {
      return Optional.of(Duration.ofSeconds(Long.parseLong(v)));
    }
    try {
      Instant at = ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
      Duration d = Duration.between(clock.instant(), at);
      return Optional.of(d.isNegative() ? Duration.ZERO : d);
    } catch (DateTimeParseException e) {
      return Optional.empty();
    }
  }

  private static String seconds(Duration d) {
    long ms = d.toMillis();
    return ms < 10_000 ? String.format(Locale.ROOT, "%.1fs", ms / 1000.0) : (ms / 1000) + "s";
  }
}
