package io.checkpointcache.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Network namespaces standing in for machines, as in test/src/helpers/netns.ts: each "host" is a
 * namespace with one veth interface on a bridge in the root namespace and an address of a private
 * /24, with only the connected route. The harness (root namespace) reaches every host through the
 * bridge address; hosts reach each other through the bridge.
 *
 * <p>Owns: its bridge, veth pairs and namespaces (all named {@code ckcl<pid>...}), the lock file
 * that claims the /24 (the same file netns.ts takes, so the two never share a subnet), shaping of
 * a host's link, and reading its interface counters. Everything it makes is registered with the
 * {@link Janitor} before it exists. Never: touch an interface or namespace it did not name, add a
 * route outside the /24, or kill a process outside its namespaces.
 */
final class NodeNetwork {
  private static final String PREFIX = "ckcl";
  private static final Pattern LINK = Pattern.compile("^\\d+:\\s+(" + PREFIX + "(\\d+)[bhn]\\d*)[@:]");
  private static final Pattern NETNS = Pattern.compile("^(" + PREFIX + "-(\\d+)-[a-z0-9]+)");

  /** One namespace. */
  record Host(String name, String netns, String address, String hostEnd) {}

  private final String subnet;
  private final Janitor janitor;
  private final String tag;
  private final Map<String, Host> hosts = new LinkedHashMap<>();

  private NodeNetwork(String subnet, Janitor janitor) {
    this.subnet = subnet;
    this.janitor = janitor;
    this.tag = PREFIX + ProcessHandle.current().pid();
  }

  /** Why namespaces cannot be made here, or null when they can. */
  static String unavailableReason() {
    String probe = PREFIX + "-" + ProcessHandle.current().pid() + "-probe";
    try {
      run("ip", "netns", "add", probe);
      run("ip", "netns", "del", probe);
      return null;
    } catch (IOException e) {
      return e.getMessage();
    }
  }

  /** The bridge with {@code <subnet>.1/24}; hosts come with {@link #addHost}. */
  static NodeNetwork create(String subnet, Janitor janitor) throws IOException {
    if (!subnet.matches("\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}")) {
      throw new IllegalArgumentException("bad subnet " + subnet);
    }
    removeLeftovers();
    NodeNetwork network = new NodeNetwork(subnet, janitor);
    network.claimSubnet();
    if (!run("ip", "-o", "addr", "show", "to", subnet + ".0/24").isBlank()) {
      throw new IOException(subnet + ".0/24 is already on an interface here");
    }
    String bridge = network.tag + "b";
    janitor.atEnd("ip link del " + bridge);
    run("ip", "link", "add", bridge, "type", "bridge");
    run("ip", "addr", "add", subnet + ".1/24", "dev", bridge);
    run("ip", "link", "set", bridge, "up");
    return network;
  }

  /** The root namespace's address on the bridge. */
  String hostAddress() {
    return subnet + ".1";
  }

  /** A new namespace {@code name} (lower-case letters and digits) with the next address. */
  Host addHost(String name) throws IOException {
    if (!name.matches("[a-z0-9]{1,12}")) throw new IllegalArgumentException("bad host name " + name);
    int i = hosts.size();
    Host host =
        new Host(name, PREFIX + "-" + ProcessHandle.current().pid() + "-" + name, subnet + "." + (11 + i), tag + "h" + i);
    String nodeEnd = tag + "n" + i;
    // Kill what runs inside first: a namespace with live processes outlives `ip netns del`.
    janitor.atEnd(
        "ip netns pids " + host.netns() + " | xargs -r kill -9; sleep 0.2; ip netns del " + host.netns()
            + "; ip link del " + host.hostEnd());
    run("ip", "netns", "add", host.netns());
    run("ip", "link", "add", host.hostEnd(), "type", "veth", "peer", "name", nodeEnd);
    run("ip", "link", "set", host.hostEnd(), "master", tag + "b");
    run("ip", "link", "set", host.hostEnd(), "up");
    run("ip", "link", "set", nodeEnd, "netns", host.netns());
    run("ip", "-n", host.netns(), "link", "set", nodeEnd, "name", "eth0");
    run("ip", "-n", host.netns(), "addr", "add", host.address() + "/24", "dev", "eth0");
    run("ip", "-n", host.netns(), "link", "set", "eth0", "up");
    run("ip", "-n", host.netns(), "link", "set", "lo", "up");
    hosts.put(name, host);
    return host;
  }

