package io.checkpointcache.client;

import io.checkpointcache.client.remote.RemoteStore;
import io.checkpointcache.v1.CheckpointCacheGrpc;
import io.checkpointcache.v1.DeletePrefixRequest;
import io.checkpointcache.v1.DeletePrefixResponse;
import io.checkpointcache.v1.DeleteRequest;
import io.checkpointcache.v1.EntryInfo;
import io.checkpointcache.v1.IngestRequest;
import io.checkpointcache.v1.LeaseRequest;
import io.checkpointcache.v1.ListRequest;
import io.checkpointcache.v1.ListResponse;
import io.checkpointcache.v1.ReleaseRequest;
import io.checkpointcache.v1.ReleaseResponse;
import io.checkpointcache.v1.ReportCorruptRequest;
import io.checkpointcache.v1.StatRequest;
import io.checkpointcache.v1.TouchRequest;
import io.checkpointcache.v1.WriteResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.zip.CRC32C;

/**
 * The JVM client stub of the node agent, with the TypeScript client's contract: reads go local
 * first and continue from the remote store at the first undelivered byte when the agent cannot
 * serve them; writes (many small entries a batch per call too), and the small management RPCs,
 * over one grpc-java channel (TCP or a Unix socket) tuned for large streams. Thread-safe; one per
 * process (TaskManager) is enough.
 *
 * <p>Owns: the channel, per-call timeouts and the client's counters. Never: retrying writes or
 * management calls (their callers know whether a retry is safe), or reading the environment.
 */
public final class CheckpointCacheClient implements AutoCloseable {
  /** How long entries of writeBatch go as single puts after the agent answered UNIMPLEMENTED. */
  private static final long BATCH_RETRY_MS = 60_000;

  /** Ingest's deadline grows with the file: a second per this many bytes, on top of unary's. */
  private static final long INGEST_BYTES_PER_DEADLINE_SECOND = 10L * 1024 * 1024;

  private final CheckpointCacheClientOptions options;
  private final AgentChannel channel;
  private final CheckpointCacheGrpc.CheckpointCacheStub asyncStub;
  private final CheckpointCacheGrpc.CheckpointCacheBlockingStub blockingStub;
  private final ClientStats counters = new ClientStats();
  /** Until when (System.nanoTime) writeBatch sends single puts: the agent lacks WriteBatch. */
  private volatile long batchUnsupportedUntil = System.nanoTime();
  /** Reads spans of short-circuited files ahead of their readers; null when the option is off. */
  private final ExecutorService readAhead;
  private final ShortCircuitRead.Setup shortCircuit;

  public CheckpointCacheClient(CheckpointCacheClientOptions options) {
    this.options = Objects.requireNonNull(options, "options");
    this.channel = AgentChannel.open(options.agent(), options);
    this.asyncStub = CheckpointCacheGrpc.newStub(channel.channel);
    this.blockingStub = CheckpointCacheGrpc.newBlockingStub(channel.channel);
    if (options.shortCircuit()) {
      // One thread per read in flight at most (each read has one span ahead); idle threads go.
      this.readAhead =
          Executors.newCachedThreadPool(new DefaultThreadFactory("ckc-short-circuit-ahead", true));
      // A lease is the short circuit's first message: a hung agent costs no more than a hung
      // Read would. ShortCircuitRead reads from the lease's data_offset, so it says so: without
      // accept_offset an entry that shares its file with others is refused.
      long leaseTimeoutMs = options.firstMessageTimeout().toMillis();
      this.shortCircuit =
          new ShortCircuitRead.Setup(
              key ->
                  blockingStub
                      .withDeadlineAfter(leaseTimeoutMs, TimeUnit.MILLISECONDS)
                      .lease(LeaseRequest.newBuilder().setKey(key).setAcceptOffset(true).build()),
              options.shortCircuitRoot().orElse(null),
              readAhead);
    } else {
      this.readAhead = null;
      this.shortCircuit = null;
    }
  }

