/**
 * The real `ckc-agent` executable as a child process, for tests that need an agent to be a
 * separate process: killed with SIGKILL like a crashed node, or run inside a network namespace
 * (`wrap`, e.g. `ip netns exec <ns>`). Its TCP address comes from its own start-up log record.
 *
 * Owns: the child, its cache dir when it made it, and a watchdog that SIGKILLs the child if the
 * test process dies first. Never: pass the test's CKC_* environment to the agent (only the flags
 * set here configure it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type * as net from 'node:net';
import * as path from 'node:path';
import { makeTempDir, removeTempDir } from './temp-dir';

export interface AgentProcessOptions {
  nodeId: string;
  redisUrl: string;
  redisPrefix: string;
  /** `--listen`, e.g. `10.213.7.11:7878` or `127.0.0.1:0`. */
  listen: string;
  /** Default: a new temp dir, removed by stop() and kill(). */
  cacheDir?: string;
  /** More ckc-agent flags, after the defaults (so they win), e.g. `['--max-bytes', '8KiB']`. */
  extraArgs?: readonly string[];
  /** Runs the agent through this command, e.g. `(c, a) => ['ip', ['netns', 'exec', ns, c, ...a]]`.
   * It must exec the agent (so the child's pid is the agent's). */
  wrap?: (command: string, args: readonly string[]) => [string, string[]];
  /** How long to wait for the start-up record. Default 20000. */
  startTimeoutMs?: number;
}

const AGENT_BIN = path.join(
  path.dirname(require.resolve('@checkpoint-cache/node-agent/package.json')),
  'bin',
  'ckc-agent.js',
);
const OUTPUT_TAIL_CHARS = 4000;

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}

/** Kills `pid` when our end of its stdin closes, however the test process dies. */
function startWatchdog(pid: number): ChildProcess {
  const watchdog = spawn('sh', ['-c', `read _; kill -KILL ${pid} 2>/dev/null`], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.on('error', () => undefined);
  watchdog.unref();
  (watchdog.stdin as net.Socket | null)?.unref();
  return watchdog;
}

export class AgentProcess {
  private stopped: Promise<void> | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly watchdog: ChildProcess | undefined,
    readonly nodeId: string,
    readonly cacheDir: string,
    /** `host:port` as the agent logged it. */
    readonly address: string,
    /** The agent's Unix socket (the default `<cacheDir>/agent.sock` unless extraArgs set one). */
    readonly socketPath: string,
    private readonly own: { ownsCacheDir: boolean; output: () => string; metricsAddress?: string },
  ) {}

  /** `host:port` of the metrics endpoint, when `--metrics-listen` is in extraArgs. */
  get metricsAddress(): string | undefined {
    return this.own.metricsAddress;
  }

  static async start(options: AgentProcessOptions): Promise<AgentProcess> {
    const ownsCacheDir = options.cacheDir === undefined;
    const cacheDir = options.cacheDir ?? (await makeTempDir('ckc-agent-proc'));
    const args = [
      AGENT_BIN,
      '--listen', options.listen,
      '--cache-dir', cacheDir,
      '--node-id', options.nodeId,
      '--redis-url', options.redisUrl,
      '--redis-prefix', options.redisPrefix,
      '--reconcile-interval', '1h',
      '--shutdown-grace', '2s',
      '--log-format', 'json',
      // info: the start-up record carries the TCP address (the port may have been 0).
      '--log-level', 'info',
      ...(options.extraArgs ?? []),
    ]; // prettier-ignore
    const [command, fullArgs] = options.wrap
      ? options.wrap(process.execPath, args)
      : [process.execPath, args];
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('CKC_')),
    );
    const child = spawn(command, fullArgs, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    killOnExit(child);
    let output = '';
    child.unref();
    (child.stderr as net.Socket | null)?.unref();
    child.stderr?.setEncoding('utf8');
    const started = new Promise<{ address: string; socketPath: string; metrics: string }>(
      (resolve, reject) => {
        let pending = '';
        child.stderr?.on('data', (data: string) => {
          output = (output + data).slice(-OUTPUT_TAIL_CHARS);
          pending += data;
          for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
            const record = parseRecord(pending.slice(0, nl));
            pending = pending.slice(nl + 1);
            if (record?.['message'] === 'node agent started' && typeof record['tcp'] === 'string') {
              resolve({
                address: record['tcp'],
                socketPath: String(record['socket']),
                metrics: String(record['metrics']),
              });
            }
          }
        });
        child.once('error', (err) =>
          reject(new Error(`ckc-agent could not start: ${err.message}`)),
        );
        child.once('exit', (code, signal) =>
          reject(new Error(`ckc-agent ${options.nodeId} exited (${signal ?? code}):\n${output}`)),
        );
      },
    );
    const timeoutMs = options.startTimeoutMs ?? 20_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`ckc-agent ${options.nodeId} did not start in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    const watchdog = child.pid === undefined ? undefined : startWatchdog(child.pid);
    started.catch(() => undefined); // it rejects when the child exits, also after a timeout
    try {
      const { address, socketPath, metrics } = await Promise.race([started, timedOut]);
      return new AgentProcess(child, watchdog, options.nodeId, cacheDir, address, socketPath, {
        ownsCacheDir,
        output: () => output,
        ...(metrics === 'off' ? {} : { metricsAddress: metrics }),
      });
    } catch (err) {
      await endChild(child, watchdog, 'SIGKILL');
      if (ownsCacheDir) await removeTempDir(cacheDir);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The tail of the agent's log, for failure messages. */
  get log(): string {
    return this.own.output();
  }

  /** SIGKILL, like a crash, and wait until it is gone. The cache dir stays (for stop()). */
  kill(): Promise<void> {
    return endChild(this.child, this.watchdog, 'SIGKILL');
  }

  /** SIGTERM (the agent drains and closes Redis), SIGKILL after 10 s; removes the cache dir if
   * it made it. Idempotent, also after kill(). */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await endChild(this.child, this.watchdog, 'SIGTERM');
      if (this.own.ownsCacheDir) await removeTempDir(this.cacheDir);
    })();
    return this.stopped;
  }
}

/** Sends `signal` (SIGKILL after 10 s) and waits for the exit; then retires the watchdog. */
async function endChild(
  child: ChildProcess,
  watchdog: ChildProcess | undefined,
  signal: NodeJS.Signals,
): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }
  // Only once the child is gone: until then the watchdog guards against our own death.
  watchdog?.kill('SIGKILL');
}

export function startAgentProcess(options: AgentProcessOptions): Promise<AgentProcess> {
  return AgentProcess.start(options);
}

function parseRecord(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
