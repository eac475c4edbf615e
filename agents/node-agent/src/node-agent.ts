/**
 * One running node agent: node identity, cache root, Redis (external or a private child), the
 * NodeCache, and a gRPC server with CheckpointCache, health and reflection on TCP and/or a Unix
 * socket.
 * Owns: start-up order and listeners. Never: the shutdown order (agent-parts.ts undoes what was
 * started), process signals or exit codes (main.ts), reading the environment
 * (@checkpoint-cache/config), cache rules (@checkpoint-cache/cache).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { NodeCache, Reconciler } from '@checkpoint-cache/cache';
import { EMBEDDED_REDIS_SOCKET, type AgentConfig } from '@checkpoint-cache/config';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { createLogger, type Logger } from '@checkpoint-cache/logger';
import { agentFileDescriptorProtos } from '@checkpoint-cache/proto';
import {
  KeyBuilder,
  RedisExpiryWatcher,
  RedisMetadataStore,
  createRedisConnection,
  isRedisAuthError,
  parseRedisUrl,
  waitForRedis,
} from '@checkpoint-cache/redis';
import {
  AccessPolicy,
  CheckpointCacheService,
  installZeroCopyFraming,
  unixSocketInterceptor,
} from '@checkpoint-cache/service';
import { AgentHealth } from './agent-health';
import { AgentMetrics } from './agent-metrics';
import { serveMetricsPort } from './metrics-port';
import { stopParts, type Parts } from './agent-parts';
import { startClusterParts } from './cluster-parts';
import { startEmbeddedRedis } from './embedded-redis';
import { resolveNodeId } from './node-identity';
import { agentToken, HOLD_MS, NodeClaim } from './node-claim';
import { checkRedisAccessAtStart, loadRedisTls, redisRefusedError } from './redis-security';
import { RECEIVE_WINDOW_BYTES, widenConnectionWindows, widenStreamWindow } from './receive-window';
import { ListenerTls } from './server-credentials';
import { applySocketPermissions, resolveGroup, withOwnerOnlyFiles } from './socket-permissions';
import { clearStaleSocket } from './unix-socket';

export interface StartNodeAgentOptions {
  /** Where the agent logs; by default a logger built from the config's logFormat and logLevel. */
  logger?: Logger;
  /**
   * Called after the agent has shut itself down because it cannot go on safely (another agent
   * holds its node id); `ckc-agent` then exits 1.
   */
  onFatal?: (error: Error) => void;
  /** How long the node id hold lasts without a refresh (default HOLD_MS); for tests. */
  nodeIdHoldMs?: number;
}

export interface RunningAgent {
  readonly nodeId: string;
  /** `host:port` actually bound (the real port when the config said 0); absent without TCP. */
  readonly tcpAddress?: string;
  /** Absolute path of the Unix socket; absent without one. */
  readonly socketPath?: string;
  /** `host:port` of the Prometheus endpoint actually bound; absent without one. */
  readonly metricsAddress?: string;
  readonly cache: NodeCache;
  /**
   * Reads the TCP listener's TLS files again (SIGHUP) and serves new connections with them if
   * they changed and are valid; true when they did. Without TLS, false. Never rejects.
   */
  reloadTls(reason?: string): Promise<boolean>;
  /**
   * Stops serving: health turns NOT_SERVING, new calls are refused, in-flight calls get `graceMs`
   * (the config's shutdownGrace by default) to finish before they are cancelled; then the cache,
   * Redis and the embedded redis-server are closed. Idempotent; never rejects.
   */
  shutdown(graceMs?: number): Promise<void>;
}

const MiB = 1024 * 1024;

/**
 * Server settings for streams of large files. Write chunks are sized by the client, so the
 * receive limit is well above the largest chunk (4 MiB) plus framing; keepalive pings find peers
 * that vanished mid-stream (a killed TaskManager) within ~40 s instead of holding a file open.
 */
export const GRPC_SERVER_OPTIONS: grpc.ServerOptions = Object.freeze({
  'grpc.max_receive_message_length': 16 * MiB,
  'grpc.max_send_message_length': 16 * MiB,
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
});

/** How long start-up waits for an external Redis before going on without it. */
const REDIS_START_WAIT_MS = 5000;

export async function startNodeAgent(
  config: AgentConfig,
  options: StartNodeAgentOptions = {},
): Promise<RunningAgent> {
  const rootLog =
    options.logger ?? createLogger({ level: config.logLevel, format: config.logFormat });
  const parts: Parts = { log: rootLog };
  try {
    return await start(config, parts, options);
  } catch (err) {
    await stopParts(parts, 0);
    throw err;
  }
}