  /** A client with default options for the agent at {@code agent} (host:port, unix:/path). */
  public static CheckpointCacheClient connect(String agent) {
    return new CheckpointCacheClient(CheckpointCacheClientOptions.builder(agent).build());
  }

  /** The agent this client talks to. */
  public AgentAddress agent() {
    return options.agent();
  }

  /**
   * The entry's bytes, local first. When the agent cannot serve them (miss, failure, hang,
   * corruption) the stream continues from {@code remote} at the first byte not yet delivered;
   * without a remote (null) it fails with a {@link CheckpointCacheException} carrying the status.
   * INVALID_ARGUMENT always fails the stream. The call starts at the first read.
   *
   * @throws io.checkpointcache.client.remote.RemoteStoreException UNSUPPORTED_URI when no remote
   *     store serves {@code remote}'s scheme
   */
  public CheckpointReadStream open(String key, URI remote) throws IOException {
    return open(key, remote, 0, null);
  }

  /** {@link #open(String, URI)} of {@code length} bytes from {@code offset} (null: to the end). */
  public CheckpointReadStream open(String key, URI remote, long offset, Long length)
      throws IOException {
    return openAt(key, remote, offset, length, false, null);
  }

  /**
   * {@link #open(String, URI, long, Long)} that uses the agent's entry only if it is a copy of
   * {@code expected}, the remote file's current version as the caller knows it; any other entry
   * is stale and the read goes to {@code remote} ({@link FallbackReason#STALE_ENTRY}).
   */
  public CheckpointReadStream open(
      String key, URI remote, long offset, Long length, RemoteVersion expected)
      throws IOException {
    return openAt(key, remote, offset, length, false, expected);
  }

  /** A read that can {@link SeekableCachedStream#seek seek}, re-opening a range read each time. */
  public SeekableCachedStream openSeekable(String key, URI remote) throws IOException {
    return openSeekable(key, remote, null);
  }

  /** {@link #openSeekable(String, URI)} whose reads use only a copy of {@code expected}. */
  public SeekableCachedStream openSeekable(String key, URI remote, RemoteVersion expected)
      throws IOException {
    Objects.requireNonNull(key, "key");
    if (remote != null) options.remoteStores().resolve(remote);
    return new SeekableCachedStream(this::openAt, key, remote, expected);
  }

  /**
   * Warms this JVM's read path (class loading, the channel's connect, the interpreter on the
   * short circuit's loops) so that the first real read does not pay for it: see {@link
   * ReadPathWarmUp}. Runs on the caller's thread, takes a fraction of a second of CPU (and up to
   * twice the first-message timeout when the agent hangs), never throws: what failed is in the
   * report. Writes only below {@code scratchDir} (a directory of its own there, deleted again),
   * creates nothing in the agent, and counts nothing in {@link #stats()}.
   */
  public WarmUpReport warmUpReadPath(Path scratchDir) {
    return new ReadPathWarmUp(this, scratchDir).run();
  }

  CheckpointReadStream openAt(
      String key, URI remote, long offset, Long length, boolean remoteOnly, RemoteVersion expected)
      throws IOException {
    return openAt(key, remote, offset, length, remoteOnly, expected, shortCircuit, counters);
  }

  /** The short circuit's setup, or null when the option is off. */
  ShortCircuitRead.Setup shortCircuitSetup() {
    return shortCircuit;
  }

  /** Runs the read ahead of short-circuited reads; null when the option is off. */
  ExecutorService readAheadExecutor() {
    return readAhead;
  }

  /**
   * A read with its own short-circuit setup and counters: the warm-up's reads of a synthetic entry
   * count nowhere the caller looks.
   */
  CheckpointReadStream openAt(
      String key,
      URI remote,
      long offset,
      Long length,
      boolean remoteOnly,
      RemoteVersion expected,
      ShortCircuitRead.Setup direct,
      ClientStats stats)
      throws IOException {
    Objects.requireNonNull(key, "key");
    if (offset < 0) throw new IllegalArgumentException("offset must be >= 0, got " + offset);
    if (length != null && length < 0) {
      throw new IllegalArgumentException("length must be >= 0, got " + length);
    }
    RemoteStore store = remote == null ? null : options.remoteStores().resolve(remote);
    return new CheckpointReadStream(
        new ReadPlan(
            asyncStub,
            channel,
            key,
            offset,
            length,
            options.readChunkSize(),
            remote,
            store,
            options.firstMessageTimeout().toMillis(),
            options.idleTimeout().toMillis(),
            options.unaryTimeout().toMillis(),
            stats,
            remoteOnly,
            expected,
            direct));
  }

