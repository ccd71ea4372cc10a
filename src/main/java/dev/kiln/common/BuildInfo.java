package dev.kiln.common;

import java.io.IOException;
import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

/** What built this Kiln and what it runs on: recorded with every output for reproducibility. */
public final class BuildInfo {
  private static final Properties BUILD = load();

  private BuildInfo() {}

  public static String kilnVersion() {
    return property("kiln.version");
  }

  /** The git commit the jar was built from; {@code KILN_GIT_COMMIT} wins when set (e.g. by CI). */
  public static String gitCommit() {
    String fromEnv = System.getenv("KILN_GIT_COMMIT");
    return fromEnv != null && !fromEnv.isBlank() ? fromEnv : property("git.commit");
  }

  /** Whether this build carries XGBoost's CUDA build ({@code mvn -Pgpu}), so {@code device: cuda} can work. */
  public static boolean xgboostGpuBuild() {
    return "true".equals(property("xgboost.gpu"));
  }

  /** Versions of the libraries whose behaviour shapes Kiln's outputs. */
  public static Map<String, String> libraryVersions() {
    Map<String, String> versions = new LinkedHashMap<>();
    versions.put("kiln", kilnVersion());
    versions.put("spark", org.apache.spark.package$.MODULE$.SPARK_VERSION());
    versions.put("delta", implementationVersion(io.delta.tables.DeltaTable.class));
    versions.put("scala", scala.util.Properties.versionNumberString());
    versions.put("java", System.getProperty("java.version"));
    return versions;
  }

  private static String implementationVersion(Class<?> cls) {
    String v = cls.getPackage() == null ? null : cls.getPackage().getImplementationVersion();
    return v == null ? "unknown" : v;
  }

  private static String property(String key) {
    String value = BUILD.getProperty(key, "unknown");
    return value.isBlank() || value.startsWith("${") ? "unknown" : value;
  }

  private static Properties load() {
    Properties p = new Properties();
    try (InputStream in = BuildInfo.class.getResourceAsStream("/kiln-build.properties")) {
      if (in != null) {
        p.load(in);
      }
    } catch (IOException ignored) {
      // build info is best effort: "unknown" is recorded instead
    }
    return p;
  }
}
