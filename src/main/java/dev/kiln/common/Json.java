package dev.kiln.common;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** The JSON and YAML mappers every Kiln component uses (snake_case keys, strict about unknown keys). */
public final class Json {
  public static final ObjectMapper JSON = new ObjectMapper()
      .registerModule(new com.fasterxml.jackson.datatype.jdk8.Jdk8Module())
      .registerModule(new com.fasterxml.jackson.datatype.jsr310.JavaTimeModule())
      .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
      .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
      .registerModule(new com.fasterxml.jackson.datatype.jdk8.Jdk8Module())
      .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);

  private Json() {}

  /** Serializes to one line of JSON. */
  public static String toJson(Object value) {
    try {
      return JSON.writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialize " + value.getClass().getSimpleName(), e);
    }
  }

  /** Parses a JSON object Kiln wrote itself (e.g. commit metadata) into a map. */
  public static java.util.Map<String, Object> parseObject(String json) {
    try {
      return JSON.readValue(json, new com.fasterxml.jackson.core.type.TypeReference<java.util.Map<String, Object>>() {});
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("not a JSON object: " + json, e);
    }
  }

  public static String toPrettyJson(Object value) {
    try {
      return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialize " + value.getClass().getSimpleName(), e);
    }
  }

  /**
   * Reads a YAML config file into {@code type}; any problem is a {@link KilnUserException} naming the file,
   * and the line and column where the YAML parser has them.
   */
  public static <T> T readYaml(Path file, Class<T> type) {
    try {
      return readYaml(Files.readString(file), file.toString(), type);
    } catch (NoSuchFileException e) {
      throw new KilnUserException("config file not found (" + file + ")");
    } catch (IOException e) {
      throw new KilnUserException("cannot read config file (" + file + "): " + e.getMessage());
    }
  }

  /**
   * Reads a YAML config from {@code file}, or, when no such file exists, from the copy bundled in the jar under the
   * same relative path (e.g. {@code conf/schemas/events.yaml}), so jobs run from any working directory.
   */
  public static <T> T readYamlFileOrBundled(Path file, Class<T> type) {
    if (Files.exists(file)) {
      return readYaml(file, type);
    }
    String resource = "/" + file.normalize().toString().replace('\\', '/');
    try (InputStream in = Json.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new KilnUserException("config file not found (" + file + ")");
      }
      return readYaml(new String(in.readAllBytes(), StandardCharsets.UTF_8), "bundled " + file, type);
    } catch (IOException e) {
      throw new KilnUserException("cannot read bundled config (" + file + "): " + e.getMessage());
    }
  }

  public static <T> T readYaml(String yaml, String sourceName, Class<T> type) {
    try {
      T value = YAML.readValue(yaml, type);
      if (value == null) {
        throw new KilnUserException("config file is empty (" + sourceName + ")");
      }
      return value;
    } catch (JsonProcessingException e) {
      JsonLocation loc = e.getLocation();
      String where = loc == null ? sourceName
          : sourceName + ", line " + loc.getLineNr() + ", column " + loc.getColumnNr();
      throw new KilnUserException("invalid config: " + Messages.firstLine(e.getOriginalMessage(), "unreadable") + " ("
          + where + ")");
    }
  }

}
