/**
 * The agent's health, in the two forms its probes ask for: the gRPC health service on the agent's
 * listeners (grpc.health.v1, for clients and `grpc_health_probe`), and the readiness the metrics
 * port serves as plaintext `/readyz` (metrics-port.ts), which the kubelet can reach whatever TLS
 * the gRPC port speaks. Both come from one serving state, set here.
 *
 * Ready means all of (each checked on every ask, in this order):
 * - serving: every listener is bound and shutdown has not begun (gRPC health SERVING);
 * - index: the in-memory index has been rebuilt from the sidecars on disk;
 * - redis: the main Redis connection is ready and answers PING within 1 s;
 * - disk: a file in `<cacheDir>/tmp` can be created, written, fsynced and removed within 2 s.
 *
 * Owns: the serving state, what "ready" means, and the disk probe (at most one at a time, so a
 * hung disk cannot fill libuv's thread pool with probes). Never: change the cache or Redis, or
 * decide anything from health (it is reported, nothing more).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { IndexState } from '@checkpoint-cache/cache';
import { SERVICE_NAME } from '@checkpoint-cache/proto';

/** The gRPC health services the agent reports: the server as a whole and CheckpointCache. */
export const HEALTH_SERVICES = ['', SERVICE_NAME] as const;

const REDIS_PING_TIMEOUT_MS = 1_000;
const DISK_PROBE_TIMEOUT_MS = 2_000;

export interface HealthSources {
  /** The in-memory index's state (NodeCache.indexStatus). */
  indexStatus(): IndexState;
  /** The main Redis connection's ioredis status ('ready' when usable). */
  redisStatus(): string;
  /** PING over the main Redis connection. */
  pingRedis(): Promise<unknown>;
  /** The cache's staging folder, `<cacheDir>/tmp`: the disk probe writes there. */
  tmpDir: string;
}

export interface ReadinessCheck {
  name: 'serving' | 'index' | 'redis' | 'disk';
  ok: boolean;
  /** What was found, for a person: `ok`, or why not. */
  detail: string;
}

export interface Readiness {
  ready: boolean;
  checks: ReadinessCheck[];
}

export class AgentHealth {
  private readonly grpcHealth = new HealthImplementation(
    Object.fromEntries(HEALTH_SERVICES.map((s) => [s, 'NOT_SERVING' as const])),
  );
  private serving = false;
  private diskProbe: { startedMs: number; result: Promise<string | undefined> } | undefined;
  private probeSeq = 0;

  constructor(private readonly sources: HealthSources) {}

  /** Adds grpc.health.v1.Health, answering from this state, to `server`. */
  addToServer(server: grpc.Server): void {
    this.grpcHealth.addToServer(server);
  }

  /** Serving (every listener bound) or not (shutdown begun): gRPC health and `/readyz`. */
  setServing(serving: boolean): void {
    this.serving = serving;
    for (const s of HEALTH_SERVICES)
      this.grpcHealth.setStatus(s, serving ? 'SERVING' : 'NOT_SERVING');
  }

  /** The checks of `/readyz`; never rejects. */
  async readiness(): Promise<Readiness> {
    const [redis, disk] = await Promise.all([this.checkRedis(), this.checkDisk()]);
    const index = this.sources.indexStatus();
    const checks: ReadinessCheck[] = [
      {
        name: 'serving',
        ok: this.serving,
        detail: this.serving ? 'ok' : 'not serving (starting, or shutting down)',
      },
      {
        name: 'index',
        ok: index === 'ready',
        detail:
          index === 'ready'
            ? 'ok'
            : index === 'loading'
              ? 'still loading the sidecars from disk'
              : 'could not be loaded (see the log: "cache index could not be loaded")',
      },
      { name: 'redis', ok: redis === undefined, detail: redis ?? 'ok' },
      { name: 'disk', ok: disk === undefined, detail: disk ?? 'ok' },
    ];
    return { ready: checks.every((c) => c.ok), checks };
  }

  /** Why Redis is not usable, or undefined. */
  private async checkRedis(): Promise<string | undefined> {
    const status = this.sources.redisStatus();
    if (status !== 'ready') return `not connected (connection ${status})`;
    try {
      await withTimeout(this.sources.pingRedis(), REDIS_PING_TIMEOUT_MS, 'no PING answer');
      return undefined;
    } catch (err) {
      return `PING failed: ${(err as Error).message}`;
    }
  }

  /** Why the cache's disk cannot be written, or undefined. */
  private async checkDisk(): Promise<string | undefined> {
    if (this.diskProbe) {
      const waited = Date.now() - this.diskProbe.startedMs;
      if (waited >= DISK_PROBE_TIMEOUT_MS) {
        return `the previous write probe in ${this.sources.tmpDir} has not finished after ${waited} ms`;
      }
    } else {
      const result = this.probeDisk().finally(() => {
        this.diskProbe = undefined;
      });
      this.diskProbe = { startedMs: Date.now(), result };
    }
    try {
      return await withTimeout(
        this.diskProbe.result,
        DISK_PROBE_TIMEOUT_MS,
        `a 1-byte write probe in ${this.sources.tmpDir} did not finish within ${DISK_PROBE_TIMEOUT_MS} ms`,
      );
    } catch (err) {
      return (err as Error).message;
    }
  }

  private async probeDisk(): Promise<string | undefined> {
    // In tmp/: start-up empties it, and nothing there is ever taken for an entry.
    const file = path.join(this.sources.tmpDir, `readyz-${process.pid}-${++this.probeSeq}`);
    try {
      const handle = await fs.open(file, 'w', 0o600);
      try {
        await handle.write(Buffer.from('r'));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.unlink(file);
      return undefined;
    } catch (err) {
      await fs.rm(file, { force: true }).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      return `cannot write in ${this.sources.tmpDir} (${code})`;
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