  /**
   * Stores {@code data} under {@code key}, reading it to its end (the caller still closes it).
   * Returns once the agent has verified, persisted and registered the entry; on any failure
   * nothing is visible and a {@link CheckpointCacheException} says why (ALREADY_EXISTS: the key
   * holds other bytes; FAILED_PRECONDITION: size or CRC32C differ from {@code options}; ...).
   */
  public PutResult put(String key, InputStream data, PutOptions options) throws IOException {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(data, "data");
    return EntryUpload.run(
        asyncStub,
        key,
        data,
        options == null ? PutOptions.DEFAULT : options,
        this.options.writeChunkSize(),
        this.options.idleTimeout().toMillis());
  }

  /** {@link #put(String, InputStream, PutOptions)} of bytes in memory; size and CRC32C are sent. */
  public PutResult put(String key, byte[] data, PutOptions options) throws IOException {
    PutOptions o = options == null ? PutOptions.DEFAULT : options;
    if (o.size() == null) o = o.withSize((long) data.length);
    if (o.crc32c() == null) {
      CRC32C crc = new CRC32C();
      crc.update(data);
      o = o.withCrc32c((int) crc.getValue());
    }
    return put(key, new ByteArrayInputStream(data), o);
  }

  /**
   * Stores many small entries whose bytes are in memory, several to a call (WriteBatch: up to
   * 1,000 entries and about 8 MiB per call, one call at a time), each stored exactly as {@link
   * #put(String, byte[], PutOptions)} would store it; the agent pays for one call per batch
   * instead of one per entry. Returns one result per entry, in their order: the {@link PutResult},
   * or the {@link CheckpointCacheException} a put of it would have thrown (nothing of it stored).
   * A failure of a whole call (PERMISSION_DENIED over TCP, the agent unreachable, its deadline) is
   * every one of its entries' error; after DEADLINE_EXCEEDED or CANCELLED some of them may be
   * stored all the same, so put them again (the same bytes are answered {@code created} false).
   * An entry larger than a batch goes alone through put. An agent older than WriteBatch
   * (UNIMPLEMENTED) gets the entries as single puts, and is asked again a minute later.
   */
  public List<BatchEntryResult> writeBatch(List<BatchEntry> entries) {
    Objects.requireNonNull(entries, "entries");
    return EntryBatch.run(
        entries,
        blockingStub,
        options.unaryTimeout().toMillis(),
        e -> put(e.key(), e.data(), e.options()),
        () -> System.nanoTime() - batchUnsupportedUntil < 0,
        () ->
            batchUnsupportedUntil =
                System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(BATCH_RETRY_MS));
  }

  /**
   * Stores the file {@code fileName} of the agent's ingest directory (its {@code --ingest-dir},
   * which this process shares on the same node) under {@code key}: the agent copies the file
   * itself, without its bytes crossing gRPC. Over the agent's Unix socket only (PERMISSION_DENIED
   * over TCP). {@code options.size()} and {@code options.crc32c()} are required and checked against
   * what the agent copied; the file is left in place for the caller to delete. Fails like {@link
   * #put(String, InputStream, PutOptions)}, and with FAILED_PRECONDITION when the agent has no
   * ingest directory.
   */
  public PutResult ingest(String key, String fileName, PutOptions options)
      throws CheckpointCacheException {
    return ingest(key, fileName, options, false);
  }

