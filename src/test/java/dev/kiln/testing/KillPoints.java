package dev.kiln.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Kill tests: runs a child {@code kiln} command that {@link PausingLogStore} stops at one Delta commit, checks on disk
 * that the data root is in the state the kill point names, and SIGKILLs it there. A point counts as hit only when the
 * child paused there and the check passed; tests require every point to be hit.
 */
public final class KillPoints {
  private KillPoints() {}

  /**
   * A kill point.
   *
   * @param name what the data root holds when the child is killed
   * @param pauseRule where {@link PausingLogStore} stops the child
   * @param check given the data root while the child is stopped: null when it is in the named state, else what differs
   */
  public record Point(String name, String pauseRule, Function<Path, String> check) {}

  /** How one kill went: hit, or why not. */
  public record Outcome(Point point, boolean hit, String why) {}

  /**
   * Runs {@code kiln <cliArgs>} in a child JVM paused at {@code point}; kills it there. A child still running after
   * {@code limit} without pausing is killed and the test fails.
   */
  public static Outcome killAt(Point point, Path root, List<String> cliArgs, Path workDir, Duration limit)
      throws IOException, InterruptedException {
    String slug = point.name().replaceAll("[^A-Za-z0-9]+", "-");
    slug = slug.substring(0, Math.min(60, slug.length()));
    Path marker = workDir.resolve("paused-" + slug);
    Path log = workDir.resolve("child-" + slug + ".log");
    Files.deleteIfExists(marker);
    List<String> jvmArgs = new ArrayList<>(childJvmArgs());
    jvmArgs.addAll(PausingLogStore.jvmArgs(point.pauseRule(), marker));
    Process p = ChildJvm.start(ChildJvm.classpath(), jvmArgs, "dev.kiln.cli.KilnCli", cliArgs, Map.of(), log);
    long deadline = System.nanoTime() + limit.toNanos();
    try {
      while (!Files.exists(marker)) {
        if (!p.isAlive()) {
          return new Outcome(point, false, "the child exited (" + p.exitValue() + ") without pausing there:\n"
              + tail(log));
        }
        if (System.nanoTime() > deadline) {
          throw new AssertionError("child ran past " + limit.toSeconds() + " s without reaching '" + point.name()
              + "':\n" + tail(log));
        }
        Thread.sleep(50);
      }
      String problem = point.check().apply(root);
      return problem == null ? new Outcome(point, true, "")
          : new Outcome(point, false, "paused at " + point.pauseRule() + " but " + problem);
    } finally {
      p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
  }

  /** Kills at each point in turn, each in a new child; the outcomes in order. Prints which points were hit. */
  public static List<Outcome> killAtEach(List<Point> points, Path root, List<String> cliArgs, Path workDir,
                                         Duration limit) throws IOException, InterruptedException {
    List<Outcome> outcomes = new ArrayList<>();
    for (Point point : points) {
      Outcome o = killAt(point, root, cliArgs, workDir, limit);
      System.out.println("kill point " + (o.hit() ? "HIT: " : "MISSED: ") + point.name()
          + (o.hit() ? "" : " (" + o.why() + ")"));
      outcomes.add(o);
    }
    return outcomes;
  }

  public static List<String> hit(List<Outcome> outcomes) {
    return outcomes.stream().filter(Outcome::hit).map(o -> o.point().name()).toList();
  }

  public static List<String> names(List<Point> points) {
    return points.stream().map(Point::name).toList();
  }

  /** What a failed {@code assertEquals(names(points), hit(outcomes))} should say. */
  public static String report(List<Outcome> outcomes) {
    StringBuilder s = new StringBuilder("kill points:");
    for (Outcome o : outcomes) {
      s.append("\n  ").append(o.hit() ? "hit:    " : "MISSED: ").append(o.point().name());
      if (!o.hit()) {
        s.append("\n          ").append(o.why().replace("\n", "\n          "));
      }
    }
    return s.toString();
  }

  /**
   * A point's check from pairs (condition, what is wrong when it is false): null when every condition holds, else
   * the descriptions of those that do not.
   */
  public static String expect(Object... conditionsAndProblems) {
    List<String> problems = new ArrayList<>();
    for (int i = 0; i < conditionsAndProblems.length; i += 2) {
      if (!(Boolean) conditionsAndProblems[i]) {
        problems.add((String) conditionsAndProblems[i + 1]);
      }
    }
    return problems.isEmpty() ? null : String.join("; ", problems);
  }

  /** The JVM settings of the test children: small local Spark. */
  public static List<String> childJvmArgs() {
    return List.of("-Xmx1g", "-Dspark.master=local[2]", "-Dspark.ui.enabled=false",
        "-Dspark.sql.shuffle.partitions=4", "-Dspark.default.parallelism=2",
        "-Dspark.databricks.delta.snapshotPartitions=2", "-Dspark.driver.host=127.0.0.1",
        "-Dspark.driver.bindAddress=127.0.0.1");
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }
}
