package io.checkpointcache.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.Status;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Java side of "one conformance suite, two clients": every scenario of
 * test/conformance/scenarios.json and every vector of crc32c-vectors.json, run against a real
 * agent. The format is described in test/conformance/README.md; nothing here may special-case a
 * scenario by name.
 *
 * <p>Every scenario runs twice: streamed, and with the same-node short circuit on (the client
 * reads the agent's files directly, as a TaskManager with the cache directory mounted does). The
 * expectations are the scenario's in both runs, with one difference by fault kind, not by name:
 * an agent killed mid-read does not interrupt a short-circuited read (its file outlives it), so
 * {@code kill_midstream} then expects every byte from the cache and no fallback.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConformanceTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int READ_STEP = 64 * 1024;
  private static final Set<String> FAULTS =
      Set.of("none", "not_cached", "agent_down", "corrupt", "kill_midstream");
  private static final Set<String> PUTS = Set.of("write", "ingest", "hand_over");

  @TempDir static Path tmp;
  private TestAgent shared;

  static Path conformanceDir() {
    return TestAgent.repoRoot().resolve("test/conformance");
  }

  @BeforeAll
  void startAgent() throws Exception {
    shared = TestAgent.start(tmp);
  }

  @AfterAll
  void stopAgent() throws Exception {
    if (shared != null) shared.stop();
  }

  @TestFactory
  Stream<DynamicTest> crc32cVectors() throws IOException {
    JsonNode doc = JSON.readTree(conformanceDir().resolve("crc32c-vectors.json").toFile());
    return elements(doc.get("vectors"))
        .map(
            v ->
                DynamicTest.dynamicTest(
                    v.get("name").asText(),
                    () -> {
                      byte[] input;
                      if (v.has("text")) {
                        input = v.get("text").asText().getBytes(StandardCharsets.UTF_8);
                      } else if (v.has("hex")) {
                        input = HexFormat.of().parseHex(v.get("hex").asText());
                      } else {
                        JsonNode g = v.get("generated");
                        input = TestBytes.generate(g.get("size").asInt(), g.get("seed").asInt());
                      }
                      int expected = Integer.parseUnsignedInt(v.get("crc32c").asText().substring(2), 16);
                      assertEquals(
                          CheckpointReadStream.hex(expected),
                          CheckpointReadStream.hex(TestBytes.crc32c(input)));
                    }));
  }

  @TestFactory
  Stream<DynamicTest> generatorChecks() throws IOException {
    JsonNode doc = readScenarios();
    assertEquals("hash32", doc.get("generator").get("name").asText());
    return elements(doc.get("generator").get("checks"))
        .map(
            c ->
                DynamicTest.dynamicTest(
                    "hash32 seed " + c.get("seed").asInt(),
                    () ->
                        assertEquals(
                            c.get("first16Hex").asText(),
                            HexFormat.of()
                                .formatHex(TestBytes.generate(16, c.get("seed").asInt())))));
  }

  @TestFactory
  Stream<DynamicTest> scenarios() throws IOException {
    JsonNode doc = readScenarios();
    assertEquals(1, doc.get("version").asInt(), "scenarios.json version this runner understands");
    return elements(doc.get("scenarios"))
        .flatMap(
            s ->
                Stream.of(
                    DynamicTest.dynamicTest(s.get("name").asText(), () -> run(s, false)),
                    DynamicTest.dynamicTest(
                        s.get("name").asText() + " (short circuit)", () -> run(s, true))));
  }

  private static JsonNode readScenarios() throws IOException {
    return JSON.readTree(conformanceDir().resolve("scenarios.json").toFile());
  }

  private static Stream<JsonNode> elements(JsonNode array) {
    return StreamSupport.stream(array.spliterator(), false);
  }

  /**
   * Stores {@code data} under {@code key} as the scenario's {@code put} says (README.md): streamed
   * by {@code client}, or as a file of the agent's ingest directory named to Ingest (over its
   * socket), handed over or not.
   */
  private static PutResult put(
      JsonNode s, TestAgent agent, CheckpointCacheClient client, String key, byte[] data)
      throws Exception {
    String how = s.has("put") ? s.get("put").asText() : "write";
    assertTrue(PUTS.contains(how), "unknown put " + how);
    PutOptions options =
        PutOptions.of("conformance", 1)
            .withSize((long) data.length)
            .withCrc32c(TestBytes.crc32c(data));
    if (how.equals("write")) return client.put(key, TestBytes.trickle(data, 100_003), options);
    String name = s.get("name").asText() + "-" + UUID.randomUUID();
    Path file = Files.write(agent.ingestDir().resolve(name), data);
    try (CheckpointCacheClient overSocket = CheckpointCacheClient.connect(agent.unixAddress())) {
      return overSocket.ingest(key, name, options, how.equals("hand_over"));
    } finally {
      Files.delete(file);
    }
  }

  private void run(JsonNode s, boolean shortCircuit) throws Exception {
    String name = s.get("name").asText() + (shortCircuit ? " (short circuit)" : "");
    int size = s.get("size").asInt();
    int seed = s.get("seed").asInt();
    String transport = s.get("transport").asText();
    JsonNode range = s.get("range");
    long offset = range != null ? range.get("offset").asLong() : 0;
    Long length = range != null && range.has("length") ? range.get("length").asLong() : null;
    JsonNode fault = s.get("fault");
    String kind = fault.get("kind").asText();
    assertTrue(FAULTS.contains(kind), "unknown fault kind " + kind);
    boolean withRemote = !s.has("remote") || s.get("remote").asBoolean();
    JsonNode expect = s.get("expect");
    // The file outlives the agent: a short-circuited read is not interrupted by its death.
    boolean survivesKill = shortCircuit && kind.equals("kill_midstream");

    boolean ownAgent = kind.equals("agent_down") || kind.equals("kill_midstream");
    TestAgent agent = ownAgent ? TestAgent.start(tmp) : shared;
    try {
      String key =
          s.has("keyLength")
              ? "k".repeat(s.get("keyLength").asInt())
              : "conformance/" + s.get("name").asText() + "/" + UUID.randomUUID();
      byte[] data = TestBytes.generate(size, seed);
      URI remote = withRemote ? TestBytes.remoteCopy(tmp, name, data) : null;
      try (CheckpointCacheClient client =
          new CheckpointCacheClient(
              CheckpointCacheClientOptions.builder(agent.address(transport))
                  .shortCircuit(shortCircuit)
                  .build())) {
        if (!kind.equals("not_cached")) {
          int crc = TestBytes.crc32c(data);
          PutResult put = put(s, agent, client, key, data);
          assertEquals(size, put.entry().getSize(), "size the agent stored");
          assertEquals(crc, put.entry().getCrc32C(), "CRC32C the agent stored");
        }
        if (kind.equals("corrupt")) agent.corrupt(key, fault.get("offset").asLong());
        if (kind.equals("agent_down")) agent.stop();
        long killAfter = kind.equals("kill_midstream") ? fault.get("afterBytes").asLong() : -1;

        long expectedLength = length != null ? length : Math.max(0, size - offset);
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        IOException error = null;
        boolean killed = false;
        CheckpointReadStream in = client.open(key, remote, offset, length);
        try (in) {
          byte[] buffer = new byte[READ_STEP];
          for (int n; (n = in.read(buffer)) != -1; ) {
            got.write(buffer, 0, n);
            if (killAfter >= 0 && !killed && got.size() >= killAfter) {
              agent.kill();
              killed = true;
            }
          }
        } catch (IOException e) {
          error = e;
        }
        if (killAfter >= 0) assertTrue(killed, "the read reached " + killAfter + " bytes");
        // One line per scenario in target/surefire-reports/*-output.txt, for whoever compares runs.
        System.out.printf(
            "%s: %d bytes from cache, %d from remote, fallback %s%s%n",
            name,
            in.bytesFromCache(),
            in.bytesFromRemote(),
            in.fallback().map(f -> f.reason() + " at " + f.offset()).orElse("none"),
            error == null ? "" : ", error " + error);

        String status = expect.get("status").asText();
        if (status.equals("OK")) {
          if (error != null) throw new AssertionError("expected the read to succeed", error);
          assertSameBytes(data, (int) offset, (int) expectedLength, got.toByteArray());
          checkSource(survivesKill ? "cache" : expect.get("source").asText(), in, expectedLength);
        } else {
          IOException failure = error;
          CheckpointCacheException e =
              assertInstanceOf(
                  CheckpointCacheException.class,
                  failure,
                  () -> "expected " + status + ", got " + failure);
          assertEquals(Status.Code.valueOf(status), e.code(), e.getMessage());
        }
        checkFallback(survivesKill ? null : expect.get("fallback"), in, client, offset);
        JsonNode cacheBytes = survivesKill ? null : expect.get("bytesFromCache");
        if (cacheBytes != null) {
          long from = in.bytesFromCache();
          assertTrue(
              from >= cacheBytes.get("min").asLong() && from <= cacheBytes.get("max").asLong(),
              "bytesFromCache " + from + " outside " + cacheBytes);
        }
        assertEquals(in.bytesFromCache(), client.stats().bytesFromCache(), "stats().bytesFromCache");
        assertEquals(
            in.bytesFromRemote(), client.stats().bytesFromRemote(), "stats().bytesFromRemote");
        checkShortCircuit(shortCircuit, kind, client.stats());
        JsonNode entryAfter = expect.get("entryAfter");
        if (entryAfter != null && !entryAfter.isNull() && agent.isAlive()) {
          checkEntryAfter(entryAfter.asText(), client, key);
        }
      }
    } catch (AssertionError | Exception e) {
      throw new AssertionError(name + ": " + e.getMessage() + "\nagent log:\n" + agent.logTail(), e);
    } finally {
      if (ownAgent) agent.stop();
    }
  }

  /**
   * Streamed runs never short-circuit. Short-circuited runs of an undisturbed entry read every
   * cache byte from its file (the agent's Read is not called); with a fault, the short circuit may
   * have stopped and left the rest to the agent's stream, but never counts more than the cache.
   */
  private static void checkShortCircuit(
      boolean shortCircuit, String kind, ClientStatsSnapshot stats) {
    if (!shortCircuit) {
      assertEquals(0, stats.bytesShortCircuit(), "bytes short-circuited with the option off");
      assertEquals(0, stats.shortCircuitMisses(), "short-circuit misses with the option off");
    } else if (kind.equals("none") || kind.equals("kill_midstream")) {
      if (stats.failedReads() == 0) {
        assertEquals(
            stats.bytesFromCache(), stats.bytesShortCircuit(), "cache bytes short-circuited");
        assertEquals(0, stats.shortCircuitMisses(), "short-circuit misses");
      }
    } else {
      assertTrue(
          stats.bytesShortCircuit() <= stats.bytesFromCache(),
          "short-circuited bytes are cache bytes: " + stats);
    }
  }

  private static void checkSource(String source, CheckpointReadStream in, long expectedLength) {
    long cache = in.bytesFromCache();
    long remote = in.bytesFromRemote();
    assertEquals(expectedLength, cache + remote, "bytes from cache + bytes from remote");
    switch (source) {
      case "cache" -> assertEquals(0, remote, "bytes from remote");
      case "remote" -> assertEquals(0, cache, "bytes from cache");
      case "mixed" -> assertTrue(
          cache > 0 && remote > 0, "mixed read: cache " + cache + ", remote " + remote);
      default -> fail("unknown source " + source);
    }
  }

  private static void checkFallback(
      JsonNode expected, CheckpointReadStream in, CheckpointCacheClient client, long offset) {
    Map<FallbackReason, Long> counted = client.stats().fallbacks();
    if (expected == null || expected.isNull()) {
      assertTrue(in.fallback().isEmpty(), () -> "unexpected fallback " + in.fallback());
      assertEquals(Map.of(), counted, "stats().fallbacks");
      return;
    }
    List<String> allowed = new ArrayList<>();
    if (expected.isArray()) expected.forEach(n -> allowed.add(n.asText()));
    else allowed.add(expected.asText());
    FallbackEvent event =
        in.fallback().orElseThrow(() -> new AssertionError("expected a fallback " + allowed));
    assertTrue(
        allowed.contains(event.reason().name()),
        "fallback " + event.reason() + " (" + event.error().getMessage() + ") not in " + allowed);
    // Every byte exactly once: the remote read starts exactly where the cache's bytes stopped.
    assertEquals(offset + in.bytesFromCache(), event.offset(), "offset the remote read started at");
    assertEquals(Map.of(event.reason(), 1L), counted, "stats().fallbacks");
  }

  private static void checkEntryAfter(String state, CheckpointCacheClient client, String key)
      throws CheckpointCacheException {
    switch (state) {
      case "present" -> client.stat(key, true);
      case "absent" -> {
        try {
          client.stat(key, true);
          fail("the entry should be gone");
        } catch (CheckpointCacheException e) {
          if (e.code() != Status.Code.NOT_FOUND) throw e;
        }
      }
      default -> fail("unknown entryAfter " + state);
    }
  }

  static void assertSameBytes(byte[] data, int offset, int length, byte[] got) {
    assertEquals(length, got.length, "bytes read");
    for (int i = 0; i < length; i++) {
      if (data[offset + i] != got[i]) {
        fail("first wrong byte at offset " + (offset + i) + " of the entry (byte " + i + " read)");
      }
    }
  }
}
