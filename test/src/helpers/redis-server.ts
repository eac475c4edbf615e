/**
 * A real, private redis-server for a test: its own free port, temp dir and Unix socket, no
 * persistence, keyspace events off unless asked for. The child never outlives the test process:
 * it is killed on exit, and a watchdog kills it even if the test process itself is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants, promises as fs, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { freePort } from './free-port';
import { makeTempDir, removeTempDir } from './temp-dir';
import { waitUntil } from './wait-until';

export interface RedisServerOptions {
  /** Extra redis-server arguments, after the defaults (so they win), e.g.
   * `['--notify-keyspace-events', 'Ex']` or `['--requirepass', 'secret']`. */
  args?: string[];
  /** How long to wait for the first PONG. Default 10000. */
  startTimeoutMs?: number;
}

export interface RedisServerHandle {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Unix socket in `dir`. */
  readonly socketPath: string;
  /** `unix://<socketPath>` */
  readonly socketUrl: string;
  /** The server's private working directory. */
  readonly dir: string;
  /** Kills the server and removes its directory. Idempotent. */
  stop(): Promise<void>;
  /** Kills the server (SIGKILL, like a crash) but keeps port and dir; restart() brings it back. */
  kill(): Promise<void>;
  /** Kills the server if it runs and starts it again on the same port, with no data. */
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing (a hung Redis). */
  pause(): Promise<void>;
  /** SIGCONT after pause(). */
  resume(): Promise<void>;
}

const HOST = '127.0.0.1';
const OUTPUT_TAIL_CHARS = 4000;

/** Children still running and dirs of servers not stopped: cleaned up when the process exits. */
const running = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookInstalled = false;

function cleanUpOnExit(child: ChildProcess, dir: string): void {
  running.add(child);
  dirs.add(dir);
  child.once('exit', () => running.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of running) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
}

/**
 * Kills `pid` when our end of its stdin closes, which happens however the test process dies
 * (even SIGKILL, where no exit hook runs).
 */
function startWatchdog(pid: number): ChildProcess {
  const watchdog = spawn('sh', ['-c', `read _; kill -KILL ${pid} 2>/dev/null`], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.on('error', () => undefined);
  watchdog.unref();
  (watchdog.stdin as net.Socket | null)?.unref();
  return watchdog;
}

async function findOnPath(command: string): Promise<string> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    try {
      await fs.access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(
    `${command} is not on PATH; the Redis tests need a real server: apt-get install -y redis-server`,
  );
}

/** True when a PING on a fresh TCP connection gets an answer other than LOADING. */
function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      reply += data.toString('latin1');
      // Any reply but LOADING means it serves: -NOAUTH is the answer of --requirepass.
      if (reply.includes('\r\n')) done(!reply.startsWith('-LOADING'));
    });
  });
}

function processState(pid: number): Promise<string | undefined> {
  // Linux only: the field after "(comm)" is the state; T = stopped.
  return fs.readFile(`/proc/${pid}/stat`, 'utf8').then(
    (stat) => stat.slice(stat.lastIndexOf(')') + 2).split(' ', 1)[0],
    () => undefined,
  );
}

class RedisServer implements RedisServerHandle {
  readonly host = HOST;
  readonly socketPath: string;
  readonly socketUrl: string;
  private child: ChildProcess | undefined;
  private watchdog: ChildProcess | undefined;
  private output = '';
  private stopped = false;

  constructor(
    private readonly executable: string,
    readonly dir: string,
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {
    this.socketPath = path.join(dir, 'redis.sock');
    this.socketUrl = `unix://${this.socketPath}`;
  }

  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }

  /** Starts the server on `this.port`; rejects with its output if it does not answer. */
  async start(): Promise<void> {
    const args = [
      '--port', String(this.port),
      '--bind', HOST,
      '--save', '',
      '--appendonly', 'no',
      '--dir', this.dir,
      '--unixsocket', this.socketPath,
      '--unixsocketperm', '700',
      '--notify-keyspace-events', '',
      '--daemonize', 'no',
      '--logfile', '',
      ...(this.options.args ?? []),
    ]; // prettier-ignore
    this.output = '';
    const child = spawn(this.executable, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    cleanUpOnExit(child, this.dir);
    const collect = (data: Buffer): void => {
      this.output = (this.output + data.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.unref();
    (child.stdout as net.Socket | null)?.unref();
    (child.stderr as net.Socket | null)?.unref();

    const exited = new Promise<never>((_, reject) => {
      const fail = (why: string): void =>
        reject(new Error(`redis-server on port ${this.port} ${why}:\n${this.output}`));
      child.on('error', (err) => fail(`could not be started (${err.message})`));
      child.once('exit', (code, signal) => fail(`exited during start-up (${signal ?? code})`));
    });
    exited.catch(() => undefined);
    if (child.pid !== undefined) this.watchdog = startWatchdog(child.pid);
    try {
      await Promise.race([
        exited,
        waitUntil(() => pings(this.port), {
          timeoutMs: this.options.startTimeoutMs ?? 10_000,
          intervalMs: 10,
          message: `redis-server to answer PING on port ${this.port}`,
        }),
      ]);
    } catch (err) {
      await this.killProcess();
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.killProcess();
    await removeTempDir(this.dir);
    dirs.delete(this.dir);
  }

  async kill(): Promise<void> {
    this.checkNotStopped();
    await this.killProcess();
  }

  async restart(): Promise<void> {
    this.checkNotStopped();
    await this.killProcess();
    // No persistence is configured; clearing the dir also drops the stale socket file.
    for (const name of await fs.readdir(this.dir)) {
      await fs.rm(path.join(this.dir, name), { recursive: true, force: true });
    }
    await this.start();
  }

  async pause(): Promise<void> {
    const pid = this.runningPid();
    process.kill(pid, 'SIGSTOP');
    await waitUntil(async () => ['T', undefined].includes(await processState(pid)), {
      intervalMs: 5,
      message: `redis-server (pid ${pid}) to stop after SIGSTOP`,
    });
  }

  async resume(): Promise<void> {
    const pid = this.runningPid();
    process.kill(pid, 'SIGCONT');
    await waitUntil(async () => (await processState(pid)) !== 'T', {
      intervalMs: 5,
      message: `redis-server (pid ${pid}) to continue after SIGCONT`,
    });
  }

  private runningPid(): number {
    const pid = this.child?.pid;
    if (pid === undefined || this.child?.exitCode !== null || this.child?.signalCode !== null) {
      throw new Error('redis-server is not running');
    }
    return pid;
  }

  private checkNotStopped(): void {
    if (this.stopped) throw new Error('redis-server handle was stopped; start a new one');
  }

  /** SIGKILL (also ends a paused server) and wait until it is gone. */
  private async killProcess(): Promise<void> {
    // The watchdog goes first, so it can never kill a recycled pid.
    this.watchdog?.kill('SIGKILL');
    this.watchdog = undefined;
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
  }
}

/** Starts a private redis-server on a free port and waits until it answers PING. */
export async function startRedisServer(
  options: RedisServerOptions = {},
): Promise<RedisServerHandle> {
  const executable = await findOnPath('redis-server');
  const dir = await makeTempDir('ckc-redis');
  // Another process may take the free port before redis-server binds it: try a few.
  for (let attempt = 1; ; attempt++) {
    const server = new RedisServer(executable, dir, await freePort(), options);
    try {
      await server.start();
      return server;
    } catch (err) {
      const portTaken = err instanceof Error && /address already in use/i.test(err.message);
      if (!portTaken || attempt >= 5) {
        await removeTempDir(dir);
        throw err;
      }
    }
  }
}
