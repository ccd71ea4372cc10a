package dev.kiln.monitor;

import dev.kiln.common.DataRoot;
import dev.kiln.common.KilnUserException;
import dev.kiln.common.TableRef;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything {@link MonitorJob} needs.
 *
 * @param model      {@code NAME@champion}, {@code NAME@candidate} or {@code NAME@VERSION}: whose baseline to use
 * @param current    the predictions table to monitor (default: {@code predictions.<model name>})
 * @param batchId    monitor one scoring batch ...
 * @param from       ... or the predictions with event time in [from, to)
 * @param thresholds the thresholds file
 * @param report     where to write the HTML report (default: {@code reports/monitor-<id>.html} in a local data root)
 */
public record MonitorConfig(DataRoot dataRoot, String model, Optional<String> current, Optional<String> batchId,
                           Optional<Instant> from, Optional<Instant> to, Path thresholds, Optional<Path> report) {
  public static final Path DEFAULT_THRESHOLDS = Path.of("conf", "monitor", "default.yaml");

  public MonitorConfig {
    Objects.requireNonNull(dataRoot, "dataRoot");
    if (model == null || model.isBlank()) {
      throw new KilnUserException("--model is required (NAME@champion, NAME@candidate or NAME@VERSION)");
    }
    current = current == null ? Optional.empty() : current;
    batchId = batchId == null ? Optional.empty() : batchId;
    from = from == null ? Optional.empty() : from;
    to = to == null ? Optional.empty() : to;
    report = report == null ? Optional.empty() : report;
    thresholds = thresholds == null ? DEFAULT_THRESHOLDS : thresholds;
    if (batchId.isPresent() && (from.isPresent() || to.isPresent())) {
      throw new KilnUserException("give either --batch-id or --from/--to, not both");
    }
    if (batchId.isEmpty() && from.isEmpty() && to.isEmpty()) {
      throw new KilnUserException("say what to monitor: --batch-id ID, or --from T and/or --to T");
    }
    if (from.isPresent() && to.isPresent() && !from.get().isBefore(to.get())) {
      throw new KilnUserException("--from " + from.get() + " must be before --to " + to.get());
    }
    current.ifPresent(c -> {
      if (!TableRef.parse(c, "predictions").layer().equals("predictions")) {
        throw new KilnUserException("--current must be a predictions table, e.g. predictions.clicks (got " + c + ")");
      }
    });
  }
}
