package dev.kiln.cli;

import dev.kiln.common.Json;
import dev.kiln.common.StageTimes;
import dev.kiln.ingest.BatchResult;
import dev.kiln.ingest.IngestResult;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Collectors;

/** How job results are shown: a few aligned lines of text, or one JSON object with {@code --json}. */
final class Summaries {
  private Summaries() {}

  static void printIngest(PrintWriter out, IngestResult r, boolean json) {
    if (json) {
      out.println(Json.toJson(ingestJson(r)));
      return;
    }
    if (r.batches().isEmpty()) {
      out.printf("%s: nothing new to ingest (%d of %d file(s) already ingested)%n", r.table(),
          r.filesAlreadyIngested(), r.filesListed());
      return;
    }
    String batches = r.batches().stream().map(b -> b.batchId() + (b.resumed() ? " (resumed)" : ""))
        .collect(Collectors.joining(", "));
    out.printf("%s: ingested batch %s%n", r.table(), batches);
    out.printf("  read %,d = accepted %,d + quarantined %,d + duplicates %,d%n", r.read(), r.accepted(),
        r.quarantined(), r.duplicates());
    if (!r.reasons().isEmpty()) {
      out.println("  quarantined by reason: " + r.reasons().entrySet().stream()
          .map(e -> e.getKey() + " " + String.format("%,d", e.getValue())).collect(Collectors.joining(", ")));
    }
    BatchResult last = r.batches().get(r.batches().size() - 1);
    out.printf("  %-18s version %-4d %s%n", r.table(), last.bronzeVersion(), r.bronzePath());
    out.printf("  %-18s version %-4d %s%n", r.table().replace("bronze.", "quarantine."), last.quarantineVersion(),
        r.quarantinePath());
    printStages(out, r.stageSeconds(), r.stagePeakHeapMib());
  }

  /**
   * A job summary's lines on its stages: where the time went ({@code time:}) and the driver's peak heap
   * ({@code heap:}), both from {@link StageTimes}.
   */
  static void printStages(PrintWriter out, Map<String, Double> stageSeconds, Map<String, Long> stagePeakHeapMib) {
    out.println("  time: " + StageTimes.line(stageSeconds));
    if (!stagePeakHeapMib.isEmpty()) {
      out.println("  heap: peak per stage " + StageTimes.heapLine(stagePeakHeapMib));
    }
  }

  static Map<String, Object> ingestJson(IngestResult r) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("table", r.table());
    m.put("read", r.read());
    m.put("accepted", r.accepted());
    m.put("quarantined", r.quarantined());
    m.put("duplicates", r.duplicates());
    m.put("reasons", r.reasons());
    m.put("files_listed", r.filesListed());
    m.put("files_already_ingested", r.filesAlreadyIngested());
    m.put("bronze_path", r.bronzePath());
    m.put("quarantine_path", r.quarantinePath());
    m.put("batches", r.batches());
    m.put("stage_seconds", r.stageSeconds());
    m.put("stage_peak_heap_mib", r.stagePeakHeapMib());
    return m;
  }
}
