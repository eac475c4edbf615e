/**
 * Unix socket files the agent is about to listen on (its own gRPC socket, the embedded Redis's):
 * a file left by a process that died is removed, one that a live process answers on is not.
 * Owns: the liveness probe. Never: deleting anything that is not a socket.
 */
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';

/** True when a process accepts connections on the socket at `socketPath`. */
export function socketIsLive(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.connect({ path: socketPath });
    const done = (live: boolean): void => {
      clearTimeout(timer);
      conn.destroy();
      resolve(live);
    };
    // A listener that accepts nothing within the timeout is still a listener.
    const timer = setTimeout(() => done(true), timeoutMs);
    conn.once('connect', () => done(true));
    conn.once('error', () => done(false));
  });
}

/**
 * Makes `socketPath` free to listen on: removes a stale socket file, refuses when something still
 * answers on it (`what` names it in the message) or when the path is not a socket at all.
 */
export async function clearStaleSocket(socketPath: string, what: string): Promise<void> {
  let stat;
  try {
    stat = await fs.lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!stat.isSocket()) {
    throw new CacheError(
      ErrorCode.FailedPrecondition,
      `${socketPath} exists and is not a socket; move it away or choose another path for ${what}`,
    );
  }
  if (await socketIsLive(socketPath)) {
    throw new CacheError(
      ErrorCode.FailedPrecondition,
      `something is already listening on ${socketPath} (${what}): is another agent running with ` +
        'the same cache dir? Stop it or choose another path',
    );
  }
  await fs.rm(socketPath, { force: true });
}
