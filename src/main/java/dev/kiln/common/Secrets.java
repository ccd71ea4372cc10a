package dev.kiln.common;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Optional;

/**
 * Secrets come only from environment variables or files, and are never logged or written to tables.
 * The PII salt: {@code --pii-salt-file}, else {@code KILN_PII_SALT_FILE}, else {@code KILN_PII_SALT}.
 */
public final class Secrets {
  public static final String SALT_ENV = "KILN_PII_SALT";
  public static final String SALT_FILE_ENV = "KILN_PII_SALT_FILE";

  private Secrets() {}

  public static Optional<byte[]> piiSalt(Optional<Path> saltFile) {
    Optional<Path> file = saltFile.or(() -> Optional.ofNullable(System.getenv(SALT_FILE_ENV))
        .filter(s -> !s.isBlank()).map(Path::of));
    if (file.isPresent()) {
      return Optional.of(readSaltFile(file.get()));
    }
    return Optional.ofNullable(System.getenv(SALT_ENV)).filter(s -> !s.isBlank())
        .map(s -> checkLength(s.trim().getBytes(StandardCharsets.UTF_8), "$" + SALT_ENV));
  }

  public static byte[] readSaltFile(Path file) {
    try {
      return checkLength(Files.readString(file, StandardCharsets.UTF_8).trim().getBytes(StandardCharsets.UTF_8),
          file.toString());
    } catch (IOException e) {
      throw new KilnUserException("cannot read PII salt file (" + file + ")");
    }
  }

  /** Writes a new random salt readable only by its owner, unless the file exists already. */
  public static boolean createSaltFileIfAbsent(Path file) {
    if (Files.exists(file)) {
      return false;
    }
    try {
      Files.createDirectories(file.getParent());
      byte[] salt = new byte[32];
      new SecureRandom().nextBytes(salt);
      Files.writeString(file, HexFormat.of().formatHex(salt) + "\n");
      try {
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
      } catch (UnsupportedOperationException ignored) {
        // not a POSIX filesystem
      }
      return true;
    } catch (IOException e) {
      throw new KilnUserException("cannot create PII salt file (" + file + "): " + e.getMessage());
    }
  }

  private static byte[] checkLength(byte[] salt, String where) {
    if (salt.length < 8) {
      throw new KilnUserException("PII salt is too short: use at least 8 characters (" + where + ")");
    }
    return salt;
  }
}
