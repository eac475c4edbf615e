package io.checkpointcache.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.client.remote.FileRemoteStore;
import io.checkpointcache.client.remote.HttpRemoteStore;
import io.checkpointcache.client.remote.RemoteStoreException;
import io.checkpointcache.client.remote.RemoteStores;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The file: and http(s): remote store adapters and the registry that picks them. */
class RemoteStoresTest {
  @TempDir Path tmp;

  private final byte[] data = TestBytes.generate(100_000, 3);

  @Test
  void fileStoreReadsExactRanges() throws Exception {
    URI uri = TestBytes.remoteCopy(tmp, "file", data);
    FileRemoteStore store = new FileRemoteStore();
    try (InputStream in = store.open(uri, 0, null)) {
      assertArrayEquals(data, in.readAllBytes());
    }
    try (InputStream in = store.open(uri, 99_990, 10L)) {
      assertArrayEquals(Arrays.copyOfRange(data, 99_990, 100_000), in.readAllBytes());
    }
    try (InputStream in = store.open(uri, 100_000, null)) {
      assertEquals(-1, in.read());
    }
    assertEquals(100_000, store.size(uri));
    assertCode(RemoteStoreException.Code.RANGE_NOT_SATISFIABLE, () -> store.open(uri, 99_999, 2L));
    assertCode(RemoteStoreException.Code.RANGE_NOT_SATISFIABLE, () -> store.open(uri, 100_001, null));
    URI missing = tmp.resolve("missing").toUri();
    assertCode(RemoteStoreException.Code.NOT_FOUND, () -> store.open(missing, 0, null));
    assertCode(RemoteStoreException.Code.NOT_FOUND, () -> store.size(missing));
  }

  @Test
  void fileStoreFailsWhenTheFileShrinksUnderTheRead() throws Exception {
    URI uri = TestBytes.remoteCopy(tmp, "shrinks", data);
    try (InputStream in = new FileRemoteStore().open(uri, 0, null)) {
      Files.write(Path.of(uri), new byte[10]);
      RemoteStoreException e = assertThrows(RemoteStoreException.class, in::readAllBytes);
      assertEquals(RemoteStoreException.Code.LENGTH_MISMATCH, e.code());
    }
  }

  @Test
  void httpStoreReadsRangesAndRejectsWrongAnswers() throws Exception {
    HttpRemoteStore store = new HttpRemoteStore();
    try (RangeHttpServer http = RangeHttpServer.serving(data)) {
      try (InputStream in = store.open(http.uri("/ok"), 0, null)) {
        assertArrayEquals(data, in.readAllBytes());
      }
      try (InputStream in = store.open(http.uri("/ok"), 5, 1000L)) {
        assertArrayEquals(Arrays.copyOfRange(data, 5, 1005), in.readAllBytes());
      }
      try (InputStream in = store.open(http.uri("/ok"), 99_000, null)) {
        assertArrayEquals(Arrays.copyOfRange(data, 99_000, 100_000), in.readAllBytes());
      }
      try (InputStream in = store.open(http.uri("/ok"), 50, 0L)) {
        assertEquals(-1, in.read());
      }
      assertEquals(100_000, store.size(http.uri("/ok")));
      assertCode(RemoteStoreException.Code.NOT_FOUND, () -> store.open(http.uri("/gone"), 0, null));
      assertCode(
          RemoteStoreException.Code.RANGE_NOT_SATISFIABLE,
          () -> store.open(http.uri("/ok"), 100_001, null));
      assertCode(
          RemoteStoreException.Code.BAD_RESPONSE,
          () -> store.open(http.uri("/ignore-range"), 10, 10L));
      try (InputStream in = store.open(http.uri("/short"), 0, 1000L)) {
        RemoteStoreException e = assertThrows(RemoteStoreException.class, in::readAllBytes);
        assertEquals(RemoteStoreException.Code.LENGTH_MISMATCH, e.code());
      }
    }
  }

  @Test
  void registryPicksByScheme() throws Exception {
    RemoteStores stores = RemoteStores.withDefaults();
    assertTrue(stores.resolve(URI.create("file:///x")) instanceof FileRemoteStore);
    assertTrue(stores.resolve(URI.create("HTTPS://h/x")) instanceof HttpRemoteStore);
    assertCode(RemoteStoreException.Code.UNSUPPORTED_URI, () -> stores.resolve(URI.create("s3://b/k")));
    assertCode(RemoteStoreException.Code.UNSUPPORTED_URI, () -> stores.resolve(URI.create("relative")));
  }

  @Test
  void messagesNeverCarryCredentials() {
    String shown =
        RemoteStoreException.redact(URI.create("https://user:secret@h:8443/p/k?X-Amz-Signature=s"));
    assertEquals("https://h:8443/p/k?…", shown);
  }

  private interface Call {
    Object run() throws Exception;
  }

  private static void assertCode(RemoteStoreException.Code code, Call call) {
    RemoteStoreException e = assertThrows(RemoteStoreException.class, call::run);
    assertEquals(code, e.code(), e.getMessage());
  }
}