  /** {@code command} run inside {@code host} ({@code ip netns exec} execs it: same pid). */
  static List<String> commandIn(Host host, List<String> command) {
    List<String> wrapped = new ArrayList<>(List.of("ip", "netns", "exec", host.netns()));
    wrapped.addAll(command);
    return wrapped;
  }

  /**
   * Limits what {@code host} sends to {@code mbitPerSecond} (a token bucket on its interface):
   * the host's uplink, as a storage server's network port is.
   */
  static void shapeEgress(Host host, int mbitPerSecond) throws IOException {
    // The bucket must hold a whole GSO segment (64 KiB) or large segments are dropped.
    run("ip", "netns", "exec", host.netns(), "tc", "qdisc", "add", "dev", "eth0", "root", "tbf",
        "rate", mbitPerSecond + "mbit", "burst", "256kb", "latency", "50ms");
  }

  /** Bytes {@code host} has sent on its interface since it was made. */
  static long bytesSent(Host host) throws IOException {
    return Long.parseLong(
        run("ip", "netns", "exec", host.netns(), "cat", "/sys/class/net/eth0/statistics/tx_bytes").trim());
  }

  private void claimSubnet() throws IOException {
    Path lock = Path.of(System.getProperty("java.io.tmpdir"), "ckmn-" + subnet + ".0-24.lock");
    long self = ProcessHandle.current().pid();
    for (int attempt = 1; ; attempt++) {
      try {
        Files.writeString(lock, String.valueOf(self), java.nio.file.StandardOpenOption.CREATE_NEW);
        janitor.atEnd("rm -f '" + lock + "'");
        return;
      } catch (FileAlreadyExistsException e) {
        if (attempt >= 3) throw e;
      }
      long owner = 0;
      try {
        owner = Long.parseLong(Files.readString(lock, StandardCharsets.UTF_8).trim());
      } catch (IOException | NumberFormatException e) {
        // Empty: its owner is between creating and writing it.
      }
      if (owner == 0 || ProcessHandle.of(owner).map(ProcessHandle::isAlive).orElse(false)) {
        throw new IOException(subnet + ".0/24 is in use by process " + owner + " (lock " + lock + ")");
      }
      Files.deleteIfExists(lock);
    }
  }

  /** Namespaces and links of this class whose creating process is gone. */
  private static void removeLeftovers() throws IOException {
    for (String line : run("ip", "netns", "list").split("\n")) {
      Matcher m = NETNS.matcher(line);
      if (m.find() && !alive(Long.parseLong(m.group(2)))) {
        runQuietly("sh", "-c", "ip netns pids " + m.group(1) + " | xargs -r kill -9; ip netns del " + m.group(1));
      }
    }
    for (String line : run("ip", "-o", "link", "show").split("\n")) {
      Matcher m = LINK.matcher(line);
      if (m.find() && !alive(Long.parseLong(m.group(2)))) runQuietly("ip", "link", "del", m.group(1));
    }
  }

  private static boolean alive(long pid) {
    return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
  }

  private static void runQuietly(String... command) {
    try {
      run(command);
    } catch (IOException e) {
      // Gone already.
    }
  }

  /** Runs a short command; its output, or an IOException with its error output. */
  static String run(String... command) throws IOException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    try {
      byte[] out = p.getInputStream().readAllBytes();
      if (!p.waitFor(30, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException(String.join(" ", command) + ": timed out");
      }
      String text = new String(out, StandardCharsets.UTF_8);
      if (p.exitValue() != 0) throw new IOException(String.join(" ", command) + " failed: " + text.trim());
      return text;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      p.destroyForcibly();
      throw new IOException("interrupted", e);
    }
  }
}
