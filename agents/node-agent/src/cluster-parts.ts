/**
 * The agent's parts that reach other nodes (issue 13): delete notices (a Delete here reaches every
 * copy; a delete elsewhere reaches this node's) and peer reads (a miss here is streamed from a
 * node that holds the entry, and stored here). Started after the cache, before the gRPC server.
 * Owns: wiring those parts from the config. Never: the shutdown order (agent-parts.ts stops them).
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { ClusterDelete, PeerFill, type NodeCache } from '@checkpoint-cache/cache';
import type { AgentConfig } from '@checkpoint-cache/config';
import {
  RedisDeleteNotices,
  createRedisConnection,
  type KeyBuilder,
} from '@checkpoint-cache/redis';
import type { AgentMetrics } from './agent-metrics';
import type { Parts } from './agent-parts';
import { AgentPeers } from './agent-peers';

export interface ClusterPartsOptions {
  config: AgentConfig;
  /** Gets `deleteNotices` and `peers`, so that a shutdown stops them. */
  parts: Parts & Required<Pick<Parts, 'redis' | 'metadata'>>;
  cache: NodeCache;
  keys: KeyBuilder;
  redisUrl: string;
  redisTls?: TlsOptions;
  metrics: AgentMetrics;
}

export function startClusterParts(options: ClusterPartsOptions): {
  clusterDelete: ClusterDelete;
  peerFill: PeerFill | undefined;
} {
  const { config, parts, cache, keys, redisUrl, redisTls, metrics } = options;
  const log = parts.log;
  parts.deleteNotices = new RedisDeleteNotices({
    connection: parts.redis,
    subscriber: createRedisConnection(redisUrl, {
      logger: log,
      connectionName: `ckc-deletes:${keys.nodeId}`,
      ...(redisTls ? { tls: redisTls } : {}),
    }),
    metadata: parts.metadata,
    keys,
    intervalMs: config.reconcileInterval,
    logger: log,
  });
  const clusterDelete = new ClusterDelete({ cache, notices: parts.deleteNotices, logger: log });
  parts.deleteNotices.start((notice, atMs) => clusterDelete.applyNotice(notice, atMs));

  if (!config.peerReads) return { clusterDelete, peerFill: undefined };
  // Agents present their listener's certificate to each other and trust its client CA
  // (docs/security.md); a reload of those files reaches the peer clients too.
  const tls = parts.listenerTls?.mutual ? parts.listenerTls : undefined;
  if (parts.listenerTls && !tls) {
    // A listener with TLS but no client CA: this agent has nothing to check a peer's certificate
    // against, so it dials peers in plaintext, which peers with TLS listeners refuse.
    log.warn(
      'peer reads without mutual TLS: --tls-cert is set but --tls-client-ca is not, so this ' +
        'agent reads from peers in plaintext and peers with TLS refuse it (their entries are ' +
        'then read from the remote store); set --tls-client-ca (CKC_TLS_CLIENT_CA) on every ' +
        'agent to read from peers over mutual TLS, or --peer-reads 0 to turn peer reads off',
    );
  }
  parts.peers = new AgentPeers({
    metadata: parts.metadata,
    nodeId: keys.nodeId,
    ...(tls ? { tls } : {}),
  });
  const peerFill = new PeerFill({
    cache,
    peers: parts.peers,
    maxConcurrent: config.peerReads,
    bytesPerSecond: config.peerReadRate ?? 0,
    logger: log,
    observer: metrics,
  });
  return { clusterDelete, peerFill };
}
