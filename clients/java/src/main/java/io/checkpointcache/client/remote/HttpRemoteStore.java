package io.checkpointcache.client.remote;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Remote store adapter for {@code http:} and {@code https:}: ranged GETs against any server that
 * honours {@code Range} (nginx, S3 presigned URLs, WebHDFS behind a gateway), through
 * {@link java.net.http.HttpClient}.
 * Owns: the Range request and checking that the answer covers exactly the bytes asked for. Never:
 * retries, or accepting a response that covers another range.
 */
public final class HttpRemoteStore implements RemoteStore {
  /**
   * Longest wait for the response headers (connect included). It does not limit the body: a slow
   * consumer pausing a large download must not kill it.
   */
  public static final Duration DEFAULT_RESPONSE_TIMEOUT = Duration.ofSeconds(30);

  private static final Pattern CONTENT_RANGE = Pattern.compile("^bytes (\\d+)-(\\d+)/(\\d+|\\*)$");

  private final HttpClient http;
  private final Duration responseTimeout;
  private final Map<String, String> headers;

  /** Defaults: HTTP/1.1, redirects followed (WebHDFS answers with a 307), 30 s to the headers. */
  public HttpRemoteStore() {
    this(
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .followRedirects(HttpClient.Redirect.NORMAL)
            .connectTimeout(DEFAULT_RESPONSE_TIMEOUT)
            .build(),
        DEFAULT_RESPONSE_TIMEOUT,
        Map.of());
  }

  /**
   * @param http the client to send requests with (TLS, proxy, redirect policy are its own)
   * @param responseTimeout longest wait for response headers
   * @param headers extra request headers, e.g. {@code Authorization}
   */
  public HttpRemoteStore(HttpClient http, Duration responseTimeout, Map<String, String> headers) {
    this.http = Objects.requireNonNull(http, "http");
    this.responseTimeout = Objects.requireNonNull(responseTimeout, "responseTimeout");
    this.headers = Map.copyOf(headers);
  }

  @Override
  public Set<String> schemes() {
    return Set.of("http", "https");
  }

  @Override
  public InputStream open(URI uri, long offset, Long length) throws IOException {
    checkHttp(uri);
    if (offset < 0 || (length != null && length < 0)) {
      throw new IllegalArgumentException("offset and length must be non-negative");
    }
    if (length != null && length == 0) {
      // bytes=o-(o-1) is not a valid range; an empty read needs no request at all.
      return InputStream.nullInputStream();
    }
    boolean wholeObject = offset == 0 && length == null;
    String last = length == null ? "" : String.valueOf(offset + length - 1);
    String what = "GET " + RemoteStoreException.redact(uri) + " bytes=" + offset + "-" + last;
    HttpRequest.Builder request = request(uri).GET().header("Accept-Encoding", "identity");
    if (!wholeObject) request.header("Range", "bytes=" + offset + "-" + last);
    HttpResponse<InputStream> res = send(request.build(), what);
    try {
      OptionalLong expected = checkRangeResponse(res, offset, length, what);
      return expected.isPresent()
          ? new ExactLengthInputStream(res.body(), expected.getAsLong(), what)
          : res.body();
    } catch (IOException | RuntimeException e) {
      res.body().close();
      throw e;
    }
  }

