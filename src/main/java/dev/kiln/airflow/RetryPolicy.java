package dev.kiln.airflow;

import java.time.Duration;
import java.util.Random;

/**
 * How hard {@link AirflowClient} retries one request on HTTP 429, 5xx (500, 502, 503, 504) and connection errors:
 * at most {@code maxAttempts} attempts and {@code maxTotal} in all (a wait that would cross it is not started), with
 * jittered exponential backoff between attempts ({@link #backoff}); a 429's {@code Retry-After} replaces the backoff.
 */
public record RetryPolicy(int maxAttempts, Duration initialBackoff, Duration maxBackoff, Duration maxTotal) {
  /** 5 attempts, 0.5 s doubling to at most 8 s, one minute in all. */
  public static final RetryPolicy DEFAULT =
      new RetryPolicy(5, Duration.ofMillis(500), Duration.ofSeconds(8), Duration.ofSeconds(60));

  public RetryPolicy {
    if (maxAttempts < 1) {
      throw new IllegalArgumentException("maxAttempts must be at least 1");
    }
    if (initialBackoff.isNegative() || maxBackoff.isNegative() || maxTotal.isNegative()) {
      throw new IllegalArgumentException("durations must not be negative");
    }
  }

  public RetryPolicy withMaxAttempts(int attempts) {
    return new RetryPolicy(attempts, initialBackoff, maxBackoff, maxTotal);
  }

  /**
   * The wait before retry number {@code retry} (1 = the wait after the first attempt): "equal jitter", i.e. half of
   * {@code min(maxBackoff, initialBackoff * 2^(retry-1))} plus a random part of up to the other half, so concurrent
   * clients spread out without ever retrying at once.
   */
  public Duration backoff(int retry, Random random) {
    long initial = initialBackoff.toMillis();
    long cap = maxBackoff.toMillis();
    long base = initial;
    for (int i = 1; i < retry && base < cap; i++) {
      base = base * 2;
    }
    base = Math.min(base, cap);
    long half = base / 2;
    long jitter = half == 0 ? 0 : (long) (random.nextDouble() * (base - half + 1));
    return Duration.ofMillis(Math.min(base, half + jitter));
  }
}
