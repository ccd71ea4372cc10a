package dev.kiln.common;

/**
 * A problem with what the user gave Kiln (arguments, input files, config), as opposed to a bug.
 * The CLI prints its message as one line, {@code error: <what> (<where>)}, and exits with {@link ExitCodes#USER_ERROR}.
 */
public class KilnUserException extends RuntimeException {
  public KilnUserException(String message) {
    super(message);
  }

  public KilnUserException(String message, Throwable cause) {
    super(message, cause);
  }
}
