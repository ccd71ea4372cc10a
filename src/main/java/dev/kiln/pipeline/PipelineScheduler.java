package dev.kiln.pipeline;

import dev.kiln.common.KilnUserException;
import dev.kiln.pipeline.PipelineRunsTable.State;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * {@code kiln pipeline schedule}: a foreground scheduler for one machine. At each tick of the spec's cron it starts
 * the run whose interval the tick closes (Airflow 2's data-interval semantics: the 06:00 run on March 3 is for
 * {@code ds = 2026-03-02}); with {@code catchup} it first starts every missed run in date order. A date whose run
 * ended (succeeded or failed) is not started again: re-run a failed date with {@code kiln pipeline run --date}.
 * A run left {@code running} by a killed scheduler is resumed.
 */
public final class PipelineScheduler {
  private final PipelineSpec spec;
  private final CronSchedule cron;
  private final PipelineRunsTable table;
  private final Function<LocalDate, PipelineRunner.RunResult> runOne;
  private final Clock clock;
  private final Object wake = new Object();
  private volatile boolean stopped;

  public PipelineScheduler(PipelineSpec spec, PipelineRunsTable table,
                           Function<LocalDate, PipelineRunner.RunResult> runOne, Clock clock) {
    this.spec = spec;
    this.cron = spec.schedule().orElseThrow(() -> new KilnUserException("pipeline " + spec.name()
        + " has no schedule; add one (e.g. schedule: \"0 6 * * *\") or run it with kiln pipeline run ("
        + spec.source() + ")"));
    this.table = table;
    this.runOne = runOne;
    this.clock = clock;
  }

  /** The dates due at {@code now} that have no ended run, oldest first (only the latest without catchup). */
  public List<LocalDate> due(Instant now) {
    List<LocalDate> dates = new ArrayList<>();
    Optional<ZonedDateTime> tick = cron.latestAtOrBefore(now.atZone(ZoneOffset.UTC));
    while (tick.isPresent()) {
      LocalDate ds = cron.logicalDate(tick.get());
      if (ds.isBefore(spec.startDate())) {
        break;
      }
      dates.add(0, ds);
      if (!spec.catchup()) {
        break;
      }
      tick = cron.latestAtOrBefore(tick.get().minusMinutes(1));
    }
    dates.removeIf(ds -> table.run(spec.name(), ds).map(r -> r.state() != State.RUNNING).orElse(false));
    return dates;
  }

  /** Runs due dates, then sleeps until the next tick, until {@link #stop}. */
  public void loop(java.io.PrintWriter out) {
    while (!stopped) {
      for (LocalDate ds : due(clock.instant())) {
        if (stopped) {
          break;
        }
        runOne.apply(ds);
      }
      if (stopped) {
        break;
      }
      ZonedDateTime now = clock.instant().atZone(ZoneOffset.UTC);
      Optional<ZonedDateTime> next = cron.next(now);
      if (next.isEmpty()) {
        out.println("no further tick of '" + cron + "' within 5 years; the scheduler stops");
        return;
      }
      out.printf("next run: %s at %s (in %s)%n", cron.logicalDate(next.get()), next.get().toInstant(),
          Durations.text(Duration.between(now, next.get()).withNanos(0)));
      out.flush();
      sleepUntil(next.get().toInstant());
    }
  }

  private void sleepUntil(Instant when) {
    synchronized (wake) {
      while (!stopped) {
        long ms = Duration.between(clock.instant(), when).toMillis();
        if (ms <= 0) {
          return;
        }
        try {
          wake.wait(Math.min(ms, 60_000)); // re-read the clock at least every minute (suspend, clock changes)
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          stopped = true;
        }
      }
    }
  }

  /** Makes {@link #loop} return: at once when waiting, after the run in progress was stopped otherwise. */
  public void stop() {
    stopped = true;
    synchronized (wake) {
      wake.notifyAll();
    }
  }
}
