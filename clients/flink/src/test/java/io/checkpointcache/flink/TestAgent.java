package io.checkpointcache.flink;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.client.CheckpointCacheClientOptions;
import io.checkpointcache.client.CheckpointCacheException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A real node agent as a child process ({@code node agents/node-agent/bin/ckc-agent.js}), the
 * same way the Java client's tests run one: its own temp cache dir, free TCP port and Unix socket,
 * and (no CKC_REDIS_URL) its own private redis-server. Tests stop it (SIGTERM) or flip bytes in
 * its files. The agent's log is {@code <home>/agent.log}.
 */
public final class TestAgent implements AutoCloseable {
  private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(15);

  private final Path home;
  private final int port;
  private final Process process;
  private List<ProcessHandle> family = List.of();

  private TestAgent(Path home, int port, Process process) {
    this.home = home;
    this.port = port;
    this.process = process;
  }

  /** The monorepo root (system property {@code ckc.repoRoot}, set by the pom). */
  public static Path repoRoot() {
    String root = System.getProperty("ckc.repoRoot");
    return (root != null ? Path.of(root) : Path.of("../..")).toAbsolutePath().normalize();
  }

  /** Starts an agent in a new directory under {@code parent} and waits until it serves. */
  public static TestAgent start(Path parent) throws IOException, InterruptedException {
    return start(parent, "flink-test", List.of());
  }

  /** {@link #start(Path)} with more flags for the agent. */
  public static TestAgent start(Path parent, List<String> extraArgs)
      throws IOException, InterruptedException {
    return start(parent, "flink-test", extraArgs);
  }

  /**
   * Starts a second node's agent (node id {@code nodeId}) on {@code first}'s Redis, as a
   * DaemonSet's agents share one: deletes on either reach the other's copies.
   */
  public static TestAgent startOtherNode(Path parent, TestAgent first, String nodeId)
      throws IOException, InterruptedException {
    String redis = "unix://" + first.home.resolve("cache").resolve("redis").resolve("redis.sock");
    return start(parent, nodeId, List.of("--redis-url", redis));
  }

  private static TestAgent start(Path parent, String nodeId, List<String> extraArgs)
      throws IOException, InterruptedException {
    Path repo = repoRoot();
    Path main = repo.resolve("agents/node-agent/lib/main.js");
    if (!Files.isRegularFile(main)) {
      throw new IllegalStateException(
          main + " is missing: run `npm run build` (or `npx tsc -b`) at " + repo + " first.");
    }
    // Short names: the agent's private Redis socket lives below it, and Unix socket paths are
    // limited to 103 bytes.
    Path home = null;
    for (int i = 1; home == null; i++) {
      try {
        home = Files.createDirectory(parent.resolve("agent" + i));
      } catch (java.nio.file.FileAlreadyExistsException e) {
        // Taken by an earlier agent of the same test; try the next name.
      }
    }
    int port = freePort();
    List<String> command =
        new java.util.ArrayList<>(
            List.of(
                "node",
                repo.resolve("agents/node-agent/bin/ckc-agent.js").toString(),
                "--listen",
                "127.0.0.1:" + port,
                "--socket",
                home.resolve("agent.sock").toString(),
                "--cache-dir",
                home.resolve("cache").toString(),
                "--node-id",
                nodeId,
                "--log-format",
                "text",
                "--shutdown-grace",
                "2s"));
    command.addAll(extraArgs);
    ProcessBuilder pb =
        new ProcessBuilder(command)
            .directory(repo.toFile())
            .redirectErrorStream(true)
            .redirectOutput(home.resolve("agent.log").toFile());
    // The agent must start its own private Redis; never one from the developer's environment.
    pb.environment().keySet().removeIf(name -> name.startsWith("CKC_"));
    TestAgent agent = new TestAgent(home, port, pb.start());
    agent.awaitServing();
    return agent;
  }

  /** The Unix socket address: the only transport the agent accepts writes and deletes over. */
  public String address() {
    return "unix:" + home.resolve("agent.sock");
  }

  public String tcpAddress() {
    return "127.0.0.1:" + port;
  }

