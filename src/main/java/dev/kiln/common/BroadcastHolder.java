package dev.kiln.common;

/**
 * A fitted stage that broadcasts data to score with and keeps it for its later transforms. Its transforms are lazy,
 * so only whoever runs the last action knows when to let go: {@link PipelineStages#releaseBroadcasts}.
 */
public interface BroadcastHolder {
  /** Destroys the stage's broadcasts; a later transform broadcasts again. */
  void releaseBroadcasts();
}
