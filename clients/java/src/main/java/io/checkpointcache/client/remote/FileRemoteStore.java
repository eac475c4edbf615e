package io.checkpointcache.client.remote;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;

/**
 * Remote store adapter for {@code file:} URIs: a local or mounted file system (NFS, a test's temp
 * dir standing in for HDFS).
 * Owns: ranged reads of one file. Never: writing.
 */
public final class FileRemoteStore implements RemoteStore {
  @Override
  public Set<String> schemes() {
    return Set.of("file");
  }

  @Override
  public InputStream open(URI uri, long offset, Long length) throws IOException {
    Path file = toPath(uri);
    if (offset < 0 || (length != null && length < 0)) {
      throw new IllegalArgumentException("offset and length must be non-negative");
    }
    FileChannel channel;
    try {
      channel = FileChannel.open(file, StandardOpenOption.READ);
    } catch (IOException e) {
      throw fileError(e, file);
    }
    try {
      long size = channel.size();
      long end = length == null ? size : offset + length;
      if (offset > size || end > size) {
        throw new RemoteStoreException(
            RemoteStoreException.Code.RANGE_NOT_SATISFIABLE,
            file + ": range " + offset + ".." + end + " is outside the file (" + size + " bytes)");
      }
      channel.position(offset);
      return new ExactLengthInputStream(
          Channels.newInputStream(channel), end - offset, file.toString());
    } catch (IOException e) {
      channel.close();
      throw fileErrorOrSelf(e, file);
    } catch (RuntimeException e) {
      channel.close();
      throw e;
    }
  }

  @Override
  public long size(URI uri) throws IOException {
    Path file = toPath(uri);
    try {
      if (!Files.isRegularFile(file)) {
        if (!Files.exists(file)) throw new NoSuchFileException(file.toString());
        throw new RemoteStoreException(RemoteStoreException.Code.IO, file + " is not a regular file");
      }
      return Files.size(file);
    } catch (IOException e) {
      throw fileErrorOrSelf(e, file);
    }
  }

  /** The local path of a {@code file:///absolute/path} URI. */
  public static Path toPath(URI uri) throws RemoteStoreException {
    try {
      return Path.of(uri);
    } catch (IllegalArgumentException | java.nio.file.FileSystemNotFoundException e) {
      throw new RemoteStoreException(
          RemoteStoreException.Code.UNSUPPORTED_URI,
          RemoteStoreException.redact(uri) + " is not a local file URI (file:///absolute/path)",
          e);
    }
  }

  private static IOException fileErrorOrSelf(IOException e, Path file) {
    return e instanceof RemoteStoreException ? e : fileError(e, file);
  }

  private static RemoteStoreException fileError(IOException e, Path file) {
    if (e instanceof NoSuchFileException || e instanceof NotDirectoryException) {
      return new RemoteStoreException(
          RemoteStoreException.Code.NOT_FOUND, file + " does not exist", e);
    }
    if (e instanceof AccessDeniedException) {
      return new RemoteStoreException(RemoteStoreException.Code.IO, file + ": access denied", e);
    }
    return new RemoteStoreException(RemoteStoreException.Code.IO, file + ": " + e.getMessage(), e);
  }
}
