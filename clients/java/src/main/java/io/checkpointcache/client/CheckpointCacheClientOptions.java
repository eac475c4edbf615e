package io.checkpointcache.client;

import io.checkpointcache.client.remote.RemoteStores;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * Options of {@link CheckpointCacheClient}, each default written once beside its reason (the same
 * defaults as the TypeScript client's {@code client-options.ts}).
 * Owns: defaults and validation of client options. Never: reading the environment.
 */
public final class CheckpointCacheClientOptions {
  private static final int MIB = 1024 * 1024;

  /** Largest chunk either side may send; message limits leave room for framing. */
  public static final int MAX_CHUNK_SIZE = 8 * MIB;

  /** Largest message the client accepts: MAX_CHUNK_SIZE plus framing, or a List page. */
  static final int MAX_MESSAGE_SIZE = 16 * MIB;

  /**
   * Longest wait for a Read's header. A hung agent then costs this much before the read goes to
   * the remote store; a healthy one answers in milliseconds.
   */
  public static final Duration DEFAULT_FIRST_MESSAGE_TIMEOUT = Duration.ofSeconds(3);

  /**
   * Longest silence of a Read or Write stream while the client waits for it (time the caller
   * spends not reading does not count). There is deliberately no whole-call deadline: a large,
   * slow, healthy transfer must finish.
   */
  public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofSeconds(30);

  /** Deadline of Stat, Touch, Delete, List and Release. */
  public static final Duration DEFAULT_UNARY_TIMEOUT = Duration.ofSeconds(10);

  /** Size of the chunks put sends: the design's measured sweet spot. */
  public static final int DEFAULT_WRITE_CHUNK_SIZE = 256 * 1024;

  /** HTTP/2 flow-control window: the design measured ~2x Read throughput at 8 MiB vs 64 KiB. */
  public static final int DEFAULT_FLOW_CONTROL_WINDOW = 8 * MIB;

  private final AgentAddress agent;
  private final RemoteStores remoteStores;
  private final Duration firstMessageTimeout;
  private final Duration idleTimeout;
  private final Duration unaryTimeout;
  private final int writeChunkSize;
  private final int readChunkSize;
  private final int flowControlWindow;
  private final boolean shortCircuit;
  private final Path shortCircuitRoot;

  private CheckpointCacheClientOptions(Builder b) {
    this.agent = b.agent;
    this.remoteStores = b.remoteStores != null ? b.remoteStores : RemoteStores.withDefaults();
    this.firstMessageTimeout = positive("firstMessageTimeout", b.firstMessageTimeout);
    this.idleTimeout = positive("idleTimeout", b.idleTimeout);
    this.unaryTimeout = positive("unaryTimeout", b.unaryTimeout);
    this.writeChunkSize = checkChunkSize("writeChunkSize", b.writeChunkSize, 1);
    this.readChunkSize = checkChunkSize("readChunkSize", b.readChunkSize, 0);
    if (b.flowControlWindow < 64 * 1024) {
      throw new IllegalArgumentException("flowControlWindow must be at least 64 KiB");
    }
    this.flowControlWindow = b.flowControlWindow;
    this.shortCircuit = b.shortCircuit;
    this.shortCircuitRoot = b.shortCircuitRoot;
  }

  /** Options for the agent at {@code agent} ({@code host:port}, {@code unix:/path}). */
  public static Builder builder(String agent) {
    return new Builder(AgentAddress.parse(agent));
  }

  public AgentAddress agent() {
    return agent;
  }

  public RemoteStores remoteStores() {
    return remoteStores;
  }

  public Duration firstMessageTimeout() {
    return firstMessageTimeout;
  }

  public Duration idleTimeout() {
    return idleTimeout;
  }

  public Duration unaryTimeout() {
    return unaryTimeout;
  }

  public int writeChunkSize() {
    return writeChunkSize;
  }

  /** Largest chunk a Read asks the agent for; 0 lets the agent choose. */
  public int readChunkSize() {
    return readChunkSize;
  }

  public int flowControlWindow() {
    return flowControlWindow;
  }

  /** Whether reads try the same-node short circuit first (default off). */
  public boolean shortCircuit() {
    return shortCircuit;
  }

  /**
   * Where this process mounts the agent's cache directory; empty: at the agent's own path (the
   * lease's {@code cache_root}).
   */
  public Optional<Path> shortCircuitRoot() {
    return Optional.ofNullable(shortCircuitRoot);
  }

  static int checkChunkSize(String name, int value, int min) {
    if (value < min || value > MAX_CHUNK_SIZE) {
      throw new IllegalArgumentException(
          name + " must be from " + min + " to " + MAX_CHUNK_SIZE + " bytes, got " + value);
    }
    return value;
  }

  private static Duration positive(String name, Duration value) {
    if (value == null || value.isNegative() || value.isZero()) {
      throw new IllegalArgumentException(name + " must be a positive duration, got " + value);
    }
    return value;
  }

  public static final class Builder {
    private final AgentAddress agent;
    private RemoteStores remoteStores;
    private Duration firstMessageTimeout = DEFAULT_FIRST_MESSAGE_TIMEOUT;
    private Duration idleTimeout = DEFAULT_IDLE_TIMEOUT;
    private Duration unaryTimeout = DEFAULT_UNARY_TIMEOUT;
    private int writeChunkSize = DEFAULT_WRITE_CHUNK_SIZE;
    private int readChunkSize = 0;
    private int flowControlWindow = DEFAULT_FLOW_CONTROL_WINDOW;
    private boolean shortCircuit;
    private Path shortCircuitRoot;

    private Builder(AgentAddress agent) {
      this.agent = agent;
    }

    /** Remote stores reads fall back to; default {@link RemoteStores#withDefaults()}. */
    public Builder remoteStores(RemoteStores remoteStores) {
      this.remoteStores = Objects.requireNonNull(remoteStores);
      return this;
    }

    public Builder firstMessageTimeout(Duration timeout) {
      this.firstMessageTimeout = timeout;
      return this;
    }

    public Builder idleTimeout(Duration timeout) {
      this.idleTimeout = timeout;
      return this;
    }

    public Builder unaryTimeout(Duration timeout) {
      this.unaryTimeout = timeout;
      return this;
    }

    public Builder writeChunkSize(int bytes) {
      this.writeChunkSize = bytes;
      return this;
    }

    public Builder readChunkSize(int bytes) {
      this.readChunkSize = bytes;
      return this;
    }

    public Builder flowControlWindow(int bytes) {
      this.flowControlWindow = bytes;
      return this;
    }

    /**
     * Same-node short circuit, default off: a read leases the entry, reads its file directly and
     * checks every block's CRC32C itself (see {@link ShortCircuitRead}). {@code true} reads the
     * file at the agent's own path (the process sees the agent's file system, or mounts the cache
     * directory at the same path); {@code false} turns it off.
     */
    public Builder shortCircuit(boolean enabled) {
      this.shortCircuit = enabled;
      this.shortCircuitRoot = null;
      return this;
    }

    /**
     * Same-node short circuit reading the agent's cache directory where this process mounts it
     * ({@code cacheRoot}, read-only is enough); the lease's relative path is joined to it.
     */
    public Builder shortCircuit(Path cacheRoot) {
      this.shortCircuit = true;
      this.shortCircuitRoot = Objects.requireNonNull(cacheRoot, "cacheRoot");
      return this;
    }

    public CheckpointCacheClientOptions build() {
      return new CheckpointCacheClientOptions(this);
    }
  }
}