  /**
   * {@link #ingest(String, String, PutOptions)}, and with {@code handOver} the caller gives the
   * file to the cache: it will not write to it again (it may delete its name once answered), and
   * the agent links the file into the cache instead of copying it where it can (one file system
   * and mount; else it copies). A file written to afterwards makes the entry's reads fail with
   * DATA_LOSS; they never serve the changed bytes.
   */
  public PutResult ingest(String key, String fileName, PutOptions options, boolean handOver)
      throws CheckpointCacheException {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(fileName, "fileName");
    Objects.requireNonNull(options, "options");
    if (options.size() == null || options.crc32c() == null) {
      throw new IllegalArgumentException(
          "ingest needs options.size() and options.crc32c(): the agent checks the copy against"
              + " them, so a file changed while copied is refused");
    }
    IngestRequest request =
        IngestRequest.newBuilder()
            .setHeader(EntryUpload.headerOf(key, options))
            .setFileName(fileName)
            .setHandOver(handOver)
            .build();
    // The copy's time grows with the file: the unary deadline plus a second per 10 MiB.
    long deadlineMs =
        this.options.unaryTimeout().toMillis()
            + (options.size() + INGEST_BYTES_PER_DEADLINE_SECOND - 1)
                / INGEST_BYTES_PER_DEADLINE_SECOND
                * 1000;
    WriteResponse response =
        unary(
            "Ingest",
            key,
            () ->
                blockingStub
                    .withDeadlineAfter(deadlineMs, TimeUnit.MILLISECONDS)
                    .ingest(request));
    return new PutResult(response.getEntry(), response.getCreated());
  }

  /** Describes an entry and resets its TTL; NOT_FOUND when it is not cached on this node. */
  public EntryInfo stat(String key) throws CheckpointCacheException {
    return stat(key, false);
  }

  /** Describes an entry; resets its TTL unless {@code noTouch}. */
  public EntryInfo stat(String key, boolean noTouch) throws CheckpointCacheException {
    StatRequest request = StatRequest.newBuilder().setKey(key).setNoTouch(noTouch).build();
    return unary("Stat", key, () -> blocking().stat(request));
  }

  /** Resets an entry's TTL. */
  public EntryInfo touch(String key) throws CheckpointCacheException {
    return touch(key, 0, null);
  }

  /**
   * Resets an entry's TTL, recording that {@code checkpointId} (0: none) also references it, and
   * setting a new TTL unless {@code ttl} is null.
   */
  public EntryInfo touch(String key, long checkpointId, Duration ttl)
      throws CheckpointCacheException {
    TouchRequest request =
        TouchRequest.newBuilder()
            .setKey(key)
            .setCheckpointId(checkpointId)
            .setTtlMs(ttl == null ? 0 : ttl.toMillis())
            .build();
    return unary("Touch", key, () -> blocking().touch(request));
  }

  /** Removes an entry from the node; true when it was there. */
  public boolean delete(String key) throws CheckpointCacheException {
    DeleteRequest request = DeleteRequest.newBuilder().setKey(key).build();
    return unary("Delete", key, () -> blocking().delete(request)).getDeleted();
  }

  /**
   * Removes every entry below directory {@code prefix} (ending in '/') from the node, and has the
   * agent tell every other node to remove theirs ({@code nodes_told} -1: they could not be told).
   * An agent older than this RPC answers {@code UNIMPLEMENTED}.
   */
  public DeletePrefixResponse deletePrefix(String prefix) throws CheckpointCacheException {
    DeletePrefixRequest request = DeletePrefixRequest.newBuilder().setPrefix(prefix).build();
    return unary("DeletePrefix", prefix, () -> blocking().deletePrefix(request));
  }

  /**
   * Tells the agent that the bytes it served for {@code key} have CRC32C {@code observedCrc32c}
   * although it described the entry with {@code entryCrc32c}; reads do this themselves. True when
   * the agent removed its copy because of the report (it does at once for a caller its write
   * policy admits, otherwise only if its own re-check fails).
   */
  public boolean reportCorrupt(String key, int entryCrc32c, int observedCrc32c)
      throws CheckpointCacheException {
    ReportCorruptRequest request =
        ReportCorruptRequest.newBuilder()
            .setKey(key)
            .setEntryCrc32C(entryCrc32c)
            .setObservedCrc32C(observedCrc32c)
            .build();
    return unary("ReportCorrupt", key, () -> blocking().reportCorrupt(request)).getQuarantined();
  }

