package dev.kiln.testing;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kiln.common.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A Delta table's state read straight from its files, without Spark: the commits in {@code _delta_log} (with Kiln's
 * commit metadata and the data files each adds) and the data files on disk. What kill tests check a killed child
 * left behind with.
 */
public final class DeltaLogFiles {
  private DeltaLogFiles() {}

  /** One commit file: its version, Kiln metadata fields ({@code userMetadata}), added data files (table-relative). */
  public record Commit(long version, Map<String, String> meta, List<String> adds) {
    public boolean is(String key, String value) {
      return value.equals(meta.get(key));
    }
  }

  /** The table's commits, oldest first; none when there is no {@code _delta_log}. */
  public static List<Commit> commits(Path table) {
    Path log = table.resolve("_delta_log");
    if (!Files.isDirectory(log)) {
      return List.of();
    }
    List<Commit> out = new ArrayList<>();
    try (Stream<Path> files = Files.list(log)) {
      for (Path f : files.filter(p -> p.getFileName().toString().matches("\\d{20}\\.json"))
          .sorted(Comparator.comparing(Path::toString)).toList()) {
        Map<String, String> meta = new LinkedHashMap<>();
        List<String> adds = new ArrayList<>();
        for (String line : Files.readAllLines(f)) {
          JsonNode action = Json.JSON.readTree(line);
          if (action.has("add")) {
            adds.add(URI.create(action.get("add").get("path").asText()).getPath());
          }
          JsonNode user = action.path("commitInfo").path("userMetadata");
          if (user.isTextual()) {
            try {
              Json.JSON.readTree(user.asText()).fields()
                  .forEachRemaining(e -> meta.put(e.getKey(), e.getValue().asText()));
            } catch (IOException e) {
              // not Kiln's metadata
            }
          }
        }
        out.add(new Commit(Long.parseLong(f.getFileName().toString().substring(0, 20)), meta, adds));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out;
  }

  /** Commits whose metadata has every {@code key, value} pair given. */
  public static List<Commit> commitsWith(Path table, String... keyValues) {
    return commits(table).stream().filter(c -> {
      for (int i = 0; i < keyValues.length; i += 2) {
        if (!c.is(keyValues[i], keyValues[i + 1])) {
          return false;
        }
      }
      return true;
    }).toList();
  }

  /** Parquet data files under the table that no commit added: written by a commit that never happened. */
  public static Set<String> uncommittedDataFiles(Path table) {
    Set<String> added = new HashSet<>();
    commits(table).forEach(c -> added.addAll(c.adds()));
    Set<String> out = new HashSet<>();
    if (!Files.isDirectory(table)) {
      return out;
    }
    try (Stream<Path> s = Files.walk(table)) {
      s.filter(p -> p.getFileName().toString().endsWith(".parquet") && !p.toString().contains("_delta_log"))
          .map(p -> table.relativize(p).toString()).filter(p -> !added.contains(p)).forEach(out::add);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out;
  }
}
