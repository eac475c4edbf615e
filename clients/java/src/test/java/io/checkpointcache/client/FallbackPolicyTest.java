package io.checkpointcache.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.Status;
import java.io.IOException;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Test;

/**
 * The Java client's fallback policy is the one in test/conformance/fallback-policy.json, which the
 * TypeScript client's tests check too: which agent statuses send a read to the remote store, and
 * which client-detected faults exist and what status each fails with when there is no remote.
 */
class FallbackPolicyTest {
  private static JsonNode policy() throws IOException {
    JsonNode doc =
        new ObjectMapper()
            .readTree(
                TestAgent.repoRoot().resolve("test/conformance/fallback-policy.json").toFile());
    assertEquals(1, doc.get("version").asInt(), "fallback-policy.json version this test knows");
    return doc;
  }

  @Test
  void fallsBackOnExactlyTheListedStatuses() throws IOException {
    Set<String> listed = new TreeSet<>();
    policy().get("fallbackStatuses").forEach(s -> listed.add(s.asText()));
    Set<String> fallingBack =
        Arrays.stream(Status.Code.values())
            .filter(c -> FallbackReason.ofStatus(c).isPresent())
            .map(Enum::name)
            .collect(Collectors.toCollection(TreeSet::new));
    assertEquals(listed, fallingBack);
  }

  @Test
  void detectsExactlyTheListedFaultsThatApplyToIt() throws IOException {
    Set<String> listed = new TreeSet<>();
    for (JsonNode f : policy().get("clientFaults")) {
      JsonNode onlyIn = f.get("onlyIn");
      boolean mine =
          onlyIn == null
              || StreamSupport.stream(onlyIn.spliterator(), false)
                  .anyMatch(c -> c.asText().equals("java"));
      if (!mine) continue;
      String name = f.get("name").asText();
      listed.add(name);
      FallbackReason reason = FallbackReason.valueOf(name);
      assertTrue(reason.isClientDetected(), name);
      assertEquals(Status.Code.valueOf(f.get("status").asText()), reason.status(), name);
    }
    Set<String> detected =
        Arrays.stream(FallbackReason.values())
            .filter(FallbackReason::isClientDetected)
            .map(Enum::name)
            .collect(Collectors.toCollection(TreeSet::new));
    assertEquals(listed, detected);
  }
}
