/**
 * Entry keys and ids. A key is opaque text chosen by the client; the id derived from it is the only
 * thing that ever names a file or a Redis key, so no key can traverse a path or break a key scheme.
 */
import { createHash } from 'node:crypto';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';

export const MAX_KEY_BYTES = 1024;
export const MAX_JOB_ID_BYTES = 256;

/** sha256(key) in lower-case hex. */
export function entryIdOf(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function validateKey(key: string): void {
  if (key.length === 0) {
    throw new CacheError(ErrorCode.InvalidArgument, 'key is empty; pass the checkpoint file URI');
  }
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) {
    throw new CacheError(
      ErrorCode.InvalidArgument,
      `key is ${bytes} bytes of UTF-8; at most ${MAX_KEY_BYTES} are allowed`,
    );
  }
}

/**
 * A directory prefix for a delete by prefix (DeletePrefix): a key's rules, plus a trailing '/', so
 * that the prefix names a directory and `.../chk-1/` can never take `.../chk-10/...` with it.
 */
export function validateKeyPrefix(prefix: string): void {
  if (prefix.length === 0) {
    throw new CacheError(
      ErrorCode.InvalidArgument,
      "prefix is empty; pass a directory's URI ending in '/'",
    );
  }
  const bytes = Buffer.byteLength(prefix, 'utf8');
  if (bytes > MAX_KEY_BYTES) {
    throw new CacheError(
      ErrorCode.InvalidArgument,
      `prefix is ${bytes} bytes of UTF-8; at most ${MAX_KEY_BYTES} are allowed`,
    );
  }
  if (!prefix.endsWith('/')) {
    throw new CacheError(
      ErrorCode.InvalidArgument,
      `prefix ${JSON.stringify(prefix.slice(0, 200))} does not end in '/'; a delete by prefix ` +
        "removes a directory's entries: pass the directory's URI with a trailing '/'",
    );
  }
}

export function validateJobId(jobId: string): void {
  const bytes = Buffer.byteLength(jobId, 'utf8');
  if (bytes > MAX_JOB_ID_BYTES) {
    throw new CacheError(
      ErrorCode.InvalidArgument,
      `job_id is ${bytes} bytes of UTF-8; at most ${MAX_JOB_ID_BYTES} are allowed`,
    );
  }
}

/**
 * Checkpoint ids and sizes travel as numbers; above 2^53 they would silently round. Over gRPC a
 * larger uint64 is refused before it becomes a number, naming the exact value (wire-check.ts in
 * the service); this catches callers of the library.
 */
export function validateCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new CacheError(
      ErrorCode.InvalidArgument,
      `${name} must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, got ${value}`,
    );
  }
}