async function start(
  config: AgentConfig,
  parts: Parts,
  options: StartNodeAgentOptions,
): Promise<RunningAgent> {
  const cacheDir = config.cacheDir;
  await fs.mkdir(cacheDir, { recursive: true });
  const { nodeId, source: nodeIdSource } = await resolveNodeId(cacheDir, config.nodeId);
  const log = parts.log.child({ node: nodeId });
  parts.log = log;
  if (nodeIdSource === 'created') {
    log.info('node id created from the host name', { file: path.join(cacheDir, 'node.id') });
  }
  // Refuse early, before anything is started, if another agent serves this socket.
  if (config.socket) await clearStaleSocket(config.socket, 'the agent socket (--socket)');
  const ingestDir = config.ingestDir ? await checkIngestDir(config.ingestDir, config) : undefined;
  // Security files and names are checked before anything starts, so a mistake costs no time.
  if (config.tlsCert && config.tlsKey) {
    parts.listenerTls = await ListenerTls.load(
      { cert: config.tlsCert, key: config.tlsKey, clientCa: config.tlsClientCa },
      { logger: log },
    );
  }
  const listenerTls = parts.listenerTls;
  const redisTls = await loadRedisTls(config);
  const socketGroup =
    config.socket && config.socketGroup
      ? { name: config.socketGroup, gid: await resolveGroup(config.socketGroup) }
      : undefined;

  let redisUrl = config.redisUrl;
  if (redisUrl === undefined) {
    parts.embedded = await startEmbeddedRedis({
      dir: path.dirname(path.join(cacheDir, EMBEDDED_REDIS_SOCKET)),
      logger: log,
    });
    redisUrl = parts.embedded.url;
  }
  const redisDescription = parseRedisUrl(redisUrl).description;
  const metrics = new AgentMetrics();
  // Before the service exists: it frames Read chunks only if the patch is in (read-wire/).
  const zeroCopy = installZeroCopyFraming();
  parts.redis = createRedisConnection(redisUrl, {
    logger: log,
    connectionName: `ckc-agent:${nodeId}`,
    ...(redisTls ? { tls: redisTls } : {}),
  });
  parts.redis.on('error', () => metrics.redisError());
  try {
    await waitForRedis(parts.redis, REDIS_START_WAIT_MS);
  } catch (err) {
    // Credentials do not get better by waiting; everything else may.
    if (isRedisAuthError(err)) throw redisRefusedError(err, redisDescription);
    // Not fatal: hits are served from the local index, writes fail cleanly until Redis is back.
    log.warn('Redis is not reachable yet; starting anyway (writes fail until it is)', {
      redis: redisDescription,
      error: err,
    });
  }
  const keys = new KeyBuilder(config.redisPrefix, nodeId);
  // The agent closes the connection itself, also when start-up fails before the store exists.
  parts.metadata = new RedisMetadataStore(parts.redis, keys, log, { ownsConnection: false });
  // The agent object exists only once start-up is done; a clash may be found before or after.
  const lifecycle: { agent?: RunningAgent; fatal?: Error } = {};
  const stopFatally = (agent: RunningAgent, error: Error): void => {
    void agent.shutdown().then(() => options.onFatal?.(error));
  };
  const claim = new NodeClaim(
    parts.metadata,
    await agentToken(cacheDir, log),
    log,
    options.nodeIdHoldMs ?? HOLD_MS,
    (error) => {
      log.error('another agent holds this node id: shutting down', { reason: error.message });
      lifecycle.fatal = error;
      if (lifecycle.agent) stopFatally(lifecycle.agent, error);
    },
  );
  if (parts.redis.status === 'ready') {
    await checkRedisAccessAtStart(parts.metadata, redisDescription, log);
    // Before anything touches the node's keys: another agent with this node id stops this one.
    await claim.claim();
  }
  parts.claim = claim;
  claim.start();
  parts.cache = await NodeCache.open({
    root: cacheDir,
    nodeId,
    metadata: parts.metadata,
    defaultTtlMs: config.defaultTtl,
    blockSize: config.blockSize,
    ...(config.packMaxBytes === undefined ? {} : { packMaxBytes: config.packMaxBytes }),
    logger: log,
    observer: metrics,
    limits: {
      ...(config.maxBytes === undefined ? {} : { maxBytes: config.maxBytes }),
      ...(config.maxEntries === undefined ? {} : { maxEntries: config.maxEntries }),
      minFreeRatio: config.minFreePercent / 100,
    },
  });
  const reconciler = new Reconciler({
    cache: parts.cache,
    metadata: parts.metadata,
    intervalMs: config.reconcileInterval,
    sweepMs: config.reconcileSweep,
    logger: log,
    onPass: (result) => metrics.reconcilePass(result),
  });
  parts.reconciler = reconciler;
  reconciler.start();
  // After a reconnect of the main connection Redis may have lost data or let keys expire unseen.
  let connectedBefore = parts.redis.status === 'ready';
  const metadata = parts.metadata;
  // Written again after every reconnect: a Redis that restarted without its data forgot it.
  const advertisePeer = (): void => {
    if (!config.peerAddress) return;
    metadata.advertisePeerAddress(config.peerAddress).catch((error: unknown) => {
      log.warn('peer address not advertised; retried after the next Redis reconnect', { error });
    });
  };
  // Records of key layout 1 (an agent before issue 16 on this node id) are deleted once this
  // agent holds the node id; reconcile registers the entries again in layout 2. A no-op (one
  // EXISTS) when there are none; after a reconnect it finishes a migration cut short.
  const dropLegacy = (): void => {
    metadata.dropLegacyRecords().catch((error: unknown) => {
      log.warn('records of key layout 1 not removed yet; retried after the next reconnect', {
        error,
      });
    });
  };
  if (connectedBefore) {
    advertisePeer();
    dropLegacy();
  }
  parts.redis.on('ready', () => {
    advertisePeer();
    dropLegacy();
    if (connectedBefore) reconciler.trigger('redis reconnect');
    connectedBefore = true;
  });
  // Expired notifications delete entries promptly; the watcher asks for a reconcile pass whenever
  // it may have missed some (resubscribed after a disconnect, cluster topology changed).
  const cache = parts.cache;
  parts.watcher = new RedisExpiryWatcher(redisUrl, keys, log, {
    startTimeoutMs: REDIS_START_WAIT_MS,
    ...(redisTls ? { connection: { tls: redisTls } } : {}),
  });
  await parts.watcher.start({
    expired: (id) => {
      cache.expire(id).catch((error: unknown) => {
        log.warn('expired entry not handled; the next reconcile pass retries', { id, error });
      });
    },
    resync: (reason) => reconciler.trigger(reason),
  });

  // Deletes and reads that reach the other nodes (location index, delete notices, peer reads).
  const { clusterDelete, peerFill } = startClusterParts({
    config,
    parts: parts as Parts & Required<Pick<Parts, 'redis' | 'metadata'>>,
    cache,
    keys,
    redisUrl,
    ...(redisTls ? { redisTls } : {}),
    metrics,
  });

  const server = new grpc.Server(GRPC_SERVER_OPTIONS);
  parts.server = server;
  let wideWindow = widenStreamWindow(server);
  new CheckpointCacheService({
    cache: parts.cache,
    logger: log,
    maxChunkSize: config.maxChunkSize,
    observer: metrics,
    clusterDelete,
    ...(peerFill ? { peerFill } : {}),
    ...(ingestDir ? { ingestDir } : {}),
    accessPolicy: new AccessPolicy({
      writeAccess: config.writeAccess,
      ...(config.socket ? { socketPath: config.socket } : {}),
      logger: log,
    }),
  }).addToServer(server);
  const redisConnection = parts.redis;
  // gRPC health and the metrics port's /readyz answer from this one state.
  const health = new AgentHealth({
    indexStatus: () => cache.indexStatus,
    redisStatus: () => redisConnection.status,
    pingRedis: () => redisConnection.ping(),
    tmpDir: path.join(cacheDir, 'tmp'),
  });
  parts.health = health;
  metrics.attach({
    cache: parts.cache,
    redisConnected: () => redisConnection.status === 'ready',
    zeroCopy,
  });
  let metricsAddress: string | undefined;
  if (config.metricsListen) {
    const served = await serveMetricsPort(config.metricsListen, { metrics, health });
    parts.metricsServer = served;
    metricsAddress = served.address;
  }
  health.addToServer(server);
  new ReflectionService(reflectedFiles()).addToServer(server);

  let tcpAddress: string | undefined;
  if (config.listen) {
    const hostEnd = config.listen.lastIndexOf(':');
    const credentials = listenerTls?.serverCredentials() ?? grpc.ServerCredentials.createInsecure();
    const port = await bind(server, config.listen, `--listen ${config.listen}`, credentials);
    wideWindow &&= widenConnectionWindows(server);
    tcpAddress = `${config.listen.slice(0, hostEnd)}:${port}`;
    listenerTls?.republish();
    listenerTls?.watch();
  }
  if (config.socket) {
    const socket = config.socket;
    // Plaintext (file permissions guard it); the interceptor tells the access policy that its
    // calls are local. Created owner-only, then opened to the configured mode and group.
    const credentials = grpc.experimental.createServerCredentialsWithInterceptors(
      grpc.ServerCredentials.createInsecure(),
      [unixSocketInterceptor],
    );
    await withOwnerOnlyFiles(() =>
      bind(server, `unix:${socket}`, `--socket ${socket}`, credentials),
    );
    wideWindow &&= widenConnectionWindows(server);
    parts.socketPath = socket;
    await applySocketPermissions(socket, config.socketMode, socketGroup);
  }
  health.setServing(true);
  parts.started = true;

  log.info('node agent started', {
    tcp: tcpAddress ?? 'off',
    peerAddress: config.peerAddress ?? 'off',
    peerReads: config.peerReads ?? 'off',
    metrics: metricsAddress ?? 'off',
    socket: config.socket ?? 'off',
    tls: listenerTls ? (listenerTls.mutual ? 'mutual' : 'server') : 'off',
    writeAccess: config.writeAccess,
    cacheDir,
    redis: parts.embedded
      ? `embedded (${redisDescription}, pid ${parts.embedded.pid})`
      : redisDescription,
    redisPrefix: config.redisPrefix,
    defaultTtlMs: config.defaultTtl,
    index: parts.cache.indexStatus,
    zeroCopy: zeroCopy ? 'on' : 'off',
    // Off only with a grpc-js whose internals receive-window.ts does not know: Writes are slower.
    receiveWindow: wideWindow ? RECEIVE_WINDOW_BYTES : 'default (grpc-js internals changed)',
    pid: process.pid,
  });

  let stopping: Promise<void> | undefined;
  const running: RunningAgent = {
    nodeId,
    ...(tcpAddress === undefined ? {} : { tcpAddress }),
    ...(config.socket === undefined ? {} : { socketPath: config.socket }),
    ...(metricsAddress === undefined ? {} : { metricsAddress }),
    cache,
    reloadTls(reason = 'SIGHUP'): Promise<boolean> {
      return listenerTls ? listenerTls.reload(reason) : Promise.resolve(false);
    },
    shutdown(graceMs = config.shutdownGrace): Promise<void> {
      stopping ??= stopParts(parts, graceMs);
      return stopping;
    },
  };
  lifecycle.agent = running;
  // The clash was found while the agent was still starting.
  if (lifecycle.fatal) stopFatally(running, lifecycle.fatal);
  return running;
}

