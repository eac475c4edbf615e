package io.checkpointcache.cluster;

import io.checkpointcache.cluster.job.KeyedStateJob;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;

/**
 * The harness's side of {@link KeyedStateJob}: the jar it submits, and what the job left in its
 * output dir (when each subtask attempt had its state back, and the final state).
 */
final class JobFiles {
  private JobFiles() {}

  /** A subtask's latest attempt: its number, when its state was back (epoch ms), its TaskManager. */
  record Attempt(int subtask, int attempt, long openedAtMs, String taskManager) {}

  /** A jar with the job's classes (the package of {@link KeyedStateJob}) from the test classes. */
  static Path buildJar(Path classes, Path jar) throws IOException {
    String pkg = KeyedStateJob.class.getPackageName().replace('.', '/');
    Path root = classes.resolve(pkg);
    try (OutputStream file = Files.newOutputStream(jar);
        JarOutputStream out = new JarOutputStream(file);
        Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.filter(Files::isRegularFile).sorted().toList()) {
        out.putNextEntry(new JarEntry(pkg + "/" + root.relativize(p).toString().replace('\\', '/')));
        Files.copy(p, out);
        out.closeEntry();
      }
    }
    return jar;
  }

  /** The latest attempt of every subtask that has opened so far, by subtask. */
  static Map<Integer, Attempt> latestAttempts(Path out) throws IOException {
    Map<Integer, Attempt> latest = new HashMap<>();
    Path dir = out.resolve("opened");
    if (!Files.isDirectory(dir)) return latest;
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.toList()) {
        String[] name = f.getFileName().toString().split("-");
        String[] content = Files.readString(f, StandardCharsets.UTF_8).trim().split(" ");
        // Written by a process that may have been killed mid-write: incomplete files are skipped.
        if (name.length != 2 || content.length != 2) continue;
        Attempt a = new Attempt(Integer.parseInt(name[0]), Integer.parseInt(name[1]), Long.parseLong(content[0]), content[1]);
        latest.merge(a.subtask(), a, (x, y) -> x.attempt() >= y.attempt() ? x : y);
      }
    }
    return latest;
  }

  /**
   * Whether the final state is the fault-free one: the latest attempt of every subtask wrote the
   * results of its keys (earlier attempts may have been killed mid-write, so only the latest
   * counts), and together they are exactly {@code expected}. Returns what is wrong, or an empty
   * list.
   */
  static List<String> checkResults(Path out, int parallelism, KeyedStateJob.Params params) throws IOException {
    Map<Integer, Attempt> latest = latestAttempts(out);
    Map<Long, KeyedStateJob.KeyResult> expected = KeyedStateJob.expected(params);
    Map<Long, KeyedStateJob.KeyResult> seen = new HashMap<>();
    List<String> problems = new ArrayList<>();
    for (int s = 0; s < parallelism; s++) {
      Attempt a = latest.get(s);
      Path file = a == null ? null : out.resolve("results").resolve(s + "-" + a.attempt());
      if (file == null || !Files.isRegularFile(file)) {
        problems.add("subtask " + s + ": no results from its latest attempt");
        continue;
      }
      long[] key = new long[1];
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        KeyedStateJob.KeyResult r = KeyedStateJob.KeyResult.parse(line, key);
        if (seen.put(key[0], r) != null) problems.add("key " + key[0] + ": reported twice");
      }
    }
    for (var e : expected.entrySet()) {
      KeyedStateJob.KeyResult got = seen.get(e.getKey());
      if (!e.getValue().equals(got)) {
        problems.add("key " + e.getKey() + ": expected " + e.getValue() + ", got " + got);
        if (problems.size() > 10) break;
      }
    }
    if (seen.size() != expected.size()) problems.add(seen.size() + " keys reported, " + expected.size() + " expected");
    return problems;
  }
}
