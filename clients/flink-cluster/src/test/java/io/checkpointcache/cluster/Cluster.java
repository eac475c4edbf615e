package io.checkpointcache.cluster;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * The machines of the cluster and what runs on them for its whole life: the network, one shared
 * Redis ("redis" host), HDFS ("storage" host, its link shaped), the JobManager's host ("jm") and
 * the worker nodes ("node0", "node1", ...). Per run, {@link FlinkRun} adds agents and Flink
 * processes on these hosts.
 *
 * <p>Owns: the hosts, the Redis and HDFS processes, the work dir. Never: start a process outside
 * a host's namespace, or leave anything behind (everything is registered with the janitor).
 */
final class Cluster implements AutoCloseable {
  static final int REDIS_PORT = 6379;
  static final int HDFS_PORT = 8020;

  /** Where the harness finds what it starts (system properties set by the pom's argfile). */
  record Inputs(Path repoRoot, Path pluginJar, List<String> flinkClasspath, Path jobClasses, List<String> flinkJvmOpts) {
    static Inputs fromSystemProperties() throws IOException {
      Path cpFile = Path.of(required("ckc.flinkClasspath"));
      List<String> cp =
          List.of(Files.readString(cpFile, StandardCharsets.UTF_8).trim().split(java.io.File.pathSeparator));
      return new Inputs(
          Path.of(required("ckc.repoRoot")).toAbsolutePath().normalize(),
          Path.of(required("ckc.pluginJar")).toAbsolutePath().normalize(),
          cp,
          Path.of(required("ckc.jobClasses")),
          List.of(required("ckc.flinkJvmOpts").trim().split("\\s+")));
    }

    private static String required(String name) {
      String v = System.getProperty(name);
      if (v == null || v.isBlank()) {
        throw new IllegalStateException(
            "system property " + name + " is missing: run through target/cluster.argfile");
      }
      return v;
    }
  }

  final Inputs inputs;
  final Path work;
  final Janitor janitor;
  final NodeNetwork network;
  final NodeNetwork.Host redisHost;
  final NodeNetwork.Host storage;
  final NodeNetwork.Host jmHost;
  final List<NodeNetwork.Host> nodes;
  /** Whether the work dir stays after the harness ends ({@code --keep}): then runs keep their data too. */
  final boolean keepWork;
  private final List<HostProcess> services = new ArrayList<>();

  private Cluster(
      Inputs inputs, Path work, Janitor janitor, NodeNetwork network, NodeNetwork.Host redisHost,
      NodeNetwork.Host storage, NodeNetwork.Host jmHost, List<NodeNetwork.Host> nodes,
      boolean keepWork) {
    this.inputs = inputs;
    this.keepWork = keepWork;
    this.work = work;
    this.janitor = janitor;
    this.network = network;
    this.redisHost = redisHost;
    this.storage = storage;
    this.jmHost = jmHost;
    this.nodes = nodes;
  }

  /**
   * Makes the hosts and starts Redis and HDFS (storage link shaped to {@code storageMbit}, 0: not
   * shaped).
   */
  static Cluster start(Inputs inputs, String subnet, int nodeCount, int storageMbit, boolean keepWork)
      throws IOException, InterruptedException {
    Janitor janitor = Janitor.start();
    try {
      // Short: Unix socket paths (the agents') are limited to 107 bytes.
      Path work = Files.createDirectories(Path.of("/tmp", "ckcl-" + ProcessHandle.current().pid()));
      if (!keepWork) janitor.atEnd("rm -rf '" + work + "'");
      NodeNetwork network = NodeNetwork.create(subnet, janitor);
      NodeNetwork.Host redis = network.addHost("redis");
      NodeNetwork.Host storage = network.addHost("storage");
      NodeNetwork.Host jm = network.addHost("jm");
      List<NodeNetwork.Host> nodes = new ArrayList<>();
      for (int i = 0; i < nodeCount; i++) nodes.add(network.addHost("node" + i));
      Cluster cluster = new Cluster(inputs, work, janitor, network, redis, storage, jm, nodes, keepWork);
      cluster.startRedis();
      cluster.startHdfs(storageMbit);
      return cluster;
    } catch (IOException | InterruptedException | RuntimeException e) {
      janitor.close();
      throw e;
    }
  }

