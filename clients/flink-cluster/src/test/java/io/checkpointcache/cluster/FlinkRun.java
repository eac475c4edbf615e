package io.checkpointcache.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One Flink session cluster on the {@link Cluster}'s hosts, configured for one of the compared
 * set-ups: a JobManager process, TaskManager processes on the worker nodes, and (for the ckc
 * set-ups) one agent per node with a cache dir and Unix socket of its own, all on the shared Redis
 * under a prefix of this run. TaskManagers can be killed and new ones started while it runs.
 *
 * <p>Owns: those processes (stopped by pid in {@link #close}) and the run's dir. Never: reuse
 * another run's cache, working dirs or checkpoint dir.
 */
final class FlinkRun implements AutoCloseable {
  static final int REST_PORT = 8081;
  static final int AGENT_PORT = 7878;
  static final int AGENT_METRICS_PORT = 9464;

  /**
   * The compared set-ups (issue 12), plus the cache with Flink's sticky scheduling alone:
   * {@code execution.state-recovery.from-local} is what makes Flink's scheduler give a restarted
   * subtask its previous slot (PreviousAllocationSlotSelectionStrategy), without local copies;
   * and that with SYNC uploads, so no checkpoint completes before its files are in the cache.
   * Every cache set-up reads through the same-node short circuit (the TaskManager sees the node's
   * cache directory) except {@code ckc-stream}, which streams every byte from the agent.
   */
  enum Setup {
    NONE("none", false, false, false, false, false),
    LOCAL_RECOVERY("local-recovery", false, true, true, false, false),
    CKC("ckc", true, false, false, false, true),
    CKC_STREAM("ckc-stream", true, false, false, false, false),
    CKC_LOCAL_RECOVERY("ckc+local-recovery", true, true, true, false, true),
    CKC_STICKY("ckc+sticky", true, false, true, false, true),
    CKC_SYNC_STICKY("ckc-sync+sticky", true, false, true, true, true),
    /** {@code ckc} whose files are all copied after close (upload.streams 0), streamed. */
    CKC_AFTER_CLOSE("ckc-after-close", true, false, false, false, true, false, true),
    /** {@code ckc} whose files are copied after close and handed to the agent by name (Ingest). */
    CKC_INGEST("ckc-ingest", true, false, false, false, true, true, true);

    final String label;
    final boolean cache;
    final boolean localBackup;
    final boolean fromLocal;
    final boolean syncUpload;
    final boolean shortCircuit;
    /** {@code checkpoint-cache.ingest-dir} (the agent's --ingest-dir). */
    final boolean ingest;
    /** {@code checkpoint-cache.upload.streams} 0: every file copied after close. */
    final boolean afterClose;

    Setup(String label, boolean cache, boolean localBackup, boolean fromLocal, boolean syncUpload, boolean shortCircuit) {
      this(label, cache, localBackup, fromLocal, syncUpload, shortCircuit, false, false);
    }

    Setup(String label, boolean cache, boolean localBackup, boolean fromLocal, boolean syncUpload, boolean shortCircuit,
        boolean ingest, boolean afterClose) {
      this.afterClose = afterClose;
      this.label = label;
      this.cache = cache;
      this.localBackup = localBackup;
      this.fromLocal = fromLocal;
      this.syncUpload = syncUpload;
      this.shortCircuit = shortCircuit;
      this.ingest = ingest;
    }

    static Setup of(String label) {
      for (Setup s : values()) if (s.label.equals(label)) return s;
      throw new IllegalArgumentException("unknown set-up " + label);
    }
  }

  /**
   * @param taskHeapMb task heap of each TaskManager (the hashmap backend's state lives there)
   * @param managedMb managed memory of each TaskManager (RocksDB's)
   * @param minPause Flink's {@code execution.checkpointing.min-pause}: quiet time after each
   *     completed checkpoint ({@link Duration#ZERO}: Flink's default, none)
   */
  record Options(
      Setup setup, int tmsPerNode, int slotsPerTm, int taskHeapMb, int managedMb, String backend,
      Duration checkpointInterval, Duration minPause) {}

  /** A TaskManager process and what identifies it. */
  record TaskManager(int node, String resourceId, Path workingDir, HostProcess process) {}

  private final Cluster cluster;
  private final Options options;
  private final Path dir;
  private final Map<String, String> common;
  private final List<HostProcess> agents = new ArrayList<>();
  private final List<TaskManager> taskManagers = new ArrayList<>();
  private final AgentCounters counters = new AgentCounters(AGENT_METRICS_PORT);
  private HostProcess jobManager;
  private int started;

  private FlinkRun(Cluster cluster, Options options, Path dir, Map<String, String> common) {
    this.cluster = cluster;
    this.options = options;
    this.dir = dir;
    this.common = common;
  }

  /** Starts agents (ckc set-ups), the JobManager and every TaskManager; waits until all registered. */
  static FlinkRun start(Cluster cluster, Options options, String name)
      throws IOException, InterruptedException {
    Path dir = Files.createDirectories(cluster.work.resolve("runs").resolve(name));
    FlinkRun run = new FlinkRun(cluster, options, dir, commonConfig(cluster, options, name));
    try {
      if (options.setup().cache) {
        for (int n = 0; n < cluster.nodes.size(); n++) {
          run.startAgent(cluster.nodes.get(n), run.nodeDir(n), true, name);
        }
        // The JobManager's node has an agent too (a DaemonSet runs on every node): Flink deletes
        // subsumed and aborted checkpoints there, and those deletes reach every node's copies.
        run.startAgent(cluster.jmHost, run.dir.resolve("jm"), false, name);
      }
      run.startJobManager();
      for (int n = 0; n < cluster.nodes.size(); n++) {
        for (int t = 0; t < options.tmsPerNode(); t++) run.startTaskManager(n);
      }
      FlinkRest rest = run.rest();
      int expected = cluster.nodes.size() * options.tmsPerNode();
      Cluster.waitFor("TaskManagers", Duration.ofSeconds(120), run.jobManager, () -> registered(rest) >= expected);
      return run;
    } catch (IOException | InterruptedException | RuntimeException e) {
      run.close();
      throw e;
    }
  }

  FlinkRest rest() {
    return new FlinkRest(cluster.jmHost.address() + ":" + REST_PORT);
  }

  Path dir() {
    return dir;
  }

  List<TaskManager> taskManagers() {
    return List.copyOf(taskManagers);
  }

  /** Starts a TaskManager on {@code node} with a new resource id and working directory. */
  TaskManager startTaskManager(int node) throws IOException {
    String resourceId = "node" + node + "-tm" + (started++);
    return startTaskManager(node, resourceId, dir.resolve("node" + node).resolve(resourceId));
  }

  /**
   * Starts a TaskManager in place of the (killed) {@code tm}: the same resource id and working
   * directory, as a StatefulSet pod with a persistent volume comes back (FLIP-198).
   */
  TaskManager restartSameId(TaskManager tm) throws IOException {
    return startTaskManager(tm.node(), tm.resourceId(), tm.workingDir());
  }

  /** SIGKILLs {@code tm}: no deregistration, as when a pod or machine dies. */
  void kill(TaskManager tm) throws InterruptedException {
    tm.process().kill();
    taskManagers.remove(tm);
  }

  /** The TaskManager with this resource id, if it runs. */
  TaskManager taskManager(String resourceId) {
    return taskManagers.stream()
        .filter(tm -> tm.resourceId().equals(resourceId))
        .findFirst()
        .orElseThrow(() -> new IllegalStateException("no TaskManager " + resourceId));
  }

  /** SIGKILLs {@code node}'s agent (ckc set-ups) and every TaskManager on it: the node is lost. */
  void killNode(int node) throws InterruptedException {
    for (TaskManager tm : taskManagers()) {
      if (tm.node() == node) kill(tm);
    }
    for (HostProcess agent : agents) {
      if (agent.name().equals("agent-" + cluster.nodes.get(node).name())) agent.kill();
    }
  }

  /**
   * Bytes the agents served to TaskManagers: streamed (their {@code ckc_read_bytes_total}, less
   * what they served to each other: a peer read is counted by the agent that sends it and again by
   * the one that hands it on) and leased to the short circuit ({@code ckc_leased_bytes_total}: the
   * TaskManager reads those from the cache directory itself).
   */
  long cacheBytesRead() {
    long[] c = agentCounters();
    return c[0] - c[1] + c[3];
  }

  /** Bytes the agents read from each other's agents (their {@code ckc_peer_read_bytes_total}). */
  long peerBytesRead() {
    return agentCounters()[1];
  }

  /**
   * Bytes the cache holds on every node of the run, the JobManager's included (the sum of the
   * agents' {@code ckc_entry_bytes}).
   */
  long cacheBytesHeld() {
    return options.setup().cache ? counters.sum(agentHosts())[2] : 0;
  }

  /** Per node {read, peer, held, leased}; the JobManager's agent serves no reads. */
  private long[] agentCounters() {
    return options.setup().cache ? counters.sum(cluster.nodes) : new long[4];
  }

  private List<NodeNetwork.Host> agentHosts() {
    List<NodeNetwork.Host> hosts = new ArrayList<>(cluster.nodes);
    hosts.add(cluster.jmHost);
    return hosts;
  }

  private static int registered(FlinkRest rest) {
    try {
      return rest.taskManagers();
    } catch (IOException e) {
      return -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  private static Map<String, String> commonConfig(Cluster cluster, Options o, String name) {
    Map<String, String> c = new LinkedHashMap<>();
    String jm = cluster.jmHost.address();
    c.put("jobmanager.rpc.address", jm);
    c.put("jobmanager.rpc.port", "6123");
    // Every address of the JobManager's namespace (its own /24 address and loopback): a jar run
    // through REST uploads its job graph to the blob server at localhost.
    c.put("jobmanager.bind-host", "0.0.0.0");
    c.put("rest.address", jm);
    c.put("rest.bind-address", jm);
    c.put("rest.port", String.valueOf(REST_PORT));
    c.put("blob.server.port", "6124");
    // Notice a dead TaskManager within seconds, as LocalRecoveryITCase does: the restore time then
    // measures the restore, not a 50 s default heartbeat timeout.
    c.put("heartbeat.interval", "1000");
    c.put("heartbeat.timeout", "5000");
    c.put("heartbeat.rpc-failure-threshold", "1");
    c.put("restart-strategy.type", "fixed-delay");
    c.put("restart-strategy.fixed-delay.attempts", "50");
    c.put("restart-strategy.fixed-delay.delay", "1 s");
    c.put("execution.checkpointing.interval", o.checkpointInterval().toMillis() + " ms");
    c.put("execution.checkpointing.min-pause", o.minPause().toMillis() + " ms");
    c.put("execution.checkpointing.num-retained", "1");
    c.put("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION");
    // One subtask per TaskManager while there are enough: a lost TaskManager takes one subtask.
    c.put("taskmanager.load-balance.mode", "SLOTS");
    c.put("state.backend.type", o.backend());
    c.put("execution.checkpointing.incremental", String.valueOf(o.backend().equals("rocksdb")));
    String checkpoints = "/flink/" + name + "/checkpoints";
    if (o.setup().cache) {
      c.put("execution.checkpointing.dir", "ckc://" + checkpoints);
      c.put("checkpoint-cache.target", cluster.hdfsUri() + "/");
      if (o.setup().syncUpload) c.put("checkpoint-cache.upload", "SYNC");
    } else {
      c.put("execution.checkpointing.dir", cluster.hdfsUri() + checkpoints);
    }
    c.put("execution.checkpointing.local-backup.enabled", String.valueOf(o.setup().localBackup));
    c.put("execution.state-recovery.from-local", String.valueOf(o.setup().fromLocal));
    return c;
  }

  /** An agent on {@code host} with its socket in {@code home}; peers read from it if {@code peer}. */
  private void startAgent(NodeNetwork.Host host, Path home, boolean peer, String runName)
      throws IOException, InterruptedException {
    Files.createDirectories(home);
    Path socket = home.resolve("agent.sock");
    List<String> cmd =
        new ArrayList<>(List.of(
            "node", cluster.inputs.repoRoot().resolve("agents/node-agent/bin/ckc-agent.js").toString(),
            "--listen", host.address() + ":" + AGENT_PORT,
            "--socket", socket.toString(),
            "--cache-dir", home.resolve("cache").toString(),
            "--node-id", host.name(),
            "--redis-url", cluster.redisUrl(),
            "--redis-prefix", "ckc-" + runName,
            "--metrics-listen", host.address() + ":" + AGENT_METRICS_PORT,
            "--min-free-percent", "0",
            "--log-format", "text",
            "--shutdown-grace", "2s"));
    // Peer reads: the other nodes' agents reach this one here (issue 13).
    if (peer) cmd.addAll(List.of("--peer-address", host.address() + ":" + AGENT_PORT));
    if (options.setup().ingest) {
      cmd.addAll(List.of("--ingest-dir", Files.createDirectories(home.resolve("ingest")).toString()));
    }
    HostProcess agent = HostProcess.start("agent-" + host.name(), host, cmd, Map.of(), home.resolve("agent.log"));
    agents.add(agent);
    String metrics = "http://" + host.address() + ":" + AGENT_METRICS_PORT + "/metrics";
    Cluster.waitFor(
        "agent on " + host.name(), Duration.ofSeconds(60), agent,
        () -> Files.exists(socket) && Cluster.httpGet(metrics) != null);
  }

  private Path nodeDir(int node) {
    return dir.resolve("node" + node);
  }

  /** The JobManager's spans ({@link SpanLog}). */
  Path spans() {
    return dir.resolve("jm").resolve("spans.log");
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }

  private Path socket(int node) {
    return nodeDir(node).resolve("agent.sock");
  }

  private Path pluginsDir() throws IOException {
    Path plugins = dir.resolve("plugins");
    if (options.setup().cache && !Files.isDirectory(plugins.resolve("checkpoint-cache"))) {
      Path jar = cluster.inputs.pluginJar();
      if (!Files.isRegularFile(jar)) throw new IOException(jar + " is missing: build the plugin (mvn -P cluster package)");
      Files.createDirectories(plugins.resolve("checkpoint-cache"));
      Files.copy(jar, plugins.resolve("checkpoint-cache").resolve(jar.getFileName()));
    }
    return Files.createDirectories(plugins);
  }

  private void startJobManager() throws IOException, InterruptedException {
    Path home = Files.createDirectories(dir.resolve("jm"));
    Map<String, String> conf = new LinkedHashMap<>(common);
    conf.put("web.upload.dir", Files.createDirectories(home.resolve("upload")).toString());
    conf.put("io.tmp.dirs", Files.createDirectories(home.resolve("tmp")).toString());
    conf.put("process.jobmanager.working-dir", home.resolve("work").toString());
    if (options.setup().cache) conf.put("checkpoint-cache.agent", "unix:" + home.resolve("agent.sock"));
    // Flink's own restore clock (JobInitialization spans), read by the scenarios.
    conf.putAll(SpanLog.config(spans()));
    jobManager =
        startFlinkProcess(
            "jobmanager", cluster.jmHost, home, conf, 512, List.of(cluster.inputs.jobClasses().toString()), List.of(),
            "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint");
    FlinkRest rest = rest();
    Cluster.waitFor("JobManager REST", Duration.ofSeconds(120), jobManager, () -> registered(rest) >= 0);
  }

  private TaskManager startTaskManager(int node, String resourceId, Path workingDir) throws IOException {
    NodeNetwork.Host host = cluster.nodes.get(node);
    Files.createDirectories(workingDir);
    Map<String, String> conf = new LinkedHashMap<>(common);
    conf.put("taskmanager.host", host.address());
    conf.put("taskmanager.bind-host", host.address());
    conf.put("taskmanager.resource-id", resourceId);
    conf.put("process.taskmanager.working-dir", workingDir.resolve("work").toString());
    conf.put("io.tmp.dirs", Files.createDirectories(workingDir.resolve("tmp")).toString());
    conf.put("execution.checkpointing.local-backup.dirs", workingDir.resolve("local-state").toString());
    conf.put("taskmanager.numberOfTaskSlots", String.valueOf(options.slotsPerTm()));
    // A short RocksDB dir: RocksDB names its LOG file in Flink's log dir after the whole instance
    // path, and a rescale's temporary instances (restoreTempDBInstanceFromLocalState) under the
    // default dir in the working dir made names over 255 bytes ("File name too long").
    conf.put("state.backend.rocksdb.localdir",
        Files.createDirectories(cluster.work.resolve("rdb").resolve(resourceId)).toString());
    if (options.setup().cache) {
      conf.put("checkpoint-cache.agent", "unix:" + socket(node));
      // The node's cache directory, as the TaskManager pod template mounts it read-only: reads
      // take the same-node short circuit (issue 14), as docs/flink.md recommends.
      if (options.setup().shortCircuit) {
        conf.put("checkpoint-cache.cache-dir", nodeDir(node).resolve("cache").toString());
      }
      // The agent's ingest directory, as a pod template would mount it read-write.
      if (options.setup().ingest) {
        conf.put("checkpoint-cache.ingest-dir", nodeDir(node).resolve("ingest").toString());
      }
      if (options.setup().afterClose) conf.put("checkpoint-cache.upload.streams", "0");
    }
    // Every memory component explicit (what Flink's start scripts would otherwise compute): the
    // TaskManager refuses to start without them.
    int frameworkHeap = 64, frameworkOffHeap = 64, taskOffHeap = 0, network = 32, metaspace = 128, overhead = 96;
    conf.put("taskmanager.cpu.cores", String.valueOf(options.slotsPerTm()));
    conf.put("taskmanager.memory.framework.heap.size", frameworkHeap + "m");
    conf.put("taskmanager.memory.task.heap.size", options.taskHeapMb() + "m");
    conf.put("taskmanager.memory.managed.size", options.managedMb() + "m");
    conf.put("taskmanager.memory.network.min", network + "m");
    conf.put("taskmanager.memory.network.max", network + "m");
    conf.put("taskmanager.memory.framework.off-heap.size", frameworkOffHeap + "m");
    conf.put("taskmanager.memory.task.off-heap.size", taskOffHeap + "m");
    conf.put("taskmanager.memory.jvm-metaspace.size", metaspace + "m");
    conf.put("taskmanager.memory.jvm-overhead.min", overhead + "m");
    conf.put("taskmanager.memory.jvm-overhead.max", overhead + "m");
    List<String> jvm =
        List.of(
            "-Xms" + (frameworkHeap + options.taskHeapMb()) + "m",
            "-XX:MaxDirectMemorySize=" + (frameworkOffHeap + taskOffHeap + network) + "m",
            "-XX:MaxMetaspaceSize=" + metaspace + "m",
            "-Dckc.taskmanager=" + resourceId);
    HostProcess process =
        startFlinkProcess(
            resourceId, host, workingDir, conf, frameworkHeap + options.taskHeapMb(), List.of(), jvm,
            "org.apache.flink.runtime.taskexecutor.TaskManagerRunner");
    TaskManager tm = new TaskManager(node, resourceId, workingDir, process);
    taskManagers.add(tm);
    return tm;
  }

  private HostProcess startFlinkProcess(
      String name, NodeNetwork.Host host, Path home, Map<String, String> conf, int heapMb,
      List<String> extraClasspath, List<String> jvm, String mainClass) throws IOException {
    Path confDir = Files.createDirectories(home.resolve("conf"));
    StringBuilder yaml = new StringBuilder();
    conf.forEach((k, v) -> yaml.append(k).append(": '").append(v.replace("'", "''")).append("'\n"));
    Files.writeString(confDir.resolve("config.yaml"), yaml, StandardCharsets.UTF_8);
    List<String> cmd = cluster.java(heapMb, jvm);
    cmd.addAll(List.of(
        "-Dlog4j.configurationFile=" + Cluster.log4jConfig(confDir.resolve("log4j2.properties")).toUri(),
        "-Dlog.file=" + home.resolve(name + ".log"),
        "-cp", String.join(java.io.File.pathSeparator, concat(List.of(cluster.flinkClasspath()), extraClasspath)),
        mainClass, "--configDir", confDir.toString()));
    return HostProcess.start(
        name, host, cmd, Map.of("FLINK_PLUGINS_DIR", pluginsDir().toString()), home.resolve(name + ".out"));
  }

  @Override
  public void close() {
    List<HostProcess> all = new ArrayList<>();
    for (TaskManager tm : taskManagers) all.add(tm.process());
    if (jobManager != null) all.add(jobManager);
    all.addAll(agents);
    // All at once: one by one, graceful stops add up to most of a short run.
    for (HostProcess p : all) p.requestStop();
    for (HostProcess p : all) {
      try {
        p.stop();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (!cluster.keepWork) discardData();
  }

  /**
   * A run's bulk, once its figures are taken: its checkpoints in HDFS, the agents' caches and the
   * TaskManagers' working, temporary and local-state dirs (about 1.5 GB a run at 256 MB of state;
   * kept, a whole matrix filled the disk and its last runs' checkpoints failed). Logs stay until
   * the harness ends. Failures here are reported, not thrown: the run's result is already known.
   */
  private void discardData() {
    String hdfsDir = "/flink/" + dir.getFileName();
    try (org.apache.hadoop.fs.FileSystem fs =
        org.apache.hadoop.fs.FileSystem.newInstance(
            java.net.URI.create(cluster.hdfsUri()), new org.apache.hadoop.conf.Configuration())) {
      fs.delete(new org.apache.hadoop.fs.Path(hdfsDir), true);
    } catch (IOException | RuntimeException e) {
      System.out.println("note: could not delete " + hdfsDir + " from HDFS: " + e);
    }
    try (java.util.stream.Stream<Path> paths = Files.walk(dir, 3)) {
      for (Path bulky : paths.filter(p -> Files.isDirectory(p) && BULKY_DIRS.contains(p.getFileName().toString())).toList()) {
        deleteTree(bulky);
      }
    } catch (IOException | java.io.UncheckedIOException e) {
      System.out.println("note: could not delete the data of " + dir + ": " + e);
    }
  }

  /** Names of the run's data dirs (agent caches; TaskManager work, tmp and local-state dirs). */
  private static final java.util.Set<String> BULKY_DIRS = java.util.Set.of("cache", "work", "tmp", "local-state");

  private static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) return; // inside one deleted before
    try (java.util.stream.Stream<Path> paths = Files.walk(root)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
    }
  }
}
