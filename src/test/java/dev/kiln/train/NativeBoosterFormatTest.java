package dev.kiln.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kiln.common.Json;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class NativeBoosterFormatTest {
  @Test
  void jsonBaseScoreVectorOfOneBecomesAScalar() throws Exception {
    String json = "{\"learner\":{\"learner_model_param\":{\"base_score\":\"[1.661063E-1]\",\"num_target\":\"1\"},"
        + "\"gradient_booster\":{\"x\":[1,2]}},\"version\":[3,4,0]}";
    var out = Json.JSON.readTree(NativeBoosterFormat.portableJson(json.getBytes(StandardCharsets.UTF_8)));
    assertEquals("1.661063E-1", out.path("learner").path("learner_model_param").path("base_score").asText());
    assertEquals(2, out.path("learner").path("gradient_booster").path("x").size(), "the rest is kept");
  }

  @Test
  void ubjBaseScoreIsRewrittenInPlaceAndTheRestKept() {
    byte[] before = ubj("[1.661063E-1]");
    byte[] after = NativeBoosterFormat.portableUbj(before);
    assertArrayEquals(ubj("1.661063E-1"), after);
    assertArrayEquals(after, NativeBoosterFormat.portableUbj(after), "a scalar is left alone");
  }

  @Test
  void severalTargetsAreLeftAlone() {
    byte[] multi = ubj("[1E-1,2E-1]");
    assertArrayEquals(multi, NativeBoosterFormat.portableUbj(multi));
  }

  /** {"base_score": VALUE, "k": "v"} the way XGBoost writes UBJSON (L = int64 lengths). */
  private static byte[] ubj(String value) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write('{');
    key(out, "base_score");
    out.write('S');
    key(out, value);
    key(out, "k");
    out.write('S');
    key(out, "v");
    out.write('}');
    return out.toByteArray();
  }

  private static void key(ByteArrayOutputStream out, String s) {
    byte[] b = s.getBytes(StandardCharsets.US_ASCII);
    out.write('L');
    out.writeBytes(ByteBuffer.allocate(8).putLong(b.length).array());
    out.writeBytes(b);
  }
}
