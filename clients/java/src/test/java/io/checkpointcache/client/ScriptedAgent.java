package io.checkpointcache.client;

import com.google.protobuf.ByteString;
import io.checkpointcache.v1.CheckpointCacheGrpc;
import io.checkpointcache.v1.Chunk;
import io.checkpointcache.v1.DeleteRequest;
import io.checkpointcache.v1.DeleteResponse;
import io.checkpointcache.v1.EntryInfo;
import io.checkpointcache.v1.LeaseRequest;
import io.checkpointcache.v1.LeaseResponse;
import io.checkpointcache.v1.ReadHeader;
import io.checkpointcache.v1.ReadRequest;
import io.checkpointcache.v1.ReadResponse;
import io.checkpointcache.v1.ReportCorruptRequest;
import io.checkpointcache.v1.ReportCorruptResponse;
import io.checkpointcache.v1.StatRequest;
import io.checkpointcache.v1.WriteHeader;
import io.checkpointcache.v1.WriteRequest;
import io.checkpointcache.v1.WriteResponse;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * A gRPC server on a free loopback port that answers Read from entries the test scripts: bytes
 * served and the whole-entry CRC32C the header claims, which may disagree although every chunk
 * carries its bytes' true CRC32C. The real agent cannot be made to do that (it refuses entries
 * whose block CRCs do not combine to their whole CRC), so this stands in for an agent with such
 * a bug, and records the ReportCorrupt calls clients make. Write, Stat and Delete work on the
 * same map (Write as the agent's: ALREADY_EXISTS for other bytes under a key), and a Write can be
 * held back to order two uploads of one key, which the real agent cannot be made to do either.
 * Lease is UNIMPLEMENTED (an agent older than the short circuit) until {@link #serveLeases} turns
 * it on: then it writes each leased entry's bytes to a file and answers with true block CRC32Cs,
 * the scripted whole CRC32C, and a lease as short as the test wants, and can refuse renewals.
 * With {@link #packLeases} each entry's file holds other bytes before and after it, as a file that
 * several small entries share (the real agent does not pack entries yet, so it cannot show this).
 * Every other RPC is UNIMPLEMENTED. Public for the Flink plugin's tests (test-jar).
 */
public final class ScriptedAgent implements AutoCloseable {
  private static final int CHUNK = 64 * 1024;

  /** What Read serves for a key: {@code bytes}, under a header claiming {@code claimedCrc32c}. */
  public record Entry(byte[] bytes, int claimedCrc32c) {}

  private final Map<String, Entry> entries = new ConcurrentHashMap<>();
  private final List<ReportCorruptRequest> reports = new CopyOnWriteArrayList<>();
  private volatile boolean quarantineOnReport;
  private volatile boolean answerReports = true;
  private volatile long failReadsAfter = -1;
  private volatile boolean stallWrites;
  private final CountDownLatch writeStarted = new CountDownLatch(1);
  private final List<String> deletes = new CopyOnWriteArrayList<>();
  private final AtomicInteger writes = new AtomicInteger();
  private volatile String heldKey;
  private volatile long holdMs;
  private final CountDownLatch laterWriteDone = new CountDownLatch(1);
  private final AtomicInteger writesOfHeldKey = new AtomicInteger();
  private final CountDownLatch heldWriteArrived = new CountDownLatch(1);
  private volatile Path leaseDir;
  private volatile int leaseBlockSize;
  private volatile long leaseMs;
  private volatile int grantLeases = Integer.MAX_VALUE;
  private volatile Status leaseRefusal = Status.UNAVAILABLE;
  private volatile int packBefore = -1;
  private volatile int packAfter;
  private final List<LeaseRequest> leaseRequests = new CopyOnWriteArrayList<>();
  private final AtomicInteger leases = new AtomicInteger();
  private final AtomicInteger reads = new AtomicInteger();
  private final Server server;

  private ScriptedAgent() throws IOException {
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(new Service())
            .build()
            .start();
  }

  public static ScriptedAgent start() throws IOException {
    return new ScriptedAgent();
  }

  /** host:port, as a client's agent address. */
  public String address() {
    return "127.0.0.1:" + server.getPort();
  }

  /** Serves {@code bytes} for {@code key} under a header claiming {@code claimedCrc32c}. */
  public void put(String key, byte[] bytes, int claimedCrc32c) {
    entries.put(key, new Entry(bytes, claimedCrc32c));
  }

  public boolean holds(String key) {
    return entries.containsKey(key);
  }

  /** A report removes the entry, as the real agent does for a trusted caller. */
  public void quarantineOnReport(boolean on) {
    quarantineOnReport = on;
  }

  /**
   * On: Writes take the header and one chunk, then nothing more (HTTP/2 flow control stops the
   * client): an agent that hangs mid-upload.
   */
  public void stallWrites(boolean on) {
    stallWrites = on;
  }

  /** Waits until some Write has sent its header. */
  public boolean awaitWriteStarted(long timeoutMs) throws InterruptedException {
    return writeStarted.await(timeoutMs, TimeUnit.MILLISECONDS);
  }

  /** Reads end with DATA_LOSS after the chunks that hold the first {@code bytes} (-1: never). */
  public void failReadsAfter(long bytes) {
    failReadsAfter = bytes;
  }

  /**
   * Lease answers: the entry's file under {@code dir}, {@code blockSize}-byte blocks, expiring
   * {@code leaseMs} from now.
   */
  public void serveLeases(Path dir, int blockSize, long leaseMs) {
    this.leaseBlockSize = blockSize;
    this.leaseMs = leaseMs;
    this.leaseDir = dir;
  }

  /** Only the first {@code n} Lease calls are granted; later ones are UNAVAILABLE. */
  public void grantLeases(int n) {
    grantLeases(n, Status.Code.UNAVAILABLE);
  }

  /** Only the first {@code n} Lease calls are granted; later ones fail with {@code refusal}. */
  public void grantLeases(int n, Status.Code refusal) {
    leaseRefusal = Status.fromCode(refusal);
    grantLeases = n;
  }

  /**
   * Leased files hold {@code before} other bytes, the entry, then {@code after} other bytes; the
   * lease's data_offset is {@code before}. A Lease without accept_offset is FAILED_PRECONDITION,
   * as the agent answers for an entry that shares its file.
   */
  public void packLeases(int before, int after) {
    packAfter = after;
    packBefore = before;
  }

  /** The Lease requests received so far, in order. */
  public List<LeaseRequest> leaseRequests() {
    return List.copyOf(leaseRequests);
  }

  /** Lease calls received so far. */
  public int leases() {
    return leases.get();
  }

  /** Read calls received so far. */
  public int reads() {
    return reads.get();
  }

  /** Where {@link #serveLeases} keeps the file of {@code key}. */
  public static String leasedFileName(String key) {
    return Integer.toHexString(key.hashCode()) + ".entry";
  }

  /** Off: ReportCorrupt never answers (a hung agent); the client must not wait for it. */
  public void answerReports(boolean on) {
    answerReports = on;
  }

  /**
   * The first Write of {@code key} answers only once a later Write of the same key has been
   * answered, or after {@code maxMs}: the order in which a stale upload's answer arrives after a
   * newer one's.
   */
  public void holdFirstWriteOf(String key, long maxMs) {
    holdMs = maxMs;
    heldKey = key;
  }

  /** Waits until a Write of the key given to {@link #holdFirstWriteOf} has sent its header. */
  public boolean awaitHeldWrite(long timeoutMs) throws InterruptedException {
    return heldWriteArrived.await(timeoutMs, TimeUnit.MILLISECONDS);
  }

  /** Keys of the Delete calls received so far, in order. */
  public List<String> deletes() {
    return List.copyOf(deletes);
  }

  /** Write calls answered so far. */
  public int writes() {
    return writes.get();
  }

  /** The bytes stored under {@code key}, or null. */
  public byte[] bytes(String key) {
    Entry e = entries.get(key);
    return e == null ? null : e.bytes();
  }

  /** The ReportCorrupt calls received so far. */
  public List<ReportCorruptRequest> reports() {
    return List.copyOf(reports);
  }

  /** Waits up to {@code timeoutMs} for at least {@code n} reports; returns them. */
  public List<ReportCorruptRequest> awaitReports(int n, long timeoutMs)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    while (reports.size() < n && System.nanoTime() < deadline) Thread.sleep(10);
    return reports();
  }

  public static int crc32c(byte[] data) {
    CRC32C crc = new CRC32C();
    crc.update(data);
    return (int) crc.getValue();
  }

  @Override
  public void close() throws InterruptedException {
    server.shutdownNow();
    server.awaitTermination(5, TimeUnit.SECONDS);
  }

  private EntryInfo info(String key, Entry e) {
    return EntryInfo.newBuilder()
        .setKey(key)
        .setSize(e.bytes().length)
        .setCrc32C(e.claimedCrc32c())
        .setNodeId("scripted")
        .build();
  }

  private final class Service extends CheckpointCacheGrpc.CheckpointCacheImplBase {
    @Override
    public void lease(LeaseRequest request, StreamObserver<LeaseResponse> out) {
      Path dir = leaseDir;
      if (dir == null) {
        super.lease(request, out); // UNIMPLEMENTED: an agent older than the short circuit
        return;
      }
      leaseRequests.add(request);
      if (leases.incrementAndGet() > grantLeases) {
        out.onError(leaseRefusal.withDescription("scripted refusal").asRuntimeException());
        return;
      }
      int before = packBefore;
      if (before >= 0 && !request.getAcceptOffset()) {
        out.onError(
            Status.FAILED_PRECONDITION
                .withDescription("the entry shares its file with others: read it with Read")
                .asRuntimeException());
        return;
      }
      Entry e = entries.get(request.getKey());
      if (e == null) {
        out.onError(Status.NOT_FOUND.withDescription("not cached").asRuntimeException());
        return;
      }
      String name = leasedFileName(request.getKey());
      try {
        if (!Files.exists(dir.resolve(name))) {
          Files.write(dir.resolve(name), before < 0 ? e.bytes() : packed(e.bytes(), before));
        }
      } catch (IOException io) {
        throw new UncheckedIOException(io);
      }
      int block = leaseBlockSize;
      int blocks = (e.bytes().length + block - 1) / block;
      ByteBuffer crcs = ByteBuffer.allocate(blocks * 4);
      for (int b = 0; b < blocks; b++) {
        CRC32C crc = new CRC32C();
        crc.update(e.bytes(), b * block, Math.min(block, e.bytes().length - b * block));
        crcs.putInt((int) crc.getValue());
      }
      out.onNext(
          LeaseResponse.newBuilder()
              .setEntry(info(request.getKey(), e))
              .setCacheRoot(dir.toString())
              .setRelativePath(name)
              .setBlockSize(block)
              .setBlockCrc32C(ByteString.copyFrom(crcs.flip()))
              .setExpiresAtMs(System.currentTimeMillis() + leaseMs)
              .setDataOffset(Math.max(0, before))
              .build());
      out.onCompleted();
    }

    /** {@code bytes} between {@code before} and packAfter bytes that belong to no entry here. */
    private byte[] packed(byte[] bytes, int before) {
      byte[] file = TestBytes.generate(before + bytes.length + packAfter, 77);
      System.arraycopy(bytes, 0, file, before, bytes.length);
      return file;
    }

    @Override
    public void read(ReadRequest request, StreamObserver<ReadResponse> out) {
      reads.incrementAndGet();
      Entry e = entries.get(request.getKey());
      if (e == null) {
        out.onError(Status.NOT_FOUND.withDescription("not cached").asRuntimeException());
        return;
      }
      long size = e.bytes().length;
      long offset = request.getOffset();
      long end = request.hasLength() ? offset + request.getLength() : size;
      if (offset > size || end > size) {
        out.onError(
            Status.INVALID_ARGUMENT
                .withDescription("range " + offset + ".." + end + " past the entry's " + size)
                .asRuntimeException());
        return;
      }
      out.onNext(
          ReadResponse.newBuilder()
              .setHeader(
                  ReadHeader.newBuilder()
                      .setEntry(info(request.getKey(), e))
                      .setOffset(offset)
                      .setLength(end - offset))
              .build());
      long failAfter = failReadsAfter;
      for (long at = offset; at < end; at += CHUNK) {
        if (failAfter >= 0 && at - offset >= failAfter) {
          out.onError(Status.DATA_LOSS.withDescription("scripted failure").asRuntimeException());
          return;
        }
        int n = (int) Math.min(CHUNK, end - at);
        CRC32C crc = new CRC32C();
        crc.update(e.bytes(), (int) at, n);
        out.onNext(
            ReadResponse.newBuilder()
                .setChunk(
                    Chunk.newBuilder()
                        .setOffset(at)
                        .setData(ByteString.copyFrom(e.bytes(), (int) at, n))
                        .setCrc32C((int) crc.getValue()))
                .build());
      }
      out.onCompleted();
    }

    @Override
    public void reportCorrupt(
        ReportCorruptRequest request, StreamObserver<ReportCorruptResponse> out) {
      Entry e = entries.get(request.getKey());
      boolean quarantined =
          answerReports
              && quarantineOnReport
              && e != null
              && e.claimedCrc32c() == request.getEntryCrc32C()
              && entries.remove(request.getKey(), e);
      // Recorded once the quarantine is done: a test that saw the report may check the entry.
      reports.add(request);
      if (!answerReports) return;
      out.onNext(ReportCorruptResponse.newBuilder().setQuarantined(quarantined).build());
      out.onCompleted();
    }

    @Override
    public StreamObserver<WriteRequest> write(StreamObserver<WriteResponse> out) {
      if (stallWrites) {
        ServerCallStreamObserver<WriteResponse> call = (ServerCallStreamObserver<WriteResponse>) out;
        call.disableAutoRequest();
        call.request(2);
      }
      return new StreamObserver<>() {
        private WriteHeader header;
        private final ByteArrayOutputStream received = new ByteArrayOutputStream();

        @Override
        public void onNext(WriteRequest request) {
          if (request.hasHeader()) {
            header = request.getHeader();
            writeStarted.countDown();
            if (header.getKey().equals(heldKey)) heldWriteArrived.countDown();
          }
          else received.writeBytes(request.getChunk().getData().toByteArray());
        }

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {
          String key = header.getKey();
          if (key.equals(heldKey)) {
            if (writesOfHeldKey.incrementAndGet() == 1) {
              try {
                laterWriteDone.await(holdMs, TimeUnit.MILLISECONDS);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            } else {
              try {
                answer(key);
              } finally {
                laterWriteDone.countDown();
              }
              return;
            }
          }
          answer(key);
        }

        private void answer(String key) {
          writes.incrementAndGet();
          byte[] bytes = received.toByteArray();
          Entry mine = new Entry(bytes, crc32c(bytes));
          Entry existing = entries.putIfAbsent(key, mine);
          if (existing != null && existing.claimedCrc32c() != mine.claimedCrc32c()) {
            out.onError(
                Status.ALREADY_EXISTS
                    .withDescription("the key holds other bytes")
                    .asRuntimeException());
            return;
          }
          out.onNext(
              WriteResponse.newBuilder()
                  .setEntry(info(key, existing == null ? mine : existing))
                  .setCreated(existing == null)
                  .build());
          out.onCompleted();
        }
      };
    }

    @Override
    public void stat(StatRequest request, StreamObserver<EntryInfo> out) {
      Entry e = entries.get(request.getKey());
      if (e == null) {
        out.onError(Status.NOT_FOUND.withDescription("not cached").asRuntimeException());
        return;
      }
      out.onNext(info(request.getKey(), e));
      out.onCompleted();
    }

    @Override
    public void delete(DeleteRequest request, StreamObserver<DeleteResponse> out) {
      deletes.add(request.getKey());
      boolean deleted = entries.remove(request.getKey()) != null;
      out.onNext(DeleteResponse.newBuilder().setDeleted(deleted).build());
      out.onCompleted();
    }
  }
}
