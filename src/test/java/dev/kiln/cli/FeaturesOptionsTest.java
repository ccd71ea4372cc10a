package dev.kiln.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** `kiln features` options as picocli parses them (no Spark). */
class FeaturesOptionsTest {
  private static FeaturesCommand parse(String... extra) {
    List<String> args = new ArrayList<>(List.of("--feature-set", "conf/features/clicks.yaml"));
    args.addAll(List.of(extra));
    FeaturesCommand command = new FeaturesCommand();
    new CommandLine(command).parseArgs(args.toArray(String[]::new));
    return command;
  }

  @Test
  void statisticsAreLeftToTrainsetUnlessStatsIsGiven() {
    assertFalse(parse().stats, "no statistics by default: kiln trainset computes its version's");
    assertTrue(parse("--stats").stats, "--stats computes them now");
    assertFalse(parse("--no-stats").stats, "--no-stats, the old opt-out, is still accepted");
  }
}
