package dev.kiln.common;

import java.io.File;
import java.net.URI;

/**
 * The root under which Kiln keeps everything (see docs/data-root.md): {@code tables/<layer>/<name>} for Delta tables,
 * {@code source/}, {@code trainsets/}, {@code artifacts/}, {@code reports/}. Any Hadoop path works ({@code file:},
 * {@code s3a:}, {@code abfss:}); a plain local path is made absolute.
 */
public record DataRoot(String uri) {
  public static final String DEFAULT = "./kiln-data";

  public DataRoot {
    if (uri == null || uri.isBlank()) {
      throw new KilnUserException("--data-root must not be empty");
    }
    uri = normalize(uri);
  }

  public static DataRoot of(String path) {
    return new DataRoot(path);
  }

  /** The path of a Delta table, e.g. {@code table(TableRef.parse("bronze.events"))}. */
  public String table(TableRef ref) {
    return resolve("tables/" + ref.layer() + "/" + ref.name());
  }

  public String resolve(String relative) {
    return uri.endsWith("/") ? uri + relative : uri + "/" + relative;
  }

  /** A local filesystem path for this root, or empty when the root is remote. */
  public java.util.Optional<File> localDirectory() {
    URI u = URI.create(uri);
    return "file".equals(u.getScheme()) ? java.util.Optional.of(new File(u)) : java.util.Optional.empty();
  }

  private static String normalize(String path) {
    String p = path.trim();
    if (p.matches("^[a-zA-Z][a-zA-Z0-9+.-]*:.*") && !p.matches("^[a-zA-Z]:\\\\.*")) {
      return p.replaceAll("/+$", "");
    }
    // Hadoop's own spelling of local paths (file:/a/b), so Delta sees one location, not two
    return new File(p).getAbsoluteFile().toPath().normalize().toFile().toURI().toString().replaceAll("/+$", "");
  }

  @Override
  public String toString() {
    return uri;
  }
}
