package dev.kiln.common;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.Transformer;

/** Fitted stages of a saved Kiln model: pipelines nest (feature preparation inside the model's pipeline). */
public final class PipelineStages {
  private PipelineStages() {}

  /** Every stage of {@code type} in {@code model}, nested pipelines included, in pipeline order. */
  public static <T> List<T> all(PipelineModel model, Class<T> type) {
    return flat(model).stream().filter(type::isInstance).map(type::cast).toList();
  }

  /** After the last action on {@code model}'s output: destroys what its stages broadcast for their transforms. */
  public static void releaseBroadcasts(PipelineModel model) {
    all(model, BroadcastHolder.class).forEach(BroadcastHolder::releaseBroadcasts);
  }

  /** The stages {@code model.transform} applies one after the other, nested pipelines expanded, in order. */
  public static List<Transformer> flat(PipelineModel model) {
    List<Transformer> out = new ArrayList<>();
    for (Transformer stage : model.stages()) {
      if (stage instanceof PipelineModel inner) {
        out.addAll(flat(inner));
      } else {
        out.add(stage);
      }
    }
    return out;
  }
}