  public Path home() {
    return home;
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  /** A client of this agent for assertions (stat, list); the caller closes it. */
  public CheckpointCacheClient client() {
    return CheckpointCacheClient.connect(address());
  }

  /** {@code <cache>/entries/<sha256(key)[0:2]>/<sha256(key)>}: where the agent keeps the bytes. */
  public Path entryFile(String key) {
    String id = sha256Hex(key);
    return home.resolve("cache").resolve("entries").resolve(id.substring(0, 2)).resolve(id);
  }

  /** XORs the byte at {@code offset} of the cached copy of {@code key} with 0xff. */
  public void corrupt(String key, long offset) throws IOException {
    try (FileChannel ch =
        FileChannel.open(entryFile(key), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer one = ByteBuffer.allocate(1);
      if (ch.read(one, offset) != 1) throw new IOException(key + ": no byte at " + offset);
      one.put(0, (byte) (one.get(0) ^ 0xff));
      one.rewind();
      ch.write(one, offset);
      ch.force(true);
    }
  }

  /**
   * Bytes of writes the agent is receiving now: the sizes of its staging files ({@code
   * <cache>/tmp}), where a Write's bytes go as they arrive until it commits or is dropped.
   */
  public long stagedBytes() throws IOException {
    Path staging = home.resolve("cache").resolve("tmp");
    if (!Files.isDirectory(staging)) return 0;
    long total = 0;
    try (var files = Files.list(staging)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        try {
          total += Files.size(f);
        } catch (java.nio.file.NoSuchFileException e) {
          // Committed or dropped while listed.
        }
      }
    }
    return total;
  }

  /** The number of files in the agent's staging directory ({@code <cache>/tmp}). */
  public long stagedFiles() throws IOException {
    Path staging = home.resolve("cache").resolve("tmp");
    if (!Files.isDirectory(staging)) return 0;
    try (var files = Files.list(staging)) {
      return files.count();
    }
  }

  /** SIGKILL of the agent (a crash: nothing it does on shutdown runs), then stops its Redis. */
  public void kill() throws InterruptedException {
    captureFamily();
    process.destroyForcibly();
    process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    stop();
  }

  /** Graceful stop: SIGTERM, then waits for the agent and its Redis to exit. */
  public void stop() throws InterruptedException {
    captureFamily();
    if (process.isAlive()) {
      process.destroy();
      if (!process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      }
    }
    for (ProcessHandle p : family) {
      if (p.isAlive()) p.destroyForcibly();
    }
    for (ProcessHandle p : family) {
      try {
        p.onExit().get(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      } catch (ExecutionException | TimeoutException e) {
        // The next agent gets its own Redis port; a straggler does not block it.
      }
    }
  }

  @Override
  public void close() {
    try {
      stop();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * The value of one sample of the agent's Prometheus metrics, such as {@code
   * ckc_write_batch_items_count} (a sample without labels); 0 when the agent has not reported it.
   * Only for an agent started with {@code --metrics-listen 127.0.0.1:0}: its start-up record in
   * the log names the port it bound.
   */
  public double metric(String sample) throws IOException {
    String log = Files.readString(home.resolve("agent.log"), StandardCharsets.UTF_8);
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("\"metrics\":\"([^\"]+:\\d+)\"").matcher(log);
    if (!m.find()) throw new IllegalStateException("no metrics port in the agent's log:\n" + logTail());
    java.net.HttpURLConnection http =
        (java.net.HttpURLConnection) java.net.URI.create("http://" + m.group(1) + "/metrics").toURL()
            .openConnection();
    try (var in = http.getInputStream()) {
      for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
        if (line.startsWith(sample + " ")) return Double.parseDouble(line.substring(sample.length() + 1));
      }
      return 0;
    } finally {
      http.disconnect();
    }
  }

  /** The last lines of the agent's log, for failure messages. */
  public String logTail() {
    try {
      List<String> lines = Files.readAllLines(home.resolve("agent.log"), StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  private void awaitServing() throws InterruptedException {
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException(
            "the agent exited with " + process.exitValue() + " during start-up:\n" + logTail());
      }
      if (Files.exists(home.resolve("agent.sock")) && accepts(port) && answers()) {
        captureFamily();
        return;
      }
      Thread.sleep(50);
    }
    stop();
    throw new IllegalStateException("the agent did not serve within 30 s:\n" + logTail());
  }

  /** A Stat of a key nobody wrote answers NOT_FOUND once the service is up. */
  private boolean answers() {
    try (CheckpointCacheClient c =
        new CheckpointCacheClient(
            CheckpointCacheClientOptions.builder(tcpAddress())
                .unaryTimeout(Duration.ofSeconds(2))
                .build())) {
      c.stat("readiness-probe", true);
      return true;
    } catch (CheckpointCacheException e) {
      return e.code() == io.grpc.Status.Code.NOT_FOUND;
    }
  }

  private void captureFamily() {
    if (process.isAlive()) family = process.toHandle().descendants().toList();
  }

  private static boolean accepts(int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 200);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  static String sha256Hex(String key) {
    try {
      return HexFormat.of()
          .formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }
}