  @Override
  public long size(URI uri) throws IOException {
    checkHttp(uri);
    String what = "HEAD " + RemoteStoreException.redact(uri);
    HttpResponse<InputStream> res =
        send(request(uri).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), what);
    res.body().close();
    failOnErrorStatus(res, what);
    OptionalLong size = res.headers().firstValueAsLong("Content-Length");
    if (res.statusCode() != 200 || size.isEmpty() || size.getAsLong() < 0) {
      throw new RemoteStoreException(
          RemoteStoreException.Code.BAD_RESPONSE,
          what + ": expected 200 with a Content-Length, got " + res.statusCode());
    }
    return size.getAsLong();
  }

  private HttpRequest.Builder request(URI uri) {
    HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(responseTimeout);
    headers.forEach(b::header);
    return b;
  }

  private HttpResponse<InputStream> send(HttpRequest request, String what) throws IOException {
    try {
      return http.send(request, HttpResponse.BodyHandlers.ofInputStream());
    } catch (HttpTimeoutException e) {
      throw new RemoteStoreException(
          RemoteStoreException.Code.IO,
          what + ": no response within " + responseTimeout.toMillis() + " ms",
          e);
    } catch (IOException e) {
      throw new RemoteStoreException(RemoteStoreException.Code.IO, what + ": " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException(what + ": interrupted");
    }
  }

  private static void checkHttp(URI uri) throws RemoteStoreException {
    String scheme = uri.getScheme();
    if (scheme == null
        || !(scheme.equalsIgnoreCase("http") || scheme.equalsIgnoreCase("https"))
        || uri.getHost() == null) {
      throw new RemoteStoreException(
          RemoteStoreException.Code.UNSUPPORTED_URI,
          RemoteStoreException.redact(uri) + " is not an http:// or https:// URL");
    }
  }

  private static void failOnErrorStatus(HttpResponse<?> res, String what)
      throws RemoteStoreException {
    int code = res.statusCode();
    if (code >= 200 && code < 300) return;
    String text = what + ": HTTP " + code;
    if (code == 404 || code == 410) {
      throw new RemoteStoreException(RemoteStoreException.Code.NOT_FOUND, text);
    }
    if (code == 416) {
      String range = res.headers().firstValue("Content-Range").orElse(null);
      throw new RemoteStoreException(
          RemoteStoreException.Code.RANGE_NOT_SATISFIABLE,
          range == null ? text : text + " (" + range + ")");
    }
    throw new RemoteStoreException(RemoteStoreException.Code.BAD_RESPONSE, text);
  }

  /**
   * Checks that {@code res} carries exactly the asked range; returns the body length to expect,
   * or empty when the server did not say (a whole-object 200 without Content-Length).
   */
  private static OptionalLong checkRangeResponse(
      HttpResponse<?> res, long offset, Long length, String what) throws RemoteStoreException {
    failOnErrorStatus(res, what);
    String encoding = res.headers().firstValue("Content-Encoding").orElse(null);
    if (encoding != null && !encoding.equalsIgnoreCase("identity")) {
      throw new RemoteStoreException(
          RemoteStoreException.Code.BAD_RESPONSE,
          what + ": server sent Content-Encoding " + encoding + "; byte ranges need identity");
    }
    OptionalLong contentLength = res.headers().firstValueAsLong("Content-Length");
    if (res.statusCode() == 206) {
      String header = res.headers().firstValue("Content-Range").orElse("");
      Matcher m = CONTENT_RANGE.matcher(header);
      if (!m.matches()) {
        throw new RemoteStoreException(
            RemoteStoreException.Code.BAD_RESPONSE,
            what + ": 206 with Content-Range \"" + header + "\"");
      }
      long first = Long.parseLong(m.group(1));
      long last = Long.parseLong(m.group(2));
      Long total = m.group(3).equals("*") ? null : Long.parseLong(m.group(3));
      long wantedLast =
          length != null ? offset + length - 1 : total != null ? total - 1 : last;
      if (first != offset || last != wantedLast || (total != null && last >= total)) {
        throw new RemoteStoreException(
            RemoteStoreException.Code.BAD_RESPONSE,
            what
                + ": 206 with Content-Range \""
                + header
                + "\" does not cover bytes "
                + offset
                + "-"
                + wantedLast);
      }
      long expected = last - first + 1;
      if (contentLength.isPresent() && contentLength.getAsLong() != expected) {
        throw new RemoteStoreException(
            RemoteStoreException.Code.BAD_RESPONSE,
            what + ": Content-Length disagrees with Content-Range \"" + header + "\"");
      }
      return OptionalLong.of(expected);
    }
    if (res.statusCode() == 200) {
      // A plain 200 is the whole object: acceptable only when the whole object was asked for.
      boolean whole =
          offset == 0
              && (length == null
                  || (contentLength.isPresent() && contentLength.getAsLong() == length));
      if (!whole) {
        throw new RemoteStoreException(
            RemoteStoreException.Code.BAD_RESPONSE,
            what + ": server ignored the Range header (200 for the whole object)");
      }
      return contentLength;
    }
    throw new RemoteStoreException(
        RemoteStoreException.Code.BAD_RESPONSE, what + ": unexpected HTTP " + res.statusCode());
  }
}
