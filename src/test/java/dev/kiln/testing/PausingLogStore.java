package dev.kiln.testing;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kiln.common.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

/**
 * Test-only Delta log store (the default one for local paths, plus a pause): a child {@code kiln} JVM started with
 * {@link #jvmArgs} stops for good just before or just after writing one chosen Delta commit, after writing a marker
 * file, so a kill test can SIGKILL it at exactly that point instead of polling for a window it may miss.
 *
 * <p>Every Delta commit goes through {@link #write} on the driver; "before" means the commit's data files are all
 * written and the commit file is not, "after" that the commit file exists and nothing after it has run. No production
 * code knows about this class: it is picked by Delta's own setting {@code spark.delta.logStore.file.impl}.
 *
 * <p>The rule, {@code -Dkiln.test.pauseAt=PHASE TABLE [adds] [KEY=VALUE ...]}: PHASE is {@code before} or
 * {@code after}; TABLE the end of the table's path (e.g. {@code tables/bronze/events}); {@code adds} requires the
 * commit to add data files; each {@code KEY=VALUE} a field of the commit's Kiln metadata ({@code userMetadata}, see
 * {@code DeltaTables.commitMetadata}). The first commit that matches pauses.
 */
public class PausingLogStore extends io.delta.storage.HDFSLogStore {
  public static final String RULE = "kiln.test.pauseAt";
  public static final String MARKER = "kiln.test.pauseMarker";

  public PausingLogStore(Configuration conf) {
    super(conf);
  }

  /** The child JVM arguments that pause it at {@code rule}, announcing it in {@code marker}. */
  public static List<String> jvmArgs(String rule, java.nio.file.Path marker) {
    return List.of("-Dspark.delta.logStore.file.impl=" + PausingLogStore.class.getName(),
        "-D" + RULE + "=" + rule, "-D" + MARKER + "=" + marker);
  }

  @Override
  public void write(Path path, Iterator<String> actions, Boolean overwrite, Configuration hadoopConf)
      throws IOException {
    String rule = System.getProperty(RULE);
    if (rule == null || rule.isBlank() || !path.getName().matches("\\d{20}\\.json")) {
      super.write(path, actions, overwrite, hadoopConf);
      return;
    }
    List<String> lines = new ArrayList<>();
    actions.forEachRemaining(lines::add);
    String[] words = rule.trim().split("\\s+");
    boolean hit = matches(words, path, lines);
    if (hit && words[0].equals("before")) {
      pause(rule, path);
    }
    super.write(path, lines.iterator(), overwrite, hadoopConf);
    if (hit && words[0].equals("after")) {
      pause(rule, path);
    }
  }

  private static boolean matches(String[] words, Path commit, List<String> lines) throws IOException {
    String table = commit.getParent().getParent().toUri().getPath();
    if (!table.endsWith("/" + words[1])) {
      return false;
    }
    boolean adds = false;
    Map<String, String> meta = new LinkedHashMap<>();
    for (String line : lines) {
      JsonNode action = Json.JSON.readTree(line);
      adds |= action.has("add");
      JsonNode user = action.path("commitInfo").path("userMetadata");
      if (user.isTextual()) {
        try {
          Json.JSON.readTree(user.asText()).fields().forEachRemaining(e -> meta.put(e.getKey(), e.getValue().asText()));
        } catch (IOException e) {
          // not Kiln's metadata
        }
      }
    }
    for (int i = 2; i < words.length; i++) {
      if (words[i].equals("adds")) {
        if (!adds) {
          return false;
        }
        continue;
      }
      int eq = words[i].indexOf('=');
      if (!words[i].substring(eq + 1).equals(meta.get(words[i].substring(0, eq)))) {
        return false;
      }
    }
    return true;
  }

  /** Announces the pause (marker written atomically) and waits to be killed. */
  private static void pause(String rule, Path commit) throws IOException {
    java.nio.file.Path marker = java.nio.file.Path.of(System.getProperty(MARKER));
    java.nio.file.Path tmp = marker.resolveSibling(marker.getFileName() + ".tmp");
    Files.writeString(tmp, rule + "\n" + commit + "\n", StandardCharsets.UTF_8);
    Files.move(tmp, marker, StandardCopyOption.ATOMIC_MOVE);
    System.err.println("PausingLogStore: paused at '" + rule + "' (" + commit + "), waiting to be killed");
    while (true) {
      try {
        Thread.sleep(60_000);
      } catch (InterruptedException e) {
        // only SIGKILL ends this
      }
    }
  }
}
