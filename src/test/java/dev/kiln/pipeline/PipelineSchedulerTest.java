package dev.kiln.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.DataRoot;
import dev.kiln.pipeline.PipelineRunsTable.Entry;
import dev.kiln.pipeline.PipelineRunsTable.State;
import dev.kiln.testing.ChildJvm;
import dev.kiln.testing.SharedSpark;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which dates the foreground scheduler starts, and that it stops cleanly on SIGTERM. */
class PipelineSchedulerTest {
  private static final Instant NOW = Instant.parse("2026-03-04T07:00:00Z"); // after the 06:00 tick for 2026-03-03

  @TempDir
  Path tmp;

  private static PipelineSpec spec(boolean catchup) {
    return PipelineSpec.parse("pipeline: daily\nschedule: '0 6 * * *'\nstart_date: 2026-03-01\ncatchup: " + catchup
        + "\ntasks:\n  - {id: a, args: [models, list]}\n", "daily.yaml");
  }

  private static void recordRun(PipelineRunsTable table, LocalDate ds, State state) {
    Instant t = Instant.now();
    table.record(List.of(new Entry("daily", ds, "r-" + ds, Optional.empty(), null, state, null, t, null, null, null,
        null, null, "test", "hash", t)));
  }

  @Test
  void dueDatesFollowTheScheduleCatchupAndRecordedRuns() {
    PipelineRunsTable table = new PipelineRunsTable(SharedSpark.get(), DataRoot.of(tmp.resolve("root").toString()));
    Clock clock = Clock.fixed(NOW, ZoneOffset.UTC);
    List<LocalDate> all = List.of(LocalDate.of(2026, 3, 1), LocalDate.of(2026, 3, 2), LocalDate.of(2026, 3, 3));
    PipelineScheduler catchup = new PipelineScheduler(spec(true), table, ds -> null, clock);
    assertEquals(all, catchup.due(NOW)); // the 06:00 tick on 03-01 is for 02-28, before start_date
    assertEquals(List.of(all.get(2)), new PipelineScheduler(spec(false), table, ds -> null, clock).due(NOW));
    assertEquals(all.subList(0, 2), catchup.due(Instant.parse("2026-03-04T05:59:00Z")));

    recordRun(table, all.get(1), State.SUCCESS);
    recordRun(table, all.get(2), State.FAILED); // not restarted: `kiln pipeline run --date` resumes a failed date
    recordRun(table, all.get(0), State.RUNNING); // left running by a killed scheduler: resumed
    assertEquals(List.of(all.get(0)), catchup.due(NOW));

    // the loop runs what is due, in date order, and returns once stopped
    List<LocalDate> ran = new ArrayList<>();
    PipelineScheduler[] holder = new PipelineScheduler[1];
    holder[0] = new PipelineScheduler(spec(true), table, ds -> {
      ran.add(ds);
      holder[0].stop();
      return null;
    }, clock);
    holder[0].loop(new PrintWriter(new StringWriter()));
    assertEquals(List.of(all.get(0)), ran);
  }

  @Test
  void sigtermStopsTheSchedulerCleanly() throws Exception {
    Path spec = tmp.resolve("later.yaml");
    Files.writeString(spec, "pipeline: later\nschedule: '0 6 * * *'\nstart_date: 2100-01-01\ntasks:\n"
        + "  - {id: a, args: [models, list]}\n");
    Path log = tmp.resolve("schedule.log");
    Process p = ChildJvm.start(ChildJvm.classpath(), List.of("-Xmx1g", "-Dspark.master=local[1]",
            "-Dspark.ui.enabled=false"), "dev.kiln.cli.KilnCli",
        List.of("pipeline", "schedule", spec.toString(), "--data-root", tmp.resolve("root").toString()), Map.of(), log);
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (p.isAlive() && System.nanoTime() < deadline && !Files.readString(log).contains("next run: ")) {
        Thread.sleep(50);
      }
      assertTrue(Files.readString(log).contains("next run: "), () -> "the scheduler did not start waiting:\n" + read(log));
      p.destroy(); // SIGTERM
      assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the scheduler did not stop on SIGTERM");
    } finally {
      p.destroyForcibly();
    }
    String out = read(log);
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("scheduling later (0 6 * * *, UTC, catchup false)"), out);
    assertTrue(out.contains("stopping: later scheduler received a stop signal"), out);
    assertTrue(out.contains("scheduler stopped"), out);
  }

  private static String read(Path log) {
    try {
      return Files.readString(log);
    } catch (java.io.IOException e) {
      return "(no log: " + e + ")";
    }
  }
}
