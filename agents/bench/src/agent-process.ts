/**
 * The node agent as the bench measures it: the real `ckc-agent` executable in a child process
 * (its own core, its own RSS), with a private redis-server and a cache dir in the run's temp dir.
 * Owns: starting it, learning its TCP address from its start-up log line, stopping it.
 * Never: reading CKC_* from the bench's environment (the agent gets only the flags set here).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ManagedChild } from './managed-child';

export interface AgentProcessOptions {
  cacheDir: string;
  socketPath: string;
  /** Extra ckc-agent flags, e.g. `['--max-chunk-size', '256KiB']`. */
  extraArgs?: readonly string[];
  /** Every output line of the agent from its first one (the scale bench reads the load's line). */
  onLine?: (line: string) => void;
  /** Node id in Redis keys. Default `bench-node`. */
  nodeId?: string;
}

const START_TIMEOUT_MS = 30_000;

export class AgentProcess {
  private constructor(
    private readonly child: ManagedChild,
    /** `127.0.0.1:PORT` */
    readonly tcpAddress: string,
    /** `unix:/path`, as client stubs take it. */
    readonly unixAddress: string,
    /** Its cache directory (what a same-node short circuit mounts). */
    readonly cacheDir: string,
  ) {}

  static async start(options: AgentProcessOptions): Promise<AgentProcess> {
    const bin = path.join(
      path.dirname(require.resolve('@checkpoint-cache/node-agent/package.json')),
      'bin',
      'ckc-agent.js',
    );
    await fs.mkdir(options.cacheDir, { recursive: true });
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('CKC_')),
    );
    const child = ManagedChild.spawn({
      name: 'ckc-agent',
      // The file itself, not `node <file>`: its shebang carries the agent's V8 flags, and the
      // bench measures the agent as it ships.
      command: bin,
      args: [
        '--listen', '127.0.0.1:0',
        '--socket', options.socketPath,
        '--cache-dir', options.cacheDir,
        '--node-id', options.nodeId ?? 'bench-node',
        '--log-format', 'json',
        '--log-level', 'info',
        ...(options.extraArgs ?? []),
      ], // prettier-ignore
      env,
    });
    if (options.onLine) child.onLine(options.onLine);
    try {
      const tcp = await child.waitForLine((line) => {
        const record = parseJson(line);
        return record?.message === 'node agent started' && typeof record.tcp === 'string'
          ? record.tcp
          : undefined;
      }, START_TIMEOUT_MS);
      return new AgentProcess(child, tcp, `unix:${options.socketPath}`, options.cacheDir);
    } catch (err) {
      await child.stop();
      throw err;
    }
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Graceful: the agent stops its own redis-server. */
  stop(): Promise<void> {
    return this.child.stop('SIGTERM', 15_000);
  }
}

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
