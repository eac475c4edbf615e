package io.checkpointcache.client;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An HTTP server on a free loopback port serving one byte array, the way remote stores do and the
 * ways they go wrong: {@code /ok} honours Range (206), {@code /ignore-range} always answers 200
 * with everything, {@code /short} promises a range and sends 10 bytes less, anything else is 404.
 */
final class RangeHttpServer implements AutoCloseable {
  private static final Pattern RANGE = Pattern.compile("^bytes=(\\d+)-(\\d*)$");

  private final HttpServer server;
  private final byte[] data;

  private RangeHttpServer(byte[] data) throws IOException {
    this.data = data;
    this.server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", this::handle);
    server.start();
  }

  static RangeHttpServer serving(byte[] data) throws IOException {
    return new RangeHttpServer(data);
  }

  URI uri(String path) {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + path);
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      String path = ex.getRequestURI().getPath();
      boolean head = ex.getRequestMethod().equals("HEAD");
      if (!path.equals("/ok") && !path.equals("/ignore-range") && !path.equals("/short")) {
        ex.sendResponseHeaders(404, -1);
        return;
      }
      String range = ex.getRequestHeaders().getFirst("Range");
      if (range == null || path.equals("/ignore-range")) {
        ex.getResponseHeaders().set("Content-Length", String.valueOf(data.length));
        ex.sendResponseHeaders(200, head ? -1 : data.length);
        if (!head) ex.getResponseBody().write(data);
        return;
      }
      Matcher m = RANGE.matcher(range);
      if (!m.matches()) {
        ex.sendResponseHeaders(400, -1);
        return;
      }
      long first = Long.parseLong(m.group(1));
      long last = m.group(2).isEmpty() ? data.length - 1 : Long.parseLong(m.group(2));
      if (first >= data.length || last >= data.length || last < first) {
        ex.getResponseHeaders().set("Content-Range", "bytes */" + data.length);
        ex.sendResponseHeaders(416, -1);
        return;
      }
      int length = (int) (last - first + 1);
      ex.getResponseHeaders().set("Content-Range", "bytes " + first + "-" + last + "/" + data.length);
      boolean shortBody = path.equals("/short");
      // Chunked (0) for the short body, so the client sees a clean end, not a broken connection.
      ex.sendResponseHeaders(206, shortBody ? 0 : length);
      OutputStream out = ex.getResponseBody();
      out.write(data, (int) first, shortBody ? Math.max(0, length - 10) : length);
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
