package dev.kiln.testing;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.jar.JarFile;

/** Starts other JVMs (Kiln CLI runs, Spark daemons) with this test JVM's classpath and Spark's Java 17 flags. */
public final class ChildJvm {
  private ChildJvm() {}

  /** {@code java <Spark flags> <jvmArgs> -cp <classpath> <mainClass> <args>}, output to {@code log}. */
  public static Process start(String classpath, List<String> jvmArgs, String mainClass, List<String> args,
                              Map<String, String> env, Path log) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(Arrays.asList(System.getProperty("kiln.test.jvmFlags", "").trim().split("\\s+")));
    cmd.addAll(jvmArgs);
    cmd.addAll(List.of("-cp", classpath, mainClass));
    cmd.addAll(args);
    cmd.removeIf(String::isEmpty);
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(new File(System.getProperty("user.dir")))
        .redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().putAll(env);
    try {
      return pb.start();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Waits for {@code p} at most {@code limit}; past it the child is killed and the test fails, so no child can hang
   * a test run. Returns the exit code.
   */
  public static int await(Process p, java.time.Duration limit, java.util.function.Supplier<String> log)
      throws InterruptedException {
    if (!p.waitFor(limit.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
      p.destroyForcibly().waitFor(30, java.util.concurrent.TimeUnit.SECONDS);
      throw new AssertionError("child process ran past " + limit.toSeconds() + " s and was killed:\n" + log.get());
    }
    return p.exitValue();
  }

  /** This JVM's classpath, as given to a child with -cp. */
  public static String classpath() {
    return System.getProperty("java.class.path");
  }

  /**
   * Every entry of this JVM's classpath. Surefire may start tests from a manifest-only jar whose Class-Path lists
   * the real entries; that is unfolded.
   */
  public static List<Path> classpathEntries() {
    List<Path> entries = new ArrayList<>();
    for (String e : classpath().split(File.pathSeparator)) {
      Path p = Path.of(e);
      if (p.getFileName().toString().startsWith("surefirebooter")) {
        try (JarFile jar = new JarFile(p.toFile())) {
          String cp = jar.getManifest().getMainAttributes().getValue("Class-Path");
          for (String url : cp.trim().split("\\s+")) {
            entries.add(Path.of(URI.create(url)));
          }
        } catch (IOException ex) {
          throw new UncheckedIOException(ex);
        }
      } else {
        entries.add(p);
      }
    }
    return entries;
  }
}
