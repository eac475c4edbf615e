/**
 * What a starting agent has started so far (Parts), and undoing it: a failed start-up and a
 * shutdown both stop exactly those pieces, in reverse start order, each failure logged and passed.
 * Owns: the shutdown order, the grace period, closing Redis without hanging on a dead one.
 * Never: starting anything (node-agent.ts), process signals or exit codes (main.ts).
 */
import { promises as fs } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import type { NodeCache, Reconciler } from '@checkpoint-cache/cache';
import type { Logger } from '@checkpoint-cache/logger';
import type {
  RedisDeleteNotices,
  RedisExpiryWatcher,
  RedisMetadataStore,
  createRedisConnection,
} from '@checkpoint-cache/redis';
import type { AgentHealth } from './agent-health';
import type { AgentPeers } from './agent-peers';
import type { EmbeddedRedis } from './embedded-redis';
import type { NodeClaim } from './node-claim';
import type { ListenerTls } from './server-credentials';

/** Pieces started so far, so that a failed start-up and shutdown undo exactly those. */
export interface Parts {
  log: Logger;
  embedded?: EmbeddedRedis;
  metadata?: RedisMetadataStore;
  redis?: ReturnType<typeof createRedisConnection>;
  cache?: NodeCache;
  reconciler?: Reconciler;
  watcher?: RedisExpiryWatcher;
  deleteNotices?: RedisDeleteNotices;
  peers?: AgentPeers;
  claim?: NodeClaim;
  server?: grpc.Server;
  health?: AgentHealth;
  socketPath?: string;
  metricsServer?: { close(): Promise<void> };
  listenerTls?: ListenerTls;
  /** Set once the agent serves; only then are stopping and stopped worth a log line. */
  started?: boolean;
}

/** Undoes whatever `parts` holds, in reverse start order; logs failures instead of throwing. */
export async function stopParts(parts: Parts, graceMs: number): Promise<void> {
  const log = parts.log;
  const step = async (what: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      log.warn(`shutdown: ${what} failed`, { error: err });
    }
  };
  const { server, health, watcher, reconciler, cache, metadata, redis, embedded, socketPath } =
    parts;
  parts.listenerTls?.close();
  if (server) {
    if (parts.started) log.info('node agent stopping', { graceMs });
    health?.setServing(false);
    await step('stopping the gRPC server', () => stopServer(server, graceMs, log));
  }
  parts.peers?.close();
  const { deleteNotices } = parts;
  if (deleteNotices) await step('stopping delete notices', () => deleteNotices.stop());
  if (watcher) await step('stopping the expiry watcher', () => watcher.stop());
  if (reconciler) await step('stopping reconcile', () => reconciler.stop());
  if (cache) await step('closing the cache', () => cache.close());
  const { claim } = parts;
  if (claim) await step('releasing the node id', () => claim.release());
  if (metadata) await step('closing the metadata store', () => metadata.close());
  if (redis) await step('closing the Redis connection', () => closeRedis(redis));
  if (embedded) await step('stopping the embedded redis-server', () => embedded.stop());
  if (socketPath) await step('removing the socket file', () => fs.rm(socketPath, { force: true }));
  const { metricsServer } = parts;
  if (metricsServer) await step('closing the metrics endpoint', () => metricsServer.close());
  if (parts.started) log.info('node agent stopped');
}

/** Graceful: no new calls, in-flight calls finish; after `graceMs` they are cancelled. */
function stopServer(server: grpc.Server, graceMs: number, log: Logger): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      log.warn('shutdown grace period over: cancelling the calls still running', { graceMs });
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function closeRedis(redis: NonNullable<Parts['redis']>): Promise<void> {
  if (redis.status === 'end') return;
  // QUIT waits for replies to commands already sent; a Redis that is down would make it wait
  // for reconnection, so give up after a moment.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, 2000);
  });
  await Promise.race([
    redis.quit().then(
      () => undefined,
      () => undefined,
    ),
    timeout,
  ]);
  clearTimeout(timer);
  redis.disconnect();
}
