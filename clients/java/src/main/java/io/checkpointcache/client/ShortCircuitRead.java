package io.checkpointcache.client;

import io.checkpointcache.v1.EntryInfo;
import io.checkpointcache.v1.LeaseResponse;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The same-node short circuit of one read (the TypeScript client's {@code short-circuit-read.ts}):
 * leases the entry from the agent, opens its file on the mounted cache directory and hands out its
 * bytes, every block checked against the CRC32C the lease carried before any of its bytes leave. A
 * caller's read that covers whole blocks gets them read straight into its array and checked there
 * ({@link #readInto}: the copies a {@link java.io.FileInputStream} read makes, no other thread);
 * other reads get a span of whole blocks at a time ({@link #next}), the next span read and verified
 * ahead (on the client's read-ahead executor) while the current one is delivered. The lease is
 * renewed when a read outlives half of it, so the agent does not evict the entry to make room
 * while it is being read. The entry is the lease's {@code entry.size} bytes from its {@code
 * data_offset} of the file (an agent may pack small entries several to a file); positions here are
 * the entry's, and no byte of the file outside the entry is read.
 *
 * <p>Owns: the leased file handle, the two span buffers and the span arithmetic (the block checks
 * are {@link LeasedBlocks}'). Never: deciding what happens when the short circuit fails (the read
 * stream goes on by streaming from the agent, see {@link CheckpointReadStream}), or handing out a
 * byte of a block that has not verified.
 * Not thread-safe: one reader thread, plus at most one read ahead in flight.
 *
 * <p>Slightly over 400 lines on purpose: the lease, the span buffers and the read ahead share one
 * invariant (the buffer handed out is never the one being filled, and no unverified byte leaves),
 * which a reader checks best in one file; the block checks already live apart in {@link
 * LeasedBlocks}.
 */
final class ShortCircuitRead implements AutoCloseable {
  /**
   * Most bytes one read of the file covers, unless a single block is larger. 1 MiB, as the
   * TypeScript client (measured there: 1.4x the MB/s of 256 KiB spans); a range read still reads
   * only the blocks it touches.
   */
  static final int DIRECT_SPAN = 1024 * 1024;

  /**
   * Leases an entry: the agent's {@code Lease} call with its deadline, or (the read path's
   * warm-up, {@link ReadPathWarmUp}) a lease of a synthetic entry that never reaches the agent.
   * Throws the agent's {@link StatusRuntimeException} when the lease fails.
   */
  @FunctionalInterface
  interface Leaser {
    LeaseResponse lease(String key);
  }

  /** What a client with the short circuit on hands each read. */
  record Setup(
      Leaser leaser,
      /** Where this process mounts the cache directory; null: the lease's own cache root. */
      Path cacheRoot,
      /** Runs the read ahead of the next span. */
      Executor readAhead) {}

  /**
   * The short circuit cannot serve (the rest of) the range: no file, one shorter than {@code
   * data_offset + entry.size}, a block failing its CRC32C, the lease lost. The read goes on by
   * streaming from the agent, which answers for it.
   */
  static final class Miss extends IOException {
    Miss(String message) {
      super(message);
    }

    Miss(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /**
   * Verified whole blocks: {@code data}'s position 0 is entry offset {@code start}; {@code crc32c}
   * is that of all of {@code data}, combined from the blocks' (no second pass over the bytes).
   */
  record Span(long start, ByteBuffer data, int crc32c) {}

  private final Setup setup;
  private final String key;
  private final FileChannel file;
  /** Where the entry's bytes begin in the file: entry offset 0. */
  private final long dataOffset;
  private final EntryInfo entry;
  private final long end;
  private final int blockSize;
  private final long spanBytes;
  private final LeasedBlocks blocks;
  /** The buffer the caller is being handed out of; the read ahead fills the other one. */
  private ByteBuffer current;
  private ByteBuffer spare;
  private Ahead ahead;
  /** System.nanoTime() after which the lease is renewed before the next span. */
  private long renewAtNanos;
  private int lastReadCrc;
  private boolean closed;

  /**
   * The next span, read and verified on the read-ahead thread: the reader's thread is left only
   * the copy into the caller's array (the file read and the CRC32C run beside it).
   */
  private record Ahead(long start, int length, CompletableFuture<Verified> read) {}

  /** A span's buffer once every block in it has verified, and the span's CRC32C. */
  private record Verified(ByteBuffer buffer, int crc32c) {}

  private ShortCircuitRead(Setup setup, String key, FileChannel file, LeaseResponse lease, long end) {
    this.setup = setup;
    this.key = key;
    this.file = file;
    this.dataOffset = lease.getDataOffset();
    this.entry = lease.getEntry();
    this.end = end;
    this.blockSize = lease.getBlockSize();
    long most = Math.max(blockSize, (DIRECT_SPAN / Math.max(blockSize, 1)) * (long) blockSize);
    this.spanBytes = most;
    this.blocks = new LeasedBlocks(key, blockSize, lease.getBlockCrc32C().asReadOnlyByteBuffer());
    this.renewAtNanos = renewalTime(lease);
  }

  /**
   * Leases the entry. Throws the agent's {@link StatusRuntimeException} when the lease fails (the
   * caller decides by its status), and {@link Miss} when the file cannot serve the range: absent,
   * shorter than {@code data_offset + entry.size}, a range outside the entry (the agent's stream
   * then answers for it).
   */
  static ShortCircuitRead open(Setup setup, String key, long offset, Long length)
      throws IOException {
    LeaseResponse lease = lease(setup, key);
    if (!lease.hasEntry()) throw new Miss("the lease describes no entry");
    EntryInfo entry = lease.getEntry();
    long end = length == null ? entry.getSize() : offset + length;
    // A bad range is left to the agent, which answers it with INVALID_ARGUMENT.
    if (offset > entry.getSize() || end > entry.getSize()) {
      throw new Miss(
          "range " + offset + ".." + end + " outside the leased entry (" + entry.getSize()
              + " bytes)");
    }
    long blocks = lease.getBlockSize() == 0 ? -1 : ceilDiv(entry.getSize(), lease.getBlockSize());
    if (entry.getSize() > 0 && blocks * 4 != lease.getBlockCrc32C().size()) {
      throw new Miss(
          "the lease's block checksums (" + lease.getBlockCrc32C().size() + " bytes, block size "
              + lease.getBlockSize() + ") do not cover the entry's " + entry.getSize() + " bytes");
    }
    // uint64 in a long: an offset past Long.MAX_VALUE - size is no file position.
    if (lease.getDataOffset() < 0 || lease.getDataOffset() > Long.MAX_VALUE - entry.getSize()) {
      throw new Miss(
          "the lease's data_offset " + Long.toUnsignedString(lease.getDataOffset())
              + " is past any file");
    }
    if (setup.cacheRoot() == null && lease.getCacheRoot().isEmpty()) {
      throw new Miss("the lease names no cache root, and the client was given no mount point");
    }
    Path file;
    try {
      Path root = setup.cacheRoot() != null ? setup.cacheRoot() : Path.of(lease.getCacheRoot());
      file = root.resolve(lease.getRelativePath());
    } catch (InvalidPathException e) {
      throw new Miss("the leased path is not a path here: " + e.getMessage(), e);
    }
    FileChannel channel;
    try {
      channel = FileChannel.open(file, StandardOpenOption.READ);
    } catch (NoSuchFileException e) {
      throw new Miss("no file " + file + " (is the cache directory mounted there?)", e);
    } catch (IOException | SecurityException e) {
      throw new Miss("cannot open " + file + ": " + e, e);
    }
    try {
      // Longer is fine (other entries share the file); shorter is a truncated file.
      long size = channel.size();
      long entryEnd = lease.getDataOffset() + entry.getSize();
      if (size < entryEnd) {
        throw new Miss(
            file + " has " + size + " bytes, the entry ends at " + entryEnd + " (data_offset "
                + lease.getDataOffset() + ", " + entry.getSize() + " bytes)");
      }
    } catch (IOException e) {
      closeQuietly(channel);
      throw e instanceof Miss ? e : new Miss("cannot read the size of " + file + ": " + e, e);
    }
    return new ShortCircuitRead(setup, key, channel, lease, end);
  }

  /** The entry as the lease describes it. */
  EntryInfo entry() {
    return entry;
  }

  /** Absolute end (exclusive) of the range read. */
  long end() {
    return end;
  }

  /**
   * The verified span of whole blocks holding {@code position}, up to the end of the range; the
   * buffer stays valid until the next call. Throws {@link Miss} when the file ends early, a block
   * fails its CRC32C, the lease cannot be renewed or the file cannot be read.
   */
  Span next(long position) throws IOException {
    if (closed) throw new Miss("closed");
    renewIfDue();
    long start = (position / blockSize) * blockSize;
    int length = spanLength(start);
    Verified span;
    Ahead pending = ahead;
    ahead = null;
    if (pending != null && pending.start() == start && pending.length() == length) {
      span = await(pending.read());
    } else {
      if (pending != null) awaitQuietly(pending.read()); // its buffer is about to be reused
      span = readVerified(start, length, spare());
    }
    // The buffer handed out now must not be the one the read ahead fills.
    spare = current;
    current = span.buffer();
    long spanEnd = start + length;
    if (spanEnd < end) {
      int following = spanLength(spanEnd);
      ByteBuffer into = spare();
      spare = null;
      try {
        ahead =
            new Ahead(
                spanEnd,
                following,
                CompletableFuture.supplyAsync(
                    () -> readAhead(spanEnd, following, into), setup.readAhead()));
      } catch (RejectedExecutionException e) {
        // The client is closing: no read ahead; the next span is read when it is asked for.
        spare = into;
      }
    }
    return new Span(start, span.buffer().asReadOnlyBuffer(), span.crc32c());
  }

  /**
   * Reads the whole blocks from {@code position} (a block boundary) that fit in {@code b[off..
   * off+len)} and in the range straight into {@code b}, and checks them there: the copies a {@link
   * java.io.FileInputStream} read makes, and no hand-over to the read-ahead thread. Returns how
   * many bytes it read and verified ({@link #lastReadCrc32c} is their CRC32C), or 0 when not even
   * one block fits (the caller then takes a span from {@link #next}). Throws {@link Miss} like
   * {@link #next}; the bytes of a block that failed its check are then in {@code b} beyond what
   * any read returned, and the read goes on by streaming.
   */
  int readInto(long position, byte[] b, int off, int len) throws IOException {
    if (closed) throw new Miss("closed");
    if (position % blockSize != 0) return 0;
    long size = entry.getSize();
    long upTo = Math.min(end, position + len);
    // Whole blocks only; the entry's last block may be short, and fits if the range reaches it.
    long whole = upTo == size ? upTo - position : (upTo - position) / blockSize * blockSize;
    int n = (int) whole;
    if (n == 0) return 0;
    renewIfDue();
    ByteBuffer into = ByteBuffer.wrap(b, off, n);
    long at = position;
    try {
      while (into.hasRemaining()) {
        int read = file.read(into, dataOffset + at);
        if (read < 0) break;
        at += read;
      }
    } catch (IOException e) {
      throw cannotRead(at, e);
    }
    if (into.hasRemaining()) {
      throw new Miss(
          "the file ended early: at entry offset " + at + ", expected " + (position + n));
    }
    lastReadCrc = blocks.verify(b, off, n, position);
    return n;
  }

  /** CRC32C of the bytes the last {@link #readInto} returned (combined from their blocks'). */
  int lastReadCrc32c() {
    return lastReadCrc;
  }

  /** Closes the file; a read ahead still in flight fails on its own and is ignored. Idempotent. */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    ahead = null;
    closeQuietly(file);
  }

  // ---- spans ---------------------------------------------------------------------------------

  /** Length of the span from block boundary {@code start}: whole blocks up to the range's end. */
  private int spanLength(long start) {
    long lastBlockEnd = Math.min(ceilDiv(end, blockSize) * blockSize, entry.getSize());
    return (int) Math.min(spanBytes, lastBlockEnd - start);
  }

  private ByteBuffer spare() {
    if (spare == null) spare = allocate((int) Math.min(spanBytes, entry.getSize()));
    return spare;
  }

  /**
   * A span buffer. No span is longer than spanBytes, nor than the entry (a small file needs a
   * small buffer). Direct: the file is read straight into it (a heap buffer costs one more copy,
   * through a temporary direct one) and CRC32C reads it in place. A JVM whose direct memory is
   * used up (Flink caps it with its off-heap settings) gets a heap buffer: slower, not a failure.
   */
  private static ByteBuffer allocate(int bytes) {
    try {
      return ByteBuffer.allocateDirect(bytes);
    } catch (OutOfMemoryError e) {
      return ByteBuffer.allocate(bytes);
    }
  }

  /**
   * Reads {@code length} bytes from entry offset {@code start} (no span passes the entry's end, so
   * none reaches the bytes after it); fewer only when the file ends first.
   */
  private ByteBuffer readSpan(long start, int length, ByteBuffer into) throws IOException {
    into.clear().limit(length);
    long at = start;
    try {
      while (into.hasRemaining()) {
        int n = file.read(into, dataOffset + at);
        if (n < 0) break;
        at += n;
      }
    } catch (IOException e) {
      throw cannotRead(at, e);
    }
    return into.flip();
  }

  /** Reads {@code length} bytes from {@code start} and checks every block in them. */
  private Verified readVerified(long start, int length, ByteBuffer into) throws IOException {
    ByteBuffer data = readSpan(start, length, into);
    if (data.remaining() != length) {
      throw new Miss(
          "the file ended early: " + data.remaining() + " bytes at entry offset " + start
              + ", expected " + length);
    }
    return new Verified(data, blocks.verify(data, start));
  }

  private Verified readAhead(long start, int length, ByteBuffer into) {
    try {
      return readVerified(start, length, into);
    } catch (IOException e) {
      throw new CompletionException(e);
    }
  }

  private Miss cannotRead(long at, IOException e) {
    return new Miss(
        "cannot read the cached file of \"" + key + "\" at entry offset " + at + ": " + e, e);
  }

  // ---- the lease -----------------------------------------------------------------------------

  private static LeaseResponse lease(Setup setup, String key) {
    return setup.leaser().lease(key);
  }

  /** Half-way through the lease as granted (agent and client share the node's clock). */
  private static long renewalTime(LeaseResponse lease) {
    long leftMs = Math.max(0, lease.getExpiresAtMs() - System.currentTimeMillis());
    return System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(leftMs / 2);
  }

  /**
   * A read that outlives half its lease leases again, so that eviction keeps away from the entry
   * until the read is done. A renewal that fails, or describes another entry (the key was replaced
   * meanwhile), ends the short circuit: the agent's stream answers for the rest.
   */
  private void renewIfDue() throws Miss {
    if (System.nanoTime() - renewAtNanos < 0) return;
    LeaseResponse renewed;
    try {
      renewed = lease(setup, key);
    } catch (StatusRuntimeException e) {
      throw new Miss("the lease could not be renewed: " + e.getStatus(), e);
    }
    EntryInfo now = renewed.getEntry();
    if (now.getSize() != entry.getSize() || now.getCrc32C() != entry.getCrc32C()) {
      throw new Miss("the entry changed while it was read (renewed lease describes another one)");
    }
    renewAtNanos = renewalTime(renewed);
  }

  // ---- helpers -------------------------------------------------------------------------------

  private static Verified await(CompletableFuture<Verified> read) throws IOException {
    try {
      return read.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted while reading the cached file");
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof IOException io) throw io;
      throw new Miss("read ahead failed: " + cause, cause);
    }
  }

  private static void awaitQuietly(CompletableFuture<Verified> read) {
    try {
      read.join();
    } catch (RuntimeException ignored) {
      // Only its buffer mattered: it is free once the read is over, however it ended.
    }
  }

  private static long ceilDiv(long a, long b) {
    return (a + b - 1) / b;
  }

  private static void closeQuietly(FileChannel channel) {
    try {
      channel.close();
    } catch (IOException ignored) {
      // Read-only: nothing to lose.
    }
  }
}
