package dev.kiln.monitor;

import com.github.mustachejava.DefaultMustacheFactory;
import com.github.mustachejava.Mustache;
import dev.kiln.common.KilnUserException;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The {@code kiln monitor --report PATH} page: one self-contained HTML file (inline CSS, charts as data: URIs, no
 * scripts and nothing fetched), so it can be mailed, attached to a ticket or opened from an air-gapped machine.
 */
public final class HtmlReport {

  /** Compiled once: Mustache templates are thread-safe, and the factory escapes {@code {{x}}} as HTML. */
  private static final Mustache TEMPLATE =
      new DefaultMustacheFactory("dev/kiln/monitor").compile("report.mustache");

  private HtmlReport() {}

  public static String render(MonitorReport r) {
    StringWriter out = new StringWriter();
    TEMPLATE.execute(out, ReportView.of(r));
    return out.toString();
  }

  /**
   * Writes the page atomically: a reader (or a browser refresh) never sees half a report. A path that cannot be
   * written (no such directory, no permission, disk full) fails as a one-line user error naming the path.
   */
  public static void write(MonitorReport r, Path path) {
    String html = render(r);
    Path target = path.toAbsolutePath();
    Path tmp = null;
    try {
      Files.createDirectories(target.getParent());
      // Same directory, so the move is a rename on one file system and can be atomic.
      tmp = Files.createTempFile(target.getParent(), "." + target.getFileName() + ".", ".tmp");
      Files.writeString(tmp, html, StandardCharsets.UTF_8);
      // createTempFile makes it owner-only; a report is meant to be shared like any other file written here.
      PosixFileAttributeView posix = Files.getFileAttributeView(tmp, PosixFileAttributeView.class);
      if (posix != null) {
        posix.setPermissions(PosixFilePermissions.fromString("rw-r--r--"));
      }
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      deleteQuietly(tmp, e);
      throw new KilnUserException("cannot write the report to " + path + ": " + e, e);
    } catch (RuntimeException e) {
      deleteQuietly(tmp, e);
      throw e;
    }
  }

  private static void deleteQuietly(Path tmp, Exception failure) {
    if (tmp == null) {
      return;
    }
    try {
      Files.deleteIfExists(tmp);
    } catch (IOException e) {
      failure.addSuppressed(e);
    }
  }
}
