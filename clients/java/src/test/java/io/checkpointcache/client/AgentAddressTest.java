package io.checkpointcache.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import org.junit.jupiter.api.Test;

/** Agent address forms (the TypeScript client's) and the fallback policy; no I/O. */
class AgentAddressTest {
  @Test
  void parsesTcpAndUnixForms() {
    AgentAddress tcp = AgentAddress.parse("127.0.0.1:7878");
    assertFalse(tcp.isUnixSocket());
    assertEquals("127.0.0.1", tcp.host());
    assertEquals(7878, tcp.port());
    assertEquals("::1", AgentAddress.parse("[::1]:7878").host());
    assertEquals("agent.local", AgentAddress.parse(" agent.local:1 ").host());
    AgentAddress unix = AgentAddress.parse("unix:/var/run/ckc.sock");
    assertTrue(unix.isUnixSocket());
    assertEquals("/var/run/ckc.sock", unix.socketPath());
    assertEquals(unix, AgentAddress.parse("unix:///var/run/ckc.sock"));
  }

  @Test
  void rejectsAmbiguousOrIncompleteAddresses() {
    for (String bad :
        new String[] {"", "localhost", "unix://var/run/ckc.sock", "unix:", "unix:relative.sock",
          "host:0", "host:99999", "http://host:1"}) {
      assertThrows(IllegalArgumentException.class, () -> AgentAddress.parse(bad), bad);
    }
  }

  @Test
  void fallsBackOnEveryStatusButTheCallersMistakes() {
    for (Status.Code code : Status.Code.values()) {
      boolean surfaced =
          code == Status.Code.OK
              || code == Status.Code.INVALID_ARGUMENT
              || code == Status.Code.FAILED_PRECONDITION
              || code == Status.Code.ALREADY_EXISTS
              || code == Status.Code.PERMISSION_DENIED
              || code == Status.Code.UNAUTHENTICATED
              || code == Status.Code.OUT_OF_RANGE
              || code == Status.Code.ABORTED;
      assertEquals(!surfaced, FallbackReason.ofStatus(code).isPresent(), code.name());
    }
    assertEquals(Status.Code.DATA_LOSS, FallbackReason.CHECKSUM_MISMATCH.status());
    assertTrue(FallbackReason.IDLE_TIMEOUT.isClientDetected());
    assertFalse(FallbackReason.DATA_LOSS.isClientDetected());
  }
}