  /**
   * Drops a job's entries of checkpoints below {@code belowCheckpointId}, or all of the job's
   * entries when it is null; entries a retained checkpoint still references stay.
   */
  public ReleaseResult release(String jobId, Long belowCheckpointId)
      throws CheckpointCacheException {
    ReleaseRequest.Builder request = ReleaseRequest.newBuilder().setJobId(jobId);
    if (belowCheckpointId != null) request.setBelowCheckpointId(belowCheckpointId);
    ReleaseResponse res = unary("Release", null, () -> blocking().release(request.build()));
    return new ReleaseResult(res.getReleasedEntries(), res.getReleasedBytes());
  }

  /**
   * One page of the node's entries in key order, optionally of one job (null or empty: all) and
   * one checkpoint (null: any; needs a job).
   *
   * @param pageSize 1 to 1000; 0 for the agent's default (100)
   * @param pageToken the previous page's next token; null or empty for the first page
   */
  public ListPage listPage(String jobId, Long checkpointId, int pageSize, String pageToken)
      throws CheckpointCacheException {
    ListRequest.Builder request =
        ListRequest.newBuilder()
            .setJobId(jobId == null ? "" : jobId)
            .setPageSize(pageSize)
            .setPageToken(pageToken == null ? "" : pageToken);
    if (checkpointId != null) request.setCheckpointId(checkpointId);
    ListResponse res = unary("List", null, () -> blocking().list(request.build()));
    return new ListPage(res.getEntriesList(), res.getNextPageToken());
  }

  /**
   * Every entry of {@code jobId} (null: all jobs) and {@code checkpointId} (null: any), fetching
   * pages as the iteration goes. A failed page surfaces as an UncheckedIOException wrapping the
   * CheckpointCacheException.
   */
  public Iterable<EntryInfo> list(String jobId, Long checkpointId) {
    return () -> new PagingIterator(jobId, checkpointId);
  }

  /** Bytes by source and fallbacks by reason since the client was made. */
  public ClientStatsSnapshot stats() {
    return counters.snapshot();
  }

  /** Closes the channel; calls in progress are given a few seconds to finish. */
  @Override
  public void close() {
    if (readAhead != null) readAhead.shutdownNow(); // a read ahead interrupted only ends its read
    channel.close();
  }

  private CheckpointCacheGrpc.CheckpointCacheBlockingStub blocking() {
    return blockingStub.withDeadlineAfter(
        options.unaryTimeout().toMillis(), TimeUnit.MILLISECONDS);
  }

  private <T> T unary(String rpc, String key, Supplier<T> call) throws CheckpointCacheException {
    try {
      return call.get();
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() == Status.Code.UNAVAILABLE) channel.resetConnectBackoff();
      throw CheckpointCacheException.fromGrpc(e, rpc, key);
    }
  }

  private final class PagingIterator implements Iterator<EntryInfo> {
    private final String jobId;
    private final Long checkpointId;
    private Iterator<EntryInfo> page = java.util.Collections.emptyIterator();
    private String nextToken = "";
    private boolean lastPage;

    PagingIterator(String jobId, Long checkpointId) {
      this.jobId = jobId;
      this.checkpointId = checkpointId;
    }

    @Override
    public boolean hasNext() {
      while (!page.hasNext() && !lastPage) {
        ListPage p;
        try {
          p = listPage(jobId, checkpointId, 0, nextToken);
        } catch (CheckpointCacheException e) {
          throw new UncheckedIOException(e);
        }
        page = p.entries().iterator();
        nextToken = p.nextPageToken();
        lastPage = nextToken.isEmpty();
      }
      return page.hasNext();
    }

    @Override
    public EntryInfo next() {
      if (!hasNext()) throw new NoSuchElementException();
      return page.next();
    }
  }
}
