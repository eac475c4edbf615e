/**
 * The one mapping from what ioredis throws to CacheError. Anything that means "Redis cannot be
 * used right now" (no connection, timeouts, a loading, read-only or failing-over server, bad
 * credentials) becomes Unavailable, so callers fall back instead of failing; anything else is a
 * bug or a corrupt key and becomes Internal.
 * Never: retry, log, or echo credentials (messages name the endpoint description only).
 */
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';

/** Error replies that mean the server cannot serve us now, by their first word. */
const TRANSIENT_REPLIES = new Set([
  'LOADING',
  'BUSY',
  'MASTERDOWN',
  'CLUSTERDOWN',
  'TRYAGAIN',
  'READONLY',
  'NOREPLICAS',
  'OOM',
]);
/** Error replies that mean our credentials are wrong: only an operator can fix them. */
const AUTH_REPLIES = new Set(['NOAUTH', 'WRONGPASS', 'NOPERM']);

function isReplyError(err: unknown): err is Error {
  // ioredis exports ReplyError untyped; its name is stable.
  return err instanceof Error && err.name === 'ReplyError';
}

/**
 * True when `err`, its `cause` chain or a cluster's last node error is Redis refusing the
 * connection's user: wrong or missing password (WRONGPASS, NOAUTH, and "ERR invalid password"
 * before Redis 6) or a command its ACL does not allow (NOPERM). Reconnecting never fixes these.
 */
export function isRedisAuthError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 16; depth++) {
    if (isReplyError(e)) {
      const word = e.message.split(/\s/, 1)[0] ?? '';
      if (AUTH_REPLIES.has(word) || /^ERR invalid password/.test(e.message)) return true;
    }
    // ioredis' ClusterAllFailedError keeps the reason of the last node it tried here.
    const lastNodeError = (e as { lastNodeError?: unknown }).lastNodeError;
    e = lastNodeError instanceof Error ? lastNodeError : e.cause;
  }
  return false;
}

/**
 * `action` says what failed, e.g. "register entry metadata"; `endpoint` is the connection's
 * description (see describeRedisOptions); `connectionError` is the last error of the connection
 * itself, if it is down, which says why better than "stream isn't writeable" does.
 */
export function toCacheError(
  err: unknown,
  action: string,
  endpoint: string,
  connectionError?: Error,
): CacheError {
  if (err instanceof CacheError) return err;
  // A command refused because the connection is down: the connection's error is the reason.
  const why = !isReplyError(err) && connectionError ? connectionError : err;
  const reason = why instanceof Error ? why.message : String(why);
  if (isReplyError(why)) {
    const word = reason.split(/\s/, 1)[0] ?? '';
    if (AUTH_REPLIES.has(word)) {
      return new CacheError(
        ErrorCode.Unavailable,
        `cannot ${action}: Redis at ${endpoint} refused the credentials (${reason}); ` +
          'check the user and password in the Redis URL and the ACL of that user',
        { cause: err },
      );
    }
    if (TRANSIENT_REPLIES.has(word)) {
      return new CacheError(
        ErrorCode.Unavailable,
        `cannot ${action}: Redis at ${endpoint} cannot serve it right now (${reason}); ` +
          'retry later, and check the Redis server if it persists',
        { cause: err },
      );
    }
    if (why === err) {
      return new CacheError(
        ErrorCode.Internal,
        `cannot ${action}: Redis at ${endpoint} rejected it (${reason})`,
        { cause: err },
      );
    }
  }
  return new CacheError(
    ErrorCode.Unavailable,
    `cannot ${action}: Redis at ${endpoint} is unreachable (${reason}); cached entries are still ` +
      'served and the agent reconnects by itself; check that Redis is running and reachable ' +
      'from this node',
    { cause: err },
  );
}
