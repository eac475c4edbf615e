package io.checkpointcache.client.bench;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.client.CheckpointCacheClientOptions;
import io.checkpointcache.client.ClientStatsSnapshot;
import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The JVM side of {@code npm run bench -- --only java}: one long-lived JVM that the bench drives
 * over stdin, so that its figures interleave with the bench's other scenarios round by round and
 * the JIT warm-up happens once (the bench sends every command during its warm-up first).
 *
 * <p>Commands, one per line: {@code java.file} (a {@link FileInputStream} of the entry's source
 * file: what Flink's own local recovery reads at), {@code java.stream.tcp}, {@code
 * java.stream.unix} (the client streaming from the agent), {@code java.direct} (the client's
 * same-node short circuit), {@code quit}. Each answers one JSON line with the bytes read, the
 * seconds it took and where the client says the bytes came from, so the bench can reject a
 * figure that did not measure what its name says.
 *
 * <p>Owns: timing one read of each kind. Never: deciding rounds or order (the bench does).
 */
public final class JavaReadBench {
  /** Read buffer of every path: large enough that the caller's copy is not the bottleneck. */
  private static final int BUFFER = 1024 * 1024;

  private JavaReadBench() {}

  /** Args: file key tcpAddress unixAddress cacheDir. */
  public static void main(String[] args) throws Exception {
    if (args.length != 5) {
      System.err.println("usage: JavaReadBench <file> <key> <tcp host:port> <unix:/path> <cache dir>");
      System.exit(2);
    }
    Path file = Path.of(args[0]);
    String key = args[1];
    URI remote = file.toUri();
    try (CheckpointCacheClient tcp = CheckpointCacheClient.connect(args[2]);
        CheckpointCacheClient unix = CheckpointCacheClient.connect(args[3]);
        CheckpointCacheClient direct =
            new CheckpointCacheClient(
                CheckpointCacheClientOptions.builder(args[3]).shortCircuit(Path.of(args[4])).build())) {
      byte[] buffer = new byte[BUFFER];
      System.out.println("{\"ready\":true}");
      BufferedReader commands =
          new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      for (String command; (command = commands.readLine()) != null; ) {
        command = command.trim();
        if (command.equals("quit")) break;
        try {
          System.out.println(
              switch (command) {
                case "java.file" -> time(command, null, () -> new FileInputStream(file.toFile()), buffer);
                case "java.stream.tcp" -> time(command, tcp, () -> tcp.open(key, remote), buffer);
                case "java.stream.unix" -> time(command, unix, () -> unix.open(key, remote), buffer);
                case "java.direct" -> time(command, direct, () -> direct.open(key, remote), buffer);
                default -> "{\"id\":\"" + command + "\",\"error\":\"unknown command\"}";
              });
        } catch (IOException | RuntimeException e) {
          System.out.println(
              "{\"id\":\"" + command + "\",\"error\":\"" + jsonEscape(String.valueOf(e)) + "\"}");
        }
      }
    }
  }

  private interface Opener {
    InputStream open() throws IOException;
  }

  private static String time(String id, CheckpointCacheClient client, Opener opener, byte[] buffer)
      throws IOException {
    ClientStatsSnapshot before = client == null ? null : client.stats();
    long started = System.nanoTime();
    long bytes = 0;
    try (InputStream in = opener.open()) {
      for (int n; (n = in.read(buffer)) != -1; ) bytes += n;
    }
    double seconds = (System.nanoTime() - started) / 1e9;
    StringBuilder json = new StringBuilder();
    json.append(String.format(Locale.ROOT, "{\"id\":\"%s\",\"bytes\":%d,\"seconds\":%.6f", id, bytes, seconds));
    if (client != null) {
      ClientStatsSnapshot after = client.stats();
      json.append(",\"fromCache\":").append(after.bytesFromCache() - before.bytesFromCache());
      json.append(",\"fromRemote\":").append(after.bytesFromRemote() - before.bytesFromRemote());
      json.append(",\"shortCircuit\":").append(after.bytesShortCircuit() - before.bytesShortCircuit());
    }
    return json.append('}').toString();
  }

  private static String jsonEscape(String s) {
    return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", " ");
  }
}
