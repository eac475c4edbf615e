package io.checkpointcache.cluster;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The JobManager's REST API, as an operator's tooling uses it: upload a jar, run its main class,
 * read job state, checkpoint counts and TaskManagers. Plain HTTP and JSON; nothing of Flink's
 * client runs in the harness.
 */
final class FlinkRest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  private final String base;
  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  FlinkRest(String hostAndPort) {
    this.base = "http://" + hostAndPort;
  }

  /** Uploads {@code jar}; returns its id on the JobManager. */
  String uploadJar(Path jar) throws IOException, InterruptedException {
    String boundary = "ckc" + UUID.randomUUID().toString().replace("-", "");
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    body.write(
        ("--" + boundary + "\r\n"
                + "Content-Disposition: form-data; name=\"jarfile\"; filename=\"" + jar.getFileName() + "\"\r\n"
                + "Content-Type: application/x-java-archive\r\n\r\n")
            .getBytes(StandardCharsets.UTF_8));
    body.write(Files.readAllBytes(jar));
    body.write(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
    JsonNode answer =
        send(
            HttpRequest.newBuilder(URI.create(base + "/jars/upload"))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())));
    String file = answer.path("filename").asText();
    if (file.isEmpty()) throw new IOException("jar upload: " + answer);
    return Path.of(file).getFileName().toString();
  }

  /** Runs {@code entryClass} of an uploaded jar; returns the job id. */
  String runJar(String jarId, String entryClass, List<String> args, int parallelism)
      throws IOException, InterruptedException {
    return runJar(jarId, entryClass, args, parallelism, null);
  }

  /**
   * As {@link #runJar(String, String, List, int)}, restoring from {@code restorePath} (a retained
   * checkpoint's or a savepoint's directory) when it is not null.
   */
  String runJar(String jarId, String entryClass, List<String> args, int parallelism, String restorePath)
      throws IOException, InterruptedException {
    ObjectNode request = JSON.createObjectNode();
    if (restorePath != null) request.put("savepointPath", restorePath);
    request.put("entryClass", entryClass);
    request.putPOJO("programArgsList", args);
    request.put("parallelism", parallelism);
    JsonNode answer =
        send(
            HttpRequest.newBuilder(URI.create(base + "/jars/" + jarId + "/run"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(request))));
    String jobId = answer.path("jobid").asText();
    if (jobId.isEmpty()) throw new IOException("jar run: " + answer);
    return jobId;
  }

  /** RUNNING, FINISHED, FAILED, RESTARTING, ... */
  String jobState(String jobId) throws IOException, InterruptedException {
    return get("/jobs/" + jobId).path("state").asText();
  }

  /** Completed checkpoints of the job so far. */
  long completedCheckpoints(String jobId) throws IOException, InterruptedException {
    return get("/jobs/" + jobId + "/checkpoints").path("counts").path("completed").asLong();
  }

  /** The checkpoint statistics, as JSON (for the report). */
  JsonNode checkpoints(String jobId) throws IOException, InterruptedException {
    return get("/jobs/" + jobId + "/checkpoints");
  }

  /** The job's root exception and history, for error messages. */
  String exceptions(String jobId) throws IOException, InterruptedException {
    return get("/jobs/" + jobId + "/exceptions").toString();
  }

  /** TaskManagers registered with the ResourceManager. */
  int taskManagers() throws IOException, InterruptedException {
    return get("/taskmanagers").path("taskmanagers").size();
  }

  /** Cancels the job (a rescale, or when a run is abandoned). */
  void cancel(String jobId) throws IOException, InterruptedException {
    http.send(
        HttpRequest.newBuilder(URI.create(base + "/jobs/" + jobId + "?mode=cancel"))
            .timeout(TIMEOUT)
            .method("PATCH", HttpRequest.BodyPublishers.noBody())
            .build(),
        HttpResponse.BodyHandlers.discarding());
  }

  JsonNode get(String path) throws IOException, InterruptedException {
    return send(HttpRequest.newBuilder(URI.create(base + path)).GET());
  }

  private JsonNode send(HttpRequest.Builder request) throws IOException, InterruptedException {
    HttpResponse<String> response =
        http.send(request.timeout(TIMEOUT).build(), HttpResponse.BodyHandlers.ofString());
    if (response.statusCode() / 100 != 2) {
      throw new IOException(
          response.request().method() + " " + response.request().uri() + ": HTTP "
              + response.statusCode() + " " + response.body());
    }
    return JSON.readTree(response.body());
  }
}
