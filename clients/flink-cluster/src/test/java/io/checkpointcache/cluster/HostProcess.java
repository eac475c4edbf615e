package io.checkpointcache.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One process of the cluster (JobManager, TaskManager, agent, Redis, HDFS) running inside a host's
 * namespace, its output in a log file. Stopped by its own pid only; the {@link Janitor} kills
 * whatever a namespace still holds when the harness ends.
 */
final class HostProcess {
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(20);

  private final String name;
  private final Process process;
  private final Path log;

  private HostProcess(String name, Process process, Path log) {
    this.name = name;
    this.process = process;
    this.log = log;
  }

  /** Starts {@code command} in {@code host} with {@code env} added, output to {@code log}. */
  static HostProcess start(
      String name, NodeNetwork.Host host, List<String> command, Map<String, String> env, Path log)
      throws IOException {
    Files.createDirectories(log.getParent());
    ProcessBuilder pb =
        new ProcessBuilder(NodeNetwork.commandIn(host, command))
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    // Nothing of the developer's CKC_* environment: only what the harness sets configures a part.
    pb.environment().keySet().removeIf(k -> k.startsWith("CKC_"));
    pb.environment().putAll(env);
    return new HostProcess(name, pb.start(), log);
  }

  String name() {
    return name;
  }

  long pid() {
    return process.pid();
  }

  boolean isAlive() {
    return process.isAlive();
  }

  Path log() {
    return log;
  }

  /** SIGKILL, as a crashed machine or an OOM-killed container; waits until it is gone. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
  }

  /** SIGTERM, without waiting. */
  void requestStop() {
    if (process.isAlive()) process.destroy();
  }

  /** SIGTERM, then SIGKILL if it does not exit in time. */
  void stop() throws InterruptedException {
    if (!process.isAlive()) return;
    process.destroy();
    if (!process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) kill();
  }

  /** Whether the log has a line containing {@code text}. */
  boolean logContains(String text) {
    try {
      return Files.readString(log, StandardCharsets.UTF_8).contains(text);
    } catch (IOException e) {
      return false;
    }
  }

  /** The log's last lines, for error messages. */
  String logTail() {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  /** Fails with the log's tail if the process has exited. */
  void checkAlive() {
    if (!process.isAlive()) {
      throw new IllegalStateException(
          name + " exited with " + process.exitValue() + "; its log " + log + " ends:\n" + logTail());
    }
  }
}