  String redisUrl() {
    return "redis://" + redisHost.address() + ":" + REDIS_PORT;
  }

  /** The remote file system's root, as Flink names it. */
  String hdfsUri() {
    return "hdfs://" + storage.address() + ":" + HDFS_PORT;
  }

  /** The java executable and the JVM options every Flink process gets. */
  List<String> java(int heapMb, List<String> extra) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx" + heapMb + "m");
    cmd.addAll(inputs.flinkJvmOpts());
    cmd.addAll(extra);
    return cmd;
  }

  String flinkClasspath() {
    return String.join(java.io.File.pathSeparator, inputs.flinkClasspath());
  }

  private void startRedis() throws IOException, InterruptedException {
    Path dir = Files.createDirectories(work.resolve("redis"));
    HostProcess redis =
        HostProcess.start(
            "redis", redisHost,
            List.of("redis-server", "--bind", redisHost.address(), "--port", String.valueOf(REDIS_PORT),
                "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", dir.toString(),
                "--notify-keyspace-events", "Ex"),
            Map.of(), dir.resolve("redis.log"));
    services.add(redis);
    waitFor("Redis", Duration.ofSeconds(20), redis, () -> redis.logContains("Ready to accept connections"));
  }

  private void startHdfs(int storageMbit) throws IOException, InterruptedException {
    Path dir = Files.createDirectories(work.resolve("hdfs"));
    List<String> cmd = java(384, List.of());
    cmd.addAll(List.of(
        "-Dlog4j.configurationFile=" + log4jConfig(dir.resolve("log4j2.properties")).toUri(),
        "-Dlog.file=" + dir.resolve("hdfs.log"),
        "-cp", flinkClasspath() + java.io.File.pathSeparator + inputs.jobClasses(),
        HdfsServer.class.getName(), storage.address(), String.valueOf(HDFS_PORT), dir.toString()));
    HostProcess hdfs = HostProcess.start("hdfs", storage, cmd, Map.of(), dir.resolve("hdfs.out"));
    services.add(hdfs);
    waitFor("HDFS", Duration.ofSeconds(120), hdfs, () -> hdfs.logContains(HdfsServer.READY));
    if (storageMbit > 0) NodeNetwork.shapeEgress(storage, storageMbit);
  }

  /** A log4j2 configuration writing to {@code ${sys:log.file}}, warnings only for the chatty. */
  static Path log4jConfig(Path file) throws IOException {
    Files.writeString(
        file,
        String.join("\n",
            "rootLogger.level = INFO",
            "rootLogger.appenderRef.file.ref = file",
            "appender.file.type = File",
            "appender.file.name = file",
            "appender.file.fileName = ${sys:log.file}",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = %d{HH:mm:ss,SSS} %-5p %-40c{1.} %m%n",
            "logger.hadoop.name = org.apache.hadoop",
            "logger.hadoop.level = WARN",
            "logger.pekko.name = org.apache.pekko",
            "logger.pekko.level = WARN",
            ""),
        StandardCharsets.UTF_8);
    return file;
  }

  /** Polls {@code ready} every 100 ms until it holds; fails if {@code process} dies or time runs out. */
  static void waitFor(String what, Duration timeout, HostProcess process, BooleanSupplier ready)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!ready.getAsBoolean()) {
      if (process != null) process.checkAlive();
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(
            what + " not ready within " + timeout.toSeconds() + " s"
                + (process == null ? "" : "; " + process.log() + " ends:\n" + process.logTail()));
      }
      Thread.sleep(100);
    }
  }

  /** GET {@code url}; its body, or null when it does not answer 200. */
  static String httpGet(String url) {
    try {
      HttpResponse<String> r =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
                  HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200 ? r.body() : null;
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  @Override
  public void close() {
    for (int i = services.size() - 1; i >= 0; i--) {
      try {
        services.get(i).stop();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    janitor.close();
  }
}