function bind(
  server: grpc.Server,
  address: string,
  what: string,
  credentials: grpc.ServerCredentials,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => {
      if (err) {
        reject(
          new CacheError(ErrorCode.Unavailable, `cannot listen on ${what}: ${err.message}`, {
            cause: err,
          }),
        );
      } else {
        resolve(port);
      }
    });
  });
}

/**
 * The files reflection describes: protoc's own descriptors of checkpoint_cache.proto and
 * health.proto (proto/descriptors), not descriptors rebuilt from loaded protobufjs objects, whose
 * camelCase fields and per-package file names broke grpcurl's JSON and map types. @grpc/reflection
 * reads only `fileDescriptorProtos` from each entry (`format` and `type` are there for the
 * PackageDefinition type alone) and indexes every file's symbols itself; it decodes and re-encodes
 * the bytes, which the grpcurl test checks leaves them unchanged.
 */
function reflectedFiles(): ConstructorParameters<typeof ReflectionService>[0] {
  return {
    'checkpointcache.v1 and grpc.health.v1 descriptors': {
      format: 'Protocol Buffer 3 EnumDescriptorProto',
      type: {},
      fileDescriptorProtos: [...agentFileDescriptorProtos()],
    },
  };
}

/**
 * The ingest directory's real path. Refuses to start unless it is an existing directory apart from
 * the cache directory and holding none of the agent's key and certificate files: Ingest copies
 * any readable file of it into the cache, where every client may read it.
 */
