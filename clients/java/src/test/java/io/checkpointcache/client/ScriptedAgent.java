package io.checkpointcache.client;

import com.google.protobuf.ByteString;
import io.checkpointcache.v1.CheckpointCacheGrpc;
import io.checkpointcache.v1.Chunk;
import io.checkpointcache.v1.DeleteRequest;
import io.checkpointcache.v1.DeleteResponse;
import io.checkpointcache.v1.EntryInfo;
import io.checkpointcache.v1.ReadHeader;
import io.checkpointcache.v1.ReadRequest;
import io.checkpointcache.v1.ReadResponse;
import io.checkpointcache.v1.ReportCorruptRequest;
import io.checkpointcache.v1.ReportCorruptResponse;
import io.checkpointcache.v1.StatRequest;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * A gRPC server on a free loopback port that answers Read from entries the test scripts: bytes
 * served and the whole-entry CRC32C the header claims, which may disagree although every chunk
 * carries its bytes' true CRC32C. The real agent cannot be made to do that (it refuses entries
 * whose block CRCs do not combine to their whole CRC), so this stands in for an agent with such
 * a bug, and records the ReportCorrupt calls clients make. Stat and Delete work on the same map;
 * every other RPC is UNIMPLEMENTED. Public for the Flink plugin's tests (test-jar).
 */
public final class ScriptedAgent implements AutoCloseable {
  private static final int CHUNK = 64 * 1024;

  /** What Read serves for a key: {@code bytes}, under a header claiming {@code claimedCrc32c}. */
  public record Entry(byte[] bytes, int claimedCrc32c) {}

  private final Map<String, Entry> entries = new ConcurrentHashMap<>();
  private final List<ReportCorruptRequest> reports = new CopyOnWriteArrayList<>();
  private volatile boolean quarantineOnReport;
  private volatile boolean answerReports = true;
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

  /** Off: ReportCorrupt never answers (a hung agent); the client must not wait for it. */
  public void answerReports(boolean on) {
    answerReports = on;
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
    public void read(ReadRequest request, StreamObserver<ReadResponse> out) {
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
      for (long at = offset; at < end; at += CHUNK) {
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
      reports.add(request);
      if (!answerReports) return;
      Entry e = entries.get(request.getKey());
      boolean quarantined =
          quarantineOnReport
              && e != null
              && e.claimedCrc32c() == request.getEntryCrc32C()
              && entries.remove(request.getKey(), e);
      out.onNext(ReportCorruptResponse.newBuilder().setQuarantined(quarantined).build());
      out.onCompleted();
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
      boolean deleted = entries.remove(request.getKey()) != null;
      out.onNext(DeleteResponse.newBuilder().setDeleted(deleted).build());
      out.onCompleted();
    }
  }
}
