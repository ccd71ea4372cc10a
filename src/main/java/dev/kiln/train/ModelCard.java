package dev.kiln.train;

import dev.kiln.features.TrainsetManifest;
import dev.kiln.registry.RunsTable;
import java.util.Locale;
import java.util.Map;

/** The model card written beside each run's artifacts: what the model is, what it was trained on, how it did. */
final class ModelCard {
  private ModelCard() {}

  static String markdown(RunsTable.Run run, TrainsetManifest m, Evaluation.Result evaluation) {
    StringBuilder s = new StringBuilder();
    s.append("# Model card: ").append(run.runId()).append("\n\n");
    s.append("- **Model**: ").append(run.modelType()).append(" (binary classifier of `").append(
        m.featureSetSpec().label()).append("`), Spark ML pipeline in `model/`");
    s.append(run.modelType().equals("xgboost") ? "; native booster in `xgboost.json` / `xgboost.ubj`\n" : "\n");
    s.append("- **Intended use**: scoring events like those of `").append(m.sourceTable())
        .append("` with feature set `").append(m.featureSet()).append("` v").append(m.featureSetVersion())
        .append("; not for other populations or label definitions.\n\n");
    s.append("## Data\n\n");
    s.append("| input | version |\n| --- | --- |\n");
    s.append("| trainset `").append(m.id()).append("` | split ").append(m.split().method()).append(", seed ")
        .append(m.split().seed()).append(" |\n");
    s.append("| `").append(m.featureTable()).append("` | ").append(m.featureTableVersion()).append(" |\n");
    s.append("| `").append(m.sourceTable()).append("` | ").append(m.sourceVersion()).append(" |\n\n");
    s.append("Rows: ").append(m.rows()).append("; positives: ").append(m.positives()).append(".\n\n");
    s.append("## Parameters\n\n");
    run.params().forEach((k, v) -> s.append("- ").append(k).append(" = ").append(v).append('\n'));
    s.append("- seed = ").append(run.seed()).append("\n\n## Metrics (test split)\n\n| metric | value |\n| --- | --- |\n");
    for (Map.Entry<String, Double> e : evaluation.metrics().entrySet()) {
      s.append("| ").append(e.getKey()).append(" | ").append(String.format(Locale.ROOT, "%.4f", e.getValue()))
          .append(" |\n");
    }
    s.append("\n## Caveats\n\n");
    s.append("- Metrics are from one ").append(m.split().method()).append(" split; a random split of events "
        + "overstates performance on future events compared with a time split.\n");
    s.append("- Trained on ").append(m.featureTable()).append(" as of version ").append(m.featureTableVersion())
        .append("; drift in the inputs since then is not reflected.\n");
    s.append("\nCode: git commit ").append(run.gitCommit()).append("; libraries ").append(run.libraryVersions())
        .append(".\n");
    return s.toString();
  }
}
