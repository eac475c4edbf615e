package io.checkpointcache.cluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.flink.metrics.MetricConfig;
import org.apache.flink.traces.Span;
import org.apache.flink.traces.reporter.TraceReporter;
import org.apache.flink.traces.reporter.TraceReporterFactory;

/**
 * Flink's own clock of a restore: a trace reporter the JobManager loads (through its
 * {@code traces.reporter.spans.*} keys and this class path's service file) that appends every span
 * as one line to a file, and the harness's reader of that file.
 *
 * <p>The span that matters is {@code JobInitialization} (FLINK-33775): after every restore the
 * JobManager reports, for the subtasks it restored, the sum and maximum of each subtask's own
 * initialization phases as the TaskManagers measured them, {@code maxInitializeStateDurationMs}
 * among them — the time a subtask spent getting its state back (building its keyed state backend
 * from the checkpoint's files, whichever file system serves them, and restoring operator state).
 * It excludes what the harness's {@code restore_s} includes: noticing the failure, the restart
 * delay, a new TaskManager's start and the deployment.
 *
 * <p>Line format: {@code <name> start=<ms> end=<ms> <attribute>=<value> ...}, attributes in name
 * order; values never contain a blank or a newline in the spans Flink reports (numbers, enum
 * names, ids), and any that did would be replaced by {@code _}.
 */
public final class SpanLog implements TraceReporter {
  /** The reporter's name in Flink's configuration keys ({@code traces.reporter.<name>.*}). */
  static final String REPORTER = "spans";

  private final Path file;

  private SpanLog(Path file) {
    this.file = file;
  }

  /** The configuration that makes a JobManager write its spans to {@code file}. */
  static Map<String, String> config(Path file) {
    return Map.of(
        "traces.reporter." + REPORTER + ".factory.class", Factory.class.getName(),
        "traces.reporter." + REPORTER + ".file", file.toString());
  }

  @Override
  public void open(MetricConfig config) {}

  @Override
  public void close() {}

  @Override
  public synchronized void notifyOfAddedSpan(Span span) {
    StringBuilder line = new StringBuilder(clean(span.getName()));
    line.append(" start=").append(span.getStartTsMillis()).append(" end=").append(span.getEndTsMillis());
    new TreeMap<>(span.getAttributes()).forEach((k, v) -> line.append(' ').append(clean(k)).append('=').append(clean(String.valueOf(v))));
    line.append('\n');
    try {
      Files.writeString(file, line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String clean(String s) {
    return s.replaceAll("[\\s=]", "_");
  }

  /** One span as the file holds it. */
  record Entry(String name, long startMs, long endMs, Map<String, String> attributes) {
    long longAttribute(String key) {
      String v = attributes.get(key);
      return v == null ? -1 : Long.parseLong(v);
    }
  }

  /** Every span in {@code file} (none while it does not exist yet). */
  static List<Entry> read(Path file) throws IOException {
    List<Entry> spans = new ArrayList<>();
    if (!Files.exists(file)) return spans;
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      String[] fields = line.trim().split(" ");
      if (fields.length < 3) continue;
      Map<String, String> attributes = new TreeMap<>();
      for (int i = 1; i < fields.length; i++) {
        int eq = fields[i].indexOf('=');
        if (eq > 0) attributes.put(fields[i].substring(0, eq), fields[i].substring(eq + 1));
      }
      String start = attributes.remove("start");
      String end = attributes.remove("end");
      if (start == null || end == null) continue;
      spans.add(new Entry(fields[0], Long.parseLong(start), Long.parseLong(end), attributes));
    }
    return spans;
  }

  /**
   * Flink's own account of one restore.
   *
   * @param stateSeconds the slowest subtask's state initialization ({@code
   *     maxInitializeStateDurationMs}); -1 when Flink reported no restore
   * @param localBytes restored state Flink says came from its task-local copies (the sum over
   *     subtasks of {@code sumRestoredStateSizeBytes.LOCAL_*}, FLINK-34134): what local recovery
   *     served; 0 when it served nothing, -1 when Flink reported no restore
   */
  record FlinkRestore(double stateSeconds, long localBytes) {
    static final FlinkRestore NONE = new FlinkRestore(-1, -1);
  }

  /**
   * The last completed {@code JobInitialization} span that began at or after {@code sinceMs} (a
   * restore that failed and was tried again reports a span per attempt; the last completed one is
   * the restore that stood); {@link FlinkRestore#NONE} when Flink has reported none.
   */
  static FlinkRestore restoreSince(Path file, long sinceMs) throws IOException {
    FlinkRestore found = FlinkRestore.NONE;
    for (Entry span : read(file)) {
      if (!span.name().equals("JobInitialization") || span.startMs() < sinceMs) continue;
      String status = span.attributes().get("initializationStatus");
      long ms = span.longAttribute("maxInitializeStateDurationMs");
      if (status != null && !status.equals("COMPLETED") || ms < 0) continue;
      long local = 0;
      for (var a : span.attributes().entrySet()) {
        if (a.getKey().startsWith("sumRestoredStateSizeBytes.LOCAL_")) local += Long.parseLong(a.getValue());
      }
      found = new FlinkRestore(ms / 1000.0, local);
    }
    return found;
  }

  /** What Flink's reporter set-up instantiates (found through the service file). */
  public static final class Factory implements TraceReporterFactory {
    @Override
    public TraceReporter createTraceReporter(Properties properties) {
      String file = properties.getProperty("file");
      if (file == null) throw new IllegalArgumentException("traces.reporter." + REPORTER + ".file is not set");
      return new SpanLog(Path.of(file));
    }
  }
}
