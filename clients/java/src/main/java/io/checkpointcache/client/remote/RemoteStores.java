package io.checkpointcache.client.remote;

import java.net.URI;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The registry that picks a remote store adapter by URI scheme. A client holds one; adding HDFS or
 * S3 later is one {@link #register} call, not a change to the client.
 * Owns: scheme → adapter. Never: I/O of its own.
 */
public final class RemoteStores {
  private final Map<String, RemoteStore> byScheme = new ConcurrentHashMap<>();

  /** An empty registry. */
  public RemoteStores() {}

  /** A registry with {@code file:} and {@code http(s):}. */
  public static RemoteStores withDefaults() {
    return new RemoteStores().register(new FileRemoteStore()).register(new HttpRemoteStore());
  }

  /** Serves {@code store}'s schemes with it, replacing earlier adapters of the same schemes. */
  public RemoteStores register(RemoteStore store) {
    Objects.requireNonNull(store, "store");
    for (String scheme : store.schemes()) byScheme.put(scheme.toLowerCase(Locale.ROOT), store);
    return this;
  }

  /** The adapter for {@code uri}'s scheme. */
  public RemoteStore resolve(URI uri) throws RemoteStoreException {
    String scheme = uri.getScheme();
    if (scheme == null) {
      throw new RemoteStoreException(
          RemoteStoreException.Code.UNSUPPORTED_URI,
          RemoteStoreException.redact(uri) + " has no scheme (expected file:, http:, https:, ...)");
    }
    RemoteStore store = byScheme.get(scheme.toLowerCase(Locale.ROOT));
    if (store == null) {
      throw new RemoteStoreException(
          RemoteStoreException.Code.UNSUPPORTED_URI,
          "no remote store for scheme "
              + scheme
              + " ("
              + RemoteStoreException.redact(uri)
              + "); registered: "
              + new java.util.TreeSet<>(byScheme.keySet()));
    }
    return store;
  }
}
