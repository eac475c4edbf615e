package io.checkpointcache.client;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real node agent as a child process ({@code node agents/node-agent/bin/ckc-agent.js}) with its
 * own temp cache dir, TCP port and Unix socket, and, since no CKC_REDIS_URL is given, its own
 * private redis-server. Tests stop it (SIGTERM), kill it (SIGKILL) or flip bytes in its files.
 * The agent's log goes to {@code <cacheDir>/../agent.log} and is quoted when it fails to start.
 */
final class TestAgent {
  private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(15);

  private final Path home;
  private final Path cacheDir;
  private final Path socket;
  private final Path log;
  private final int port;
  private final Process process;
  /** The agent and its descendants (the embedded redis-server), captured while it runs. */
  private List<ProcessHandle> family = List.of();

  private TestAgent(Path home, int port, Process process) {
    this.home = home;
    this.cacheDir = home.resolve("cache");
    this.socket = home.resolve("agent.sock");
    this.log = home.resolve("agent.log");
    this.port = port;
    this.process = process;
  }

  /** The monorepo root (system property {@code ckc.repoRoot}, set by the pom). */
  static Path repoRoot() {
    String root = System.getProperty("ckc.repoRoot");
    Path path = root != null ? Path.of(root) : Path.of("../..");
    return path.toAbsolutePath().normalize();
  }

  /** Starts an agent in a new directory under {@code parent} and waits until it serves. */
  static TestAgent start(Path parent) throws IOException, InterruptedException {
    return start(parent, new String[0]);
  }

  /** An agent started with {@code extraArgs} after the default flags (so they win). */
  static TestAgent start(Path parent, String... extraArgs)
      throws IOException, InterruptedException {
    Path repo = repoRoot();
    Path main = repo.resolve("agents/node-agent/lib/main.js");
    if (!Files.isRegularFile(main)) {
      throw new IllegalStateException(
          main
              + " is missing: the TypeScript agent is not built. Run `npm run build` (or"
              + " `npx tsc -b`) at the repo root "
              + repo
              + " before the Java tests.");
    }
    Path home = Files.createTempDirectory(parent, "agent-");
    int port = freePort();
    Path cacheDir = home.resolve("cache");
    Path socket = home.resolve("agent.sock");
    Path log = home.resolve("agent.log");
    java.util.List<String> command =
        new java.util.ArrayList<>(
            java.util.List.of(
                "node",
                repo.resolve("agents/node-agent/bin/ckc-agent.js").toString(),
                "--listen",
                "127.0.0.1:" + port,
                "--socket",
                socket.toString(),
                "--cache-dir",
                cacheDir.toString(),
                "--node-id",
                "java-test",
                "--log-format",
                "text",
                "--shutdown-grace",
                "2s",
                // The scenarios write over TCP as well as over the socket.
                "--write-access",
                "any",
                "--ingest-dir",
                Files.createDirectories(home.resolve("ingest")).toString()));
    command.addAll(java.util.List.of(extraArgs));
    ProcessBuilder pb =
        new ProcessBuilder(command)
            .directory(repo.toFile())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile());
    // The agent must start its own private Redis; never one from the developer's environment.
    pb.environment().keySet().removeIf(name -> name.startsWith("CKC_"));
    Process process;
    try {
      process = pb.start();
    } catch (IOException e) {
      throw new IllegalStateException("cannot run `node` (is Node.js on PATH?): " + e, e);
    }
    TestAgent agent = new TestAgent(home, port, process);
    agent.awaitServing();
    return agent;
  }

  /** The agent's --ingest-dir. */
  Path ingestDir() {
    return home.resolve("ingest");
  }

  String tcpAddress() {
    return "127.0.0.1:" + port;
  }

  String unixAddress() {
    return "unix:" + socket;
  }

  /** The agent address for a transport named in the conformance data: tcp or unix. */
  String address(String transport) {
    return switch (transport) {
      case "tcp" -> tcpAddress();
      case "unix" -> unixAddress();
      default -> throw new IllegalArgumentException("unknown transport " + transport);
    };
  }

  Path cacheDir() {
    return cacheDir;
  }

  boolean isAlive() {
    return process.isAlive();
  }

  /** {@code <cacheDir>/entries/<sha256(key)[0:2]>/<sha256(key)>}: where the agent keeps the bytes. */
  Path entryFile(String key) {
    String id = sha256Hex(key);
    return cacheDir.resolve("entries").resolve(id.substring(0, 2)).resolve(id);
  }

  /** XORs the byte at {@code offset} of the cached copy of {@code key} with 0xff. */
  void corrupt(String key, long offset) throws IOException {
    Path file = entryFile(key);
    try (var channel =
        java.nio.channels.FileChannel.open(
            file, java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE)) {
      java.nio.ByteBuffer one = java.nio.ByteBuffer.allocate(1);
      if (channel.read(one, offset) != 1) throw new IOException(file + ": no byte at " + offset);
      one.flip();
      one.put(0, (byte) (one.get(0) ^ 0xff));
      channel.write(one, offset);
      channel.force(true);
    }
  }

  /** Graceful stop: SIGTERM, then waits for the agent (and its Redis) to exit. */
  void stop() throws InterruptedException {
    captureFamily();
    if (process.isAlive()) {
      process.destroy(); // SIGTERM on Linux
      if (!process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      }
    }
    killLeftovers();
  }

  /** SIGKILL, as a crash: the agent gets no chance to finish anything. Its Redis is reaped too. */
  void kill() throws InterruptedException {
    captureFamily();
    process.destroyForcibly(); // SIGKILL
    process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    killLeftovers();
  }

  /** The last lines of the agent's log, for failure messages. */
  String logTail() {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  private void awaitServing() throws InterruptedException, IOException {
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException(
            "the agent exited with " + process.exitValue() + " during start-up:\n" + logTail());
      }
      if (Files.exists(socket) && accepts(port) && answers()) {
        captureFamily();
        return;
      }
      Thread.sleep(50);
    }
    kill();
    throw new IllegalStateException(
        "the agent did not serve within " + START_TIMEOUT.toSeconds() + " s:\n" + logTail());
  }

  /** A Stat of a key nobody wrote answers NOT_FOUND once the service is up. */
  private boolean answers() {
    try (CheckpointCacheClient client =
        new CheckpointCacheClient(
            CheckpointCacheClientOptions.builder(tcpAddress())
                .unaryTimeout(Duration.ofSeconds(2))
                .build())) {
      client.stat("readiness-probe", true);
      return true;
    } catch (CheckpointCacheException e) {
      return e.code() == io.grpc.Status.Code.NOT_FOUND;
    }
  }

  private static boolean accepts(int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 200);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private void captureFamily() {
    if (!process.isAlive()) return;
    family = process.toHandle().descendants().toList();
  }

  private void killLeftovers() throws InterruptedException {
    for (ProcessHandle p : family) {
      if (p.isAlive()) p.destroyForcibly();
    }
    for (ProcessHandle p : family) {
      try {
        p.onExit().get(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
        // Reported by the next test that cannot start its own; nothing more to do here.
      }
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    }
  }

  static String sha256Hex(String key) {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      return HexFormat.of().formatHex(md.digest(key.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }

  /** The directory this agent lives in (cache dir, socket, log). */
  Path home() {
    return home;
  }
}