async function checkIngestDir(dir: string, config: AgentConfig): Promise<string> {
  let real: string;
  try {
    real = await fs.realpath(dir);
  } catch (err) {
    throw new Error(
      `--ingest-dir ${dir}: ${(err as Error).message}; create it or unset the option`,
      {
        cause: err,
      },
    );
  }
  if (!(await fs.stat(real)).isDirectory())
    throw new Error(`--ingest-dir ${dir} is not a directory`);
  const cacheDir = await fs.realpath(config.cacheDir);
  const within = (child: string, parent: string): boolean =>
    child === parent || child.startsWith(parent + path.sep);
  if (within(real, cacheDir) || within(cacheDir, real)) {
    throw new Error(
      `--ingest-dir ${dir} overlaps the cache directory ${config.cacheDir}; use a directory of its own`,
    );
  }
  const secrets = [
    config.tlsCert,
    config.tlsKey,
    config.tlsClientCa,
    config.redisTlsCa,
    config.redisTlsCert,
    config.redisTlsKey,
  ];
  for (const file of secrets) {
    if (!file) continue;
    const where = await fs.realpath(path.dirname(file)).catch(() => path.dirname(file));
    if (where === real) {
      throw new Error(
        `--ingest-dir ${dir} holds ${file}, which Ingest could then copy into the cache; keep ` +
          'key and certificate files in another directory',
      );
    }
  }
  return real;
}
