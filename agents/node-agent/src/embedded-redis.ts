/**
 * A private redis-server child for an agent configured without a Redis URL (single node, demo):
 * Unix socket only (no TCP port), no persistence, expiry events on, in `<cacheDir>/redis`.
 * Owns: the child process from spawn to exit. Never: what is stored in it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { Logger } from '@checkpoint-cache/logger';
import { clearStaleSocket } from './unix-socket';

export interface EmbeddedRedisOptions {
  /** Working folder; the socket is `<dir>/redis.sock`. */
  dir: string;
  logger: Logger;
  /** The executable, looked up on PATH unless it holds a slash. */
  binary?: string;
  readyTimeoutMs?: number;
}

export interface EmbeddedRedis {
  /** For the Redis connection factory: `unix://<socketPath>`. */
  readonly url: string;
  readonly socketPath: string;
  readonly pid: number;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves once the child is gone. Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}

export const INSTALL_HINT =
  'install it (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis) ' +
  'or point --redis-url / CKC_REDIS_URL at a Redis server';

const OUTPUT_LINES_KEPT = 20;

export async function startEmbeddedRedis(options: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const binary = options.binary ?? 'redis-server';
  const dir = options.dir;
  const socketPath = path.join(dir, 'redis.sock');
  const log = options.logger.child({ component: 'embedded-redis' });
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await clearStaleSocket(socketPath, 'the embedded redis-server');

  // Flag and value pairs, one per line.
  // prettier-ignore
  const args = [
    '--port', '0',
    '--unixsocket', socketPath,
    '--unixsocketperm', '700',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
    '--notify-keyspace-events', 'Kx',
    '--daemonize', 'no',
  ];
  // detached: its own process group, so a Ctrl-C meant for the agent does not stop Redis under
  // a graceful shutdown still in progress; the agent stops it last.
  const child = spawn(binary, args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const output: string[] = [];
  const onOutput = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      output.push(line.trim());
      if (output.length > OUTPUT_LINES_KEPT) output.shift();
      log.debug('redis-server', { line: line.trim() });
    }
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  try {
    await spawned(child, binary);
  } catch (err) {
    child.stdout?.destroy();
    child.stderr?.destroy();
    throw err;
  }
  // A crashing agent must not leave its private Redis behind ('exit' handlers run synchronously).
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stopping: Promise<void> | undefined;
  const stop = (timeoutMs = 5000): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        await exited;
        clearTimeout(timer);
      }
      process.removeListener('exit', killOnExit);
      await fs.rm(socketPath, { force: true });
      log.info('embedded redis-server stopped', { pid: child.pid });
    })();
    return stopping;
  };

  try {
    await waitReady(socketPath, exited, options.readyTimeoutMs ?? 10_000, () => output.join('\n'));
  } catch (err) {
    await stop(1000);
    throw err;
  }
  log.info('embedded redis-server started', { pid: child.pid, socket: socketPath });
  return { url: `unix://${socketPath}`, socketPath, pid: child.pid as number, stop };
}

/** Resolves once the process runs; rejects with an install hint when the binary is missing. */
function spawned(child: ChildProcess, binary: string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        reject(
          new CacheError(
            ErrorCode.FailedPrecondition,
            `${binary} was not found on PATH; the agent needs it to run its own Redis because ` +
              `no Redis URL is configured. To fix: ${INSTALL_HINT}`,
            { cause: err },
          ),
        );
      } else {
        reject(
          new CacheError(ErrorCode.Internal, `cannot start ${binary}: ${err.message}`, {
            cause: err,
          }),
        );
      }
    });
  });
}

async function waitReady(
  socketPath: string,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  timeoutMs: number,
  output: () => string,
): Promise<void> {
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((e) => (exit = e));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exit) {
      throw new CacheError(
        ErrorCode.Unavailable,
        `the embedded redis-server exited at start-up (${exit.signal ?? `code ${exit.code}`}):\n${output()}`,
      );
    }
    if (await answersPing(socketPath)) return;
    if (Date.now() > deadline) {
      throw new CacheError(
        ErrorCode.Unavailable,
        `the embedded redis-server did not answer on ${socketPath} within ${timeoutMs} ms:\n${output()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function answersPing(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.connect({ path: socketPath });
    let reply = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      conn.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1000);
    conn.once('connect', () => conn.write('PING\r\n'));
    conn.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    conn.once('error', () => done(false));
  });
}
