package dev.kiln.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kiln.common.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Makes XGBoost 3.x's saved models readable by older XGBoost too (Debian's Python xgboost is 1.7). Since 2.1 XGBoost
 * writes {@code learner_model_param.base_score} as a vector ({@code "[1.66E-1]"}); 1.7 cannot parse that and silently
 * falls back to 0.5, which shifts every prediction. For a single-target model the vector of one is written as the
 * plain number, which every version from 1.7 to 3.x reads the same way. Everything else is left byte for byte.
 */
final class NativeBoosterFormat {
  private static final byte[] UBJ_KEY = "base_score".getBytes(StandardCharsets.US_ASCII);

  private NativeBoosterFormat() {}

  /** The JSON model with a one-element {@code base_score} vector written as a scalar. */
  static byte[] portableJson(byte[] json) {
    try {
      JsonNode model = Json.JSON.readTree(json);
      JsonNode param = model.path("learner").path("learner_model_param");
      if (param instanceof ObjectNode p && p.has("base_score")) {
        scalar(p.get("base_score").asText()).ifPresent(v -> p.put("base_score", v));
      }
      return Json.JSON.writeValueAsBytes(model);
    } catch (IOException e) {
      throw new UncheckedIOException("not an XGBoost JSON model", e);
    }
  }

  /**
   * The UBJSON model with the same change. XGBoost writes object keys and strings as a length (marker {@code L},
   * int64 big-endian) and bytes, inside objects without element counts, so the value can be replaced by a shorter one.
   */
  static byte[] portableUbj(byte[] ubj) {
    int key = indexOf(ubj, UBJ_KEY);
    int value = key + UBJ_KEY.length;
    if (key < 0 || value + 10 > ubj.length || ubj[value] != 'S' || ubj[value + 1] != 'L') {
      return ubj;
    }
    long length = ByteBuffer.wrap(ubj, value + 2, 8).getLong();
    int start = value + 10;
    if (length <= 0 || start + length > ubj.length) {
      return ubj;
    }
    String text = new String(ubj, start, (int) length, StandardCharsets.US_ASCII);
    var replacement = scalar(text);
    if (replacement.isEmpty()) {
      return ubj;
    }
    byte[] bytes = replacement.get().getBytes(StandardCharsets.US_ASCII);
    ByteBuffer out = ByteBuffer.allocate(ubj.length - (int) length + bytes.length);
    out.put(ubj, 0, value + 2).putLong(bytes.length).put(bytes);
    out.put(ubj, start + (int) length, ubj.length - start - (int) length);
    return out.array();
  }

  /** {@code "[x]"} → {@code "x"}; anything else (a scalar already, several targets) is left alone. */
  static java.util.Optional<String> scalar(String baseScore) {
    String s = baseScore.trim();
    if (s.startsWith("[") && s.endsWith("]") && !s.contains(",")) {
      return java.util.Optional.of(s.substring(1, s.length() - 1).trim());
    }
    return java.util.Optional.empty();
  }

  private static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }
}
