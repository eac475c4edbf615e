package io.checkpointcache.cluster;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a run's agents report on their metrics port: bytes served, bytes read from peers, bytes held,
 * bytes leased to the same-node short circuit.
 * An agent that no longer answers (a killed node) keeps the figures it last gave, so a lost node
 * does not make the sums go backwards.
 *
 * <p>Owns: scraping and summing. Never: starting or stopping agents.
 */
final class AgentCounters {
  private static final Pattern READ_BYTES = metric("ckc_read_bytes_total");
  private static final Pattern PEER_BYTES = metric("ckc_peer_read_bytes_total");
  private static final Pattern ENTRY_BYTES = metric("ckc_entry_bytes");
  private static final Pattern LEASED_BYTES = metric("ckc_leased_bytes_total");

  private final Map<String, long[]> last = new HashMap<>();
  private final int port;

  AgentCounters(int port) {
    this.port = port;
  }

  /** Per agent's host {read, peer, held, leased}, summed over {@code hosts}. */
  long[] sum(List<NodeNetwork.Host> hosts) {
    long[] total = new long[4];
    for (NodeNetwork.Host host : hosts) {
      String body = Cluster.httpGet("http://" + host.address() + ":" + port + "/metrics");
      long[] seen = last.getOrDefault(host.name(), new long[4]);
      if (body != null) {
        seen = new long[] {
          sum(READ_BYTES, body), sum(PEER_BYTES, body), sum(ENTRY_BYTES, body), sum(LEASED_BYTES, body)
        };
      }
      last.put(host.name(), seen);
      for (int i = 0; i < total.length; i++) total[i] += seen[i];
    }
    return total;
  }

  private static Pattern metric(String name) {
    return Pattern.compile("(?m)^" + name + "(?:\\{[^}]*\\})? (\\S+)$");
  }

  private static long sum(Pattern metric, String body) {
    long total = 0;
    Matcher m = metric.matcher(body);
    while (m.find()) total += (long) Double.parseDouble(m.group(1));
    return total;
  }
}
