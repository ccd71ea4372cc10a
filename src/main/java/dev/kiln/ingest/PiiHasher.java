package dev.kiln.ingest;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Salted SHA-256 for PII columns: the same value and salt always give the same hash (so joins and per-user features
 * still work) and the clear value is never stored. The salt is a secret: never logged, never written to a table.
 */
public final class PiiHasher implements Serializable {
  private static final long serialVersionUID = 1L;
  private final byte[] salt;
  private transient MessageDigest digest;

  public PiiHasher(byte[] salt) {
    if (salt == null || salt.length < 8) {
      throw new IllegalArgumentException("the PII salt must be at least 8 bytes");
    }
    this.salt = salt.clone();
  }

  public String hash(String value) {
    MessageDigest md = digest();
    md.reset();
    md.update(salt);
    md.update((byte) 0);
    md.update(value.getBytes(StandardCharsets.UTF_8));
    return HexFormat.of().formatHex(md.digest());
  }

  private MessageDigest digest() {
    if (digest == null) {
      try {
        digest = MessageDigest.getInstance("SHA-256");
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException("SHA-256 is not available", e);
      }
    }
    return digest;
  }

  @Override
  public String toString() {
    return "PiiHasher[salt=***]";
  }
}
