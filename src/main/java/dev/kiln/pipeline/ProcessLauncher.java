package dev.kiln.pipeline;

import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;

/**
 * {@code --isolate}: runs each attempt as its own {@code java} process with this JVM's classpath and options, for
 * users who want a task's memory and failures fenced off from the others (at the price of a JVM + Spark start per
 * task). A timeout or stop sends SIGTERM, then SIGKILL after a grace period.
 */
public final class ProcessLauncher implements TaskLauncher {
  private static final long GRACE_S = 20;

  private final List<String> command;
  private final Set<Process> running = ConcurrentHashMap.newKeySet();

  /** @param command the child's command line up to the Kiln arguments, e.g. {@code java ... -jar kiln.jar} */
  public ProcessLauncher(List<String> command) {
    this.command = List.copyOf(command);
  }

  /** A launcher that starts the same Kiln as this JVM: the same java, JVM options, and classpath or jar. */
  public static ProcessLauncher sameJvm(String mainClass) {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command()
        .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
    for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (!arg.startsWith("-agentlib:") && !arg.startsWith("-javaagent:") && !arg.startsWith("-Xrunjdwp")) {
        cmd.add(arg);
      }
    }
    String cp = System.getProperty("java.class.path");
    if (isExecutableJar(cp, mainClass)) {
      // java -jar: the jar's manifest also carries the --add-opens Spark needs, which -cp would not apply
      cmd.addAll(List.of("-jar", new File(cp).getAbsolutePath()));
    } else {
      cmd.addAll(List.of("-cp", cp, mainClass));
    }
    return new ProcessLauncher(cmd);
  }

  private static boolean isExecutableJar(String classpath, String mainClass) {
    if (classpath.contains(File.pathSeparator) || !classpath.endsWith(".jar")) {
      return false;
    }
    try (JarFile jar = new JarFile(classpath)) {
      return jar.getManifest() != null && mainClass.equals(jar.getManifest().getMainAttributes()
          .getValue("Main-Class"));
    } catch (IOException e) {
      return false;
    }
  }

  @Override
  public Outcome launch(Attempt attempt) {
    Path log;
    Process process;
    try {
      log = Files.createTempFile("kiln-task-" + attempt.task() + "-", ".log");
      List<String> cmd = new ArrayList<>(command);
      cmd.addAll(attempt.args());
      process = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    } catch (IOException e) {
      return new Outcome(1, "cannot start a process for the task: " + e.getMessage(), "");
    }
    running.add(process);
    try {
      Outcome outcome;
      if (process.waitFor(attempt.timeoutMillis(), TimeUnit.MILLISECONDS)) {
        outcome = new Outcome(process.exitValue(), null, read(log));
      } else {
        terminate(process);
        outcome = Outcome.stopped("timed out after " + Durations.text(attempt.timeout().orElseThrow()), read(log));
      }
      return outcome;
    } catch (InterruptedException e) {
      terminate(process);
      Thread.currentThread().interrupt();
      return Outcome.stopped("stopped", read(log));
    } finally {
      running.remove(process);
      try {
        Files.deleteIfExists(log);
      } catch (IOException ignored) {
        // a temp file
      }
    }
  }

  private static void terminate(Process p) {
    p.destroy();
    try {
      if (!p.waitFor(GRACE_S, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(GRACE_S, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }

  private static String read(Path log) {
    try {
      return Files.readString(log, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }

  @Override
  public void cancelAll() {
    running.forEach(Process::destroy);
  }

  @Override
  public String mode() {
    return "isolated";
  }
}
