package dev.kiln.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.common.DataRoot;
import dev.kiln.pipeline.PipelineRunsTable.Entry;
import dev.kiln.pipeline.PipelineRunsTable.State;
import dev.kiln.testing.SharedSpark;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runner's scheduling rules — dependency order, concurrency, retries, branches, skip and failure propagation,
 * resume — with tasks whose exit codes are scripted (the launcher is the seam; the state table is real Delta).
 */
class PipelineRunnerTest {
  private static final LocalDate DAY = LocalDate.of(2026, 3, 2);

  @TempDir
  Path tmp;

  /** Scripted exit codes per task and attempt (0 once exhausted); remembers the order and overlap of launches. */
  static final class ScriptedLauncher implements TaskLauncher {
    final Map<String, List<Integer>> script;
    final List<String> launched = Collections.synchronizedList(new ArrayList<>());
    final AtomicInteger running = new AtomicInteger();
    final AtomicInteger maxRunning = new AtomicInteger();
    final Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
    /** Tasks that must be running at the same time: each waits for the others (a run that serializes them fails). */
    final java.util.Set<String> meet;
    final java.util.concurrent.CyclicBarrier barrier;

    ScriptedLauncher(Map<String, List<Integer>> script) {
      this(script, java.util.Set.of());
    }

    ScriptedLauncher(Map<String, List<Integer>> script, java.util.Set<String> meet) {
      this.script = script;
      this.meet = meet;
      this.barrier = new java.util.concurrent.CyclicBarrier(Math.max(1, meet.size()));
    }

    @Override
    public Outcome launch(Attempt a) {
      launched.add(a.task());
      int now = running.incrementAndGet();
      maxRunning.accumulateAndGet(now, Math::max);
      try {
        if (meet.contains(a.task())) {
          barrier.await(60, java.util.concurrent.TimeUnit.SECONDS);
        }
        Thread.sleep(50);
        int n = attempts.computeIfAbsent(a.task(), t -> new AtomicInteger()).incrementAndGet();
        List<Integer> codes = script.getOrDefault(a.task(), List.of());
        int code = n <= codes.size() ? codes.get(n - 1) : 0;
        return new Outcome(code, null, code == 0 ? "ok\n" : "error: " + a.task() + " failed on purpose (attempt "
            + n + ")\n");
      } catch (java.util.concurrent.BrokenBarrierException | java.util.concurrent.TimeoutException e) {
        return new Outcome(1, null, "error: " + a.task() + " ran alone: " + meet + " did not run together\n");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return Outcome.stopped("stopped", "");
      } finally {
        running.decrementAndGet();
      }
    }

    @Override
    public void cancelAll() {}

    @Override
    public String mode() {
      return "scripted";
    }
  }

  private static final String SPEC = """
      pipeline: diamond
      schedule: null
      start_date: 2026-03-01
      defaults: {retries: 2, retry_delay: 0s}
      tasks:
        - {id: start, args: [a]}
        - {id: left, args: [b, "{{ ds }}"], depends_on: [start]}
        - {id: right, args: [c], depends_on: [start]}
        - {id: check, args: [d], depends_on: [left, right], retries: 0, branch: {0: [], 3: [react]}}
        - {id: react, args: [e], depends_on: [check]}
        - {id: after_react, args: [f], depends_on: [react]}
        - {id: join, args: [g], depends_on: [check, react]}
      """;

  /** The progress output with runs of spaces squeezed (task names are padded to a column). */
  private static String text(StringWriter w) {
    return w.toString().replaceAll(" +", " ");
  }

  private PipelineRunner.RunResult run(PipelineSpec spec, ScriptedLauncher launcher, DataRoot root, boolean force,
                                       StringWriter progress) {
    SparkSession spark = SharedSpark.get();
    return new PipelineRunner(spark, spec, launcher, new PipelineRunner.Options(root, Map.of(), 2, force),
        new PrintWriter(progress, true)).run(DAY);
  }

  @Test
  void independentTasksRunTogetherAndABranchSkipsTheTasksItDidNotChoose() {
    DataRoot root = DataRoot.of(tmp.resolve("root").toString());
    ScriptedLauncher launcher = new ScriptedLauncher(Map.of(), java.util.Set.of("left", "right"));
    StringWriter progress = new StringWriter();
    PipelineRunner.RunResult r = run(PipelineSpec.parse(SPEC.replace("retries: 2", "retries: 0"), "diamond.yaml"),
        launcher, root, false, progress);

    assertTrue(r.succeeded(), progress::toString);
    assertEquals("start", launcher.launched.get(0));
    assertEquals("check", launcher.launched.get(3));
    assertEquals(2, launcher.maxRunning.get(), "left and right did not overlap");
    assertEquals(List.of("success", "success", "success", "success", "skipped", "skipped", "skipped"),
        r.tasks().stream().map(PipelineRunner.TaskResult::state).toList());
    assertTrue(text(progress).contains("react skipped: branch of check (exit 0) chose no task"),
        progress::toString);
    assertTrue(text(progress).contains("after_react skipped: upstream task react was skipped"));
    assertTrue(progress.toString().strip().endsWith("diamond 2026-03-02: success in " + String.format("%.1f",
        r.seconds()) + " s: 4 succeeded, 3 skipped, 0 failed"), progress::toString);

    // recorded: every state change, and the rendered args with the data root appended
    PipelineRunsTable table = new PipelineRunsTable(SharedSpark.get(), root);
    Map<String, Entry> states = table.latestTaskStates("diamond", DAY);
    assertEquals(State.SKIPPED, states.get("react").state());
    assertEquals(List.of("b", "2026-03-02", "--data-root", root.uri()), states.get("left").args());
    assertEquals(State.SUCCESS, table.run("diamond", DAY).orElseThrow().state());
  }

