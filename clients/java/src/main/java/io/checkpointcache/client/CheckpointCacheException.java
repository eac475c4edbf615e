package io.checkpointcache.client;

import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.io.IOException;

/**
 * A failed call to the node agent, carrying the gRPC status code and the agent's message, so
 * callers branch on {@link #code()} and print {@link #details()}. An IOException because reads
 * surface it through {@link java.io.InputStream} methods.
 * Owns: turning grpc-java status errors into one client error type.
 */
public class CheckpointCacheException extends IOException {
  private static final long serialVersionUID = 1L;

  private final Status.Code code;
  private final String details;
  private final String rpc;
  private final String key;

  public CheckpointCacheException(
      Status.Code code, String details, String rpc, String key, Throwable cause) {
    super(
        rpc + (key == null ? "" : " " + quote(key)) + " failed: " + code + ": " + details, cause);
    this.code = code;
    this.details = details;
    this.rpc = rpc;
    this.key = key;
  }

  /** The gRPC status code ({@code NOT_FOUND}, {@code DATA_LOSS}, ...). */
  public Status.Code code() {
    return code;
  }

  /** The agent's message, or the client's for failures it detected itself. */
  public String details() {
    return details;
  }

  /** The RPC that failed: {@code Read}, {@code Write}, {@code Stat}, ... */
  public String rpc() {
    return rpc;
  }

  /** The entry key the call was about, when it had one. */
  public String key() {
    return key;
  }

  static CheckpointCacheException fromGrpc(Throwable t, String rpc, String key) {
    Status status = Status.fromThrowable(t);
    String details = status.getDescription() != null ? status.getDescription() : String.valueOf(t);
    return new CheckpointCacheException(status.getCode(), details, rpc, key, t);
  }

  static boolean isGrpcError(Throwable t) {
    return t instanceof StatusRuntimeException || t instanceof StatusException;
  }

  private static String quote(String key) {
    return "\"" + key.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
