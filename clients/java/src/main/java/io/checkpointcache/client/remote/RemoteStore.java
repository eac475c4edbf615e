package io.checkpointcache.client.remote;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.util.Set;

/**
 * The one small interface every remote store adapter implements ({@code file:} and
 * {@code http(s):} now; HDFS and S3 later). The client only reads remote stores, and only after
 * the node agent failed.
 * Owns: the contract of a ranged read. Never: retries or caching (callers decide both).
 */
public interface RemoteStore {
  /** URI schemes this store serves, lower case, without the colon ({@code http}, {@code https}). */
  Set<String> schemes();

  /**
   * Opens {@code uri} for reading {@code length} bytes from {@code offset}, or up to the end when
   * {@code length} is null. The stream yields exactly those bytes or throws: a stream that ends
   * early or would yield more is a {@link RemoteStoreException} ({@code LENGTH_MISMATCH}), never
   * a short read.
   *
   * @throws RemoteStoreException {@code NOT_FOUND}, {@code RANGE_NOT_SATISFIABLE}, ... when the
   *     object or the range does not exist
   */
  InputStream open(URI uri, long offset, Long length) throws IOException;

  /** Size of the object at {@code uri} in bytes. */
  long size(URI uri) throws IOException;
}
