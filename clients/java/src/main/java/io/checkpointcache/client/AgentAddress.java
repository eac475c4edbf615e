package io.checkpointcache.client;

import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where the node agent listens: {@code host:port} (TCP) or {@code unix:/path} / {@code unix:///path}
 * (Unix domain socket), the same forms the TypeScript client and the {@code ckc} CLI accept.
 * Owns: parsing and validating agent addresses. Never: opening connections.
 */
public final class AgentAddress {
  private static final Pattern HOST_PORT =
      Pattern.compile("^(\\[[0-9a-fA-F:.]+\\]|[^\\s:/\\[\\]]+):(\\d{1,5})$");

  private final String text;
  private final String host;
  private final int port;
  private final String socketPath;

  private AgentAddress(String text, String host, int port, String socketPath) {
    this.text = text;
    this.host = host;
    this.port = port;
    this.socketPath = socketPath;
  }

  /**
   * Parses an agent address. {@code unix://path} (two slashes) is rejected because grpc reads its
   * first segment as a host; write {@code unix:/abs/path} or {@code unix:///abs/path}.
   *
   * @throws IllegalArgumentException naming the address and the accepted forms
   */
  public static AgentAddress parse(String address) {
    Objects.requireNonNull(address, "agent address");
    String text = address.trim();
    if (text.startsWith("unix:")) {
      String rest = text.substring("unix:".length());
      if (rest.startsWith("//") && !rest.startsWith("///")) {
        throw new IllegalArgumentException(
            "agent " + text + ": write unix:/absolute/path or unix:///absolute/path");
      }
      String path = "/" + rest.replaceFirst("^/+", "");
      if (path.equals("/") || !rest.startsWith("/")) {
        throw new IllegalArgumentException(
            "agent " + text + ": socket path missing or not absolute (unix:/absolute/path)");
      }
      return new AgentAddress(text, null, -1, path);
    }
    Matcher m = HOST_PORT.matcher(text);
    if (!m.matches()) {
      throw new IllegalArgumentException(
          "agent " + text + ": expected host:port, unix:/path or unix:///path");
    }
    int port = Integer.parseInt(m.group(2));
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("agent " + text + ": port must be 1 to 65535");
    }
    String host = m.group(1);
    if (host.startsWith("[")) host = host.substring(1, host.length() - 1);
    return new AgentAddress(text, host, port, null);
  }

  /** True for a Unix domain socket address. */
  public boolean isUnixSocket() {
    return socketPath != null;
  }

  /** TCP host (IPv6 without brackets); null for a Unix socket. */
  public String host() {
    return host;
  }

  /** TCP port; -1 for a Unix socket. */
  public int port() {
    return port;
  }

  /** Absolute socket path; null for TCP. */
  public String socketPath() {
    return socketPath;
  }

  @Override
  public String toString() {
    return text;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof AgentAddress other
        && Objects.equals(host, other.host)
        && port == other.port
        && Objects.equals(socketPath, other.socketPath);
  }

  @Override
  public int hashCode() {
    return Objects.hash(host, port, socketPath);
  }
}