  @Test
  void aFailedAttemptIsRetriedAndTheChosenBranchRuns() {
    DataRoot root = DataRoot.of(tmp.resolve("root").toString());
    ScriptedLauncher launcher = new ScriptedLauncher(Map.of("left", List.of(1, 2), "check", List.of(3)));
    StringWriter progress = new StringWriter();
    PipelineRunner.RunResult r = run(PipelineSpec.parse(SPEC, "diamond.yaml"), launcher, root, false, progress);

    assertTrue(r.succeeded(), progress::toString);
    assertEquals(3, launcher.attempts.get("left").get());
    assertEquals(3, r.tasks().get(1).attempts());
    assertTrue(text(progress).contains("left failed in"), progress::toString);
    assertTrue(text(progress).contains("(exit 1: error: left failed on purpose (attempt 1)); retry 1 of 2 in"),
        progress::toString);
    assertTrue(text(progress).contains("retry 2 of 2"), progress::toString);
    assertTrue(text(progress).contains("check succeeded in"), progress::toString);
    assertTrue(text(progress).contains("(exit 3: runs react)"), progress::toString);
    assertEquals("success", r.tasks().get(4).state());
    assertEquals("success", r.tasks().get(5).state());
    // join was not chosen by check's branch, but comes after react, which was: it runs (Airflow's rule)
    assertEquals("success", r.tasks().get(6).state());

    List<Entry> left = new PipelineRunsTable(SharedSpark.get(), root).history("diamond", DAY).stream()
        .filter(e -> e.task().orElse("").equals("left")).toList();
    assertEquals(List.of("failed 1", "failed 2", "success 3"),
        left.stream().map(e -> e.state().id() + " " + e.attempt()).toList());
    assertEquals(2, left.get(1).exitCode());
  }

  @Test
  void aFailureStopsDownstreamTasksAndTheRerunResumesAtTheFailedTask() {
    DataRoot root = DataRoot.of(tmp.resolve("root").toString());
    PipelineSpec spec = PipelineSpec.parse(SPEC.replace("retries: 2", "retries: 0"), "diamond.yaml");
    StringWriter progress = new StringWriter();
    ScriptedLauncher first = new ScriptedLauncher(Map.of("right", List.of(2), "check", List.of(3)));
    PipelineRunner.RunResult failed = run(spec, first, root, false, progress);

    assertEquals("failed", failed.state());
    assertEquals(List.of("success", "success", "failed", "upstream_failed", "upstream_failed", "upstream_failed",
            "upstream_failed"),
        failed.tasks().stream().map(PipelineRunner.TaskResult::state).toList());
    assertTrue(progress.toString().strip().endsWith("1 failed (right), 4 not run (upstream failed)"),
        progress::toString);

    ScriptedLauncher second = new ScriptedLauncher(Map.of("check", List.of(3)));
    StringWriter again = new StringWriter();
    PipelineRunner.RunResult resumed = run(spec, second, root, false, again);
    assertTrue(resumed.succeeded(), again::toString);
    assertEquals(List.of("right", "check", "react"), second.launched.subList(0, 3));
    assertEquals(List.of("after_react", "join"), second.launched.subList(3, 5).stream().sorted().toList());
    assertTrue(text(again).contains("(2 succeeded in an earlier run: start, left)"), again::toString);
    assertEquals(List.of(true, true, false, false, false, false, false),
        resumed.tasks().stream().map(PipelineRunner.TaskResult::earlier).toList());

    // a third run has nothing left to do; --force runs everything again
    ScriptedLauncher third = new ScriptedLauncher(Map.of("check", List.of(3)));
    assertTrue(run(spec, third, root, false, new StringWriter()).succeeded());
    assertEquals(List.of(), third.launched);
    ScriptedLauncher forced = new ScriptedLauncher(Map.of());
    assertTrue(run(spec, forced, root, true, new StringWriter()).succeeded());
    assertEquals(4, forced.launched.size()); // check exits 0 this time: react, after_react and join are skipped
    PipelineRunsTable table = new PipelineRunsTable(SharedSpark.get(), root);
    assertEquals(1, table.runs("diamond").size()); // one date: its latest run
    assertEquals(4, table.history("diamond", DAY).stream().filter(e -> e.task().isEmpty())
        .map(Entry::runId).distinct().count());
  }
}
