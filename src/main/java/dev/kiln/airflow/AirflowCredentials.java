package dev.kiln.airflow;

import dev.kiln.common.KilnUserException;
import java.io.IOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Credentials for the Airflow REST API: a username and password (Airflow 2: HTTP basic auth; Airflow 3: exchanged for
 * a bearer token at {@code POST /auth/token}), or a ready-made bearer token, or none.
 *
 * <p>They come only from the environment ({@value #USERNAME_ENV} + {@value #PASSWORD_ENV}, or {@value #TOKEN_ENV})
 * or from a file of {@code username=}, {@code password=} and {@code token=} lines ({@code #} comments and blank lines
 * allowed; values are trimmed). Never from a command-line argument or the URL, and they are never printed: not by
 * {@link #toString()}, not in any exception message ({@link AirflowClient} also masks them in text that comes back
 * from the server).
 */
public final class AirflowCredentials {
  public static final String URL_ENV = "KILN_AIRFLOW_URL";
  public static final String USERNAME_ENV = "KILN_AIRFLOW_USERNAME";
  public static final String PASSWORD_ENV = "KILN_AIRFLOW_PASSWORD";
  public static final String TOKEN_ENV = "KILN_AIRFLOW_TOKEN";

  private static final AirflowCredentials NONE = new AirflowCredentials(null, null, null, "nowhere");

  private final String username;
  private final String password;
  private final String token;
  private final String source;

  private AirflowCredentials(String username, String password, String token, String source) {
    this.username = blankToNull(username);
    this.password = blankToNull(password);
    this.token = blankToNull(token);
    this.source = source;
  }

  /** No credentials: requests go out without an Authorization header. */
  public static AirflowCredentials none() {
    return NONE;
  }

  public static AirflowCredentials basic(String username, String password) {
    return checked(new AirflowCredentials(username, password, null, "the caller"));
  }

  public static AirflowCredentials token(String token) {
    return checked(new AirflowCredentials(null, null, token, "the caller"));
  }

  /**
   * {@code --credentials-file} when given (the environment is then ignored), else the environment. Either may hold
   * nothing, which gives {@link #none()}.
   */
  public static AirflowCredentials resolve(Optional<Path> file, Map<String, String> env) {
    return file.isPresent() ? fromFile(file.get()) : fromEnvironment(env);
  }

  public static AirflowCredentials fromEnvironment(Map<String, String> env) {
    String user = env.get(USERNAME_ENV);
    String pass = env.get(PASSWORD_ENV);
    String tok = env.get(TOKEN_ENV);
    if (blankToNull(user) != null && blankToNull(pass) == null) {
      throw new KilnUserException("$" + USERNAME_ENV + " is set but $" + PASSWORD_ENV + " is not");
    }
    if (blankToNull(pass) != null && blankToNull(user) == null) {
      throw new KilnUserException("$" + PASSWORD_ENV + " is set but $" + USERNAME_ENV + " is not");
    }
    if (blankToNull(user) == null && blankToNull(tok) == null) {
      return NONE;
    }
    return new AirflowCredentials(user, pass, tok, "$" + USERNAME_ENV + "/$" + PASSWORD_ENV + "/$" + TOKEN_ENV);
  }

  /** Reads {@code username=}, {@code password=} and {@code token=} lines; no line's value ever shows in an error. */
  public static AirflowCredentials fromFile(Path file) {
    List<String> lines;
    try {
      lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      throw new KilnUserException("Airflow credentials file not found (" + file + ")");
    } catch (IOException e) {
      throw new KilnUserException("cannot read the Airflow credentials file (" + file + "): "
          + e.getClass().getSimpleName());
    }
    String user = null;
    String pass = null;
    String tok = null;
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i).strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int eq = line.indexOf('=');
      String where = " (" + file + ", line " + (i + 1) + ")";
      if (eq <= 0) {
        throw new KilnUserException("Airflow credentials file: expected a key=value line" + where);
      }
      String key = line.substring(0, eq).strip();
      String value = line.substring(eq + 1).strip();
      switch (key) {
        case "username" -> user = value;
        case "password" -> pass = value;
        case "token" -> tok = value;
        // The key is not repeated: a mistyped line could be a secret.
        default -> throw new KilnUserException("Airflow credentials file: unknown key, expected username, password "
            + "or token" + where);
      }
    }
    if (blankToNull(user) != null && blankToNull(pass) == null) {
      throw new KilnUserException("Airflow credentials file has a username but no password (" + file + ")");
    }
    if (blankToNull(pass) != null && blankToNull(user) == null) {
      throw new KilnUserException("Airflow credentials file has a password but no username (" + file + ")");
    }
    if (blankToNull(user) == null && blankToNull(tok) == null) {
      throw new KilnUserException("Airflow credentials file has neither username/password nor token (" + file + ")");
    }
    return new AirflowCredentials(user, pass, tok, "the credentials file " + file);
  }

  private static AirflowCredentials checked(AirflowCredentials c) {
    if ((c.username == null) != (c.password == null)) {
      throw new IllegalArgumentException("username and password go together");
    }
    return c;
  }

  /** Whether a username and password are present (basic auth on v1; a token from {@code /auth/token} on v2). */
  public boolean hasPassword() {
    return username != null && password != null;
  }

  public boolean hasToken() {
    return token != null;
  }

  public boolean isEmpty() {
    return !hasPassword() && !hasToken();
  }

  /** Where they came from, for error hints (never their values). */
  public String source() {
    return source;
  }

  String username() {
    return username;
  }

  String password() {
    return password;
  }

  String staticToken() {
    return token;
  }

  /** {@code Basic base64(username:password)} for Airflow 2. */
  String basicHeader() {
    return "Basic " + Base64.getEncoder().encodeToString((username + ":" + password).getBytes(StandardCharsets.UTF_8));
  }

  /** Every form in which a secret could show up in text (raw, JSON-escaped, URL-encoded, the basic-auth value). */
  List<String> secretForms() {
    List<String> forms = new ArrayList<>();
    for (String s : new String[] {password, token}) {
      if (s != null) {
        forms.add(s);
        forms.add(jsonEscaped(s));
        forms.add(URLEncoder.encode(s, StandardCharsets.UTF_8));
      }
    }
    if (hasPassword()) {
      forms.add(basicHeader().substring("Basic ".length()));
    }
    forms.removeIf(String::isEmpty);
    return forms;
  }

  private static String jsonEscaped(String s) {
    StringBuilder b = new StringBuilder();
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\t' -> b.append("\\t");
        case '\r' -> b.append("\\r");
        default -> b.append(c);
      }
    }
    return b.toString();
  }

  private static String blankToNull(String s) {
    return s == null || s.isBlank() ? null : s.strip();
  }

  /** Says which kind of credentials and where from; never a value (not even the username). */
  @Override
  public String toString() {
    String kind = hasPassword() && hasToken() ? "username, password and token"
        : hasPassword() ? "username and password" : hasToken() ? "token" : "none";
    return "AirflowCredentials[" + kind + " from " + source + "]";
  }
}
