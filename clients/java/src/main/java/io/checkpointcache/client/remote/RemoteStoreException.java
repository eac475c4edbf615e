package io.checkpointcache.client.remote;

import java.io.IOException;

/**
 * The error every remote store adapter throws, with a code callers can branch on. Messages never
 * carry credentials from a URI (see {@link #redact}).
 */
public class RemoteStoreException extends IOException {
  private static final long serialVersionUID = 1L;

  /** What went wrong; the same names as the TypeScript client's RemoteStoreError codes. */
  public enum Code {
    /** No adapter is registered for the URI's scheme, or the URI is malformed. */
    UNSUPPORTED_URI,
    /** The object does not exist (file missing, HTTP 404/410). */
    NOT_FOUND,
    /** The requested byte range lies outside the object (HTTP 416, offset past a file's end). */
    RANGE_NOT_SATISFIABLE,
    /** The store answered, but not with what was asked (wrong status, wrong Content-Range ...). */
    BAD_RESPONSE,
    /** The bytes stopped before the range was complete, or more came than asked for. */
    LENGTH_MISMATCH,
    /** Anything else: I/O error, connection refused, timeout. */
    IO
  }

  private final Code code;

  public RemoteStoreException(Code code, String message) {
    this(code, message, null);
  }

  public RemoteStoreException(Code code, String message, Throwable cause) {
    super(message, cause);
    this.code = code;
  }

  public Code code() {
    return code;
  }

  /** A URI fit for a message: no user info, no query (presigned URLs carry signatures there). */
  public static String redact(java.net.URI uri) {
    if (uri == null) return "null";
    if (uri.getRawUserInfo() == null && uri.getRawQuery() == null) return uri.toString();
    try {
      java.net.URI shown =
          new java.net.URI(
              uri.getScheme(), null, uri.getHost(), uri.getPort(), uri.getPath(), null, null);
      return shown + (uri.getRawQuery() != null ? "?…" : "");
    } catch (java.net.URISyntaxException e) {
      return uri.getScheme() + ":…";
    }
  }
}
