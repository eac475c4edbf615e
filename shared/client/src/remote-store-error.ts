/**
 * The error every remote store adapter rejects or fails its stream with.
 * Owns: remote failure codes and messages that never leak credentials from a URI.
 */

export type RemoteStoreErrorCode =
  /** No adapter is registered for the URI's scheme, or the URI is malformed. */
  | 'UNSUPPORTED_URI'
  /** The object does not exist (file missing, HTTP 404/410). */
  | 'NOT_FOUND'
  /** The requested byte range lies outside the object (HTTP 416, offset past the end of a file). */
  | 'RANGE_NOT_SATISFIABLE'
  /** The store answered, but not with what was asked (wrong status, wrong Content-Range ...). */
  | 'BAD_RESPONSE'
  /** The bytes stopped before the range was complete, or more bytes came than asked for. */
  | 'LENGTH_MISMATCH'
  /** Anything else: I/O error, connection refused, timeout. */
  | 'IO';

export class RemoteStoreError extends Error {
  override readonly name = 'RemoteStoreError';

  constructor(
    readonly code: RemoteStoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isRemoteStoreError(err: unknown, code?: RemoteStoreErrorCode): boolean {
  return err instanceof RemoteStoreError && (code === undefined || err.code === code);
}

/**
 * A URI fit for a message: no user info and no query string (presigned URLs carry their
 * signature there).
 */
export function redactUri(uri: string): string {
  try {
    const url = new URL(uri);
    if (url.username || url.password) {
      url.username = '';
      url.password = '';
    }
    const hadQuery = url.search !== '';
    url.search = '';
    return url.toString() + (hadQuery ? '?…' : '');
  } catch {
    return uri;
  }
}
