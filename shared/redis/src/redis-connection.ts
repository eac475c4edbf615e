/**
 * The one ioredis connection factory. Settings suit an agent that must never make a cache read
 * wait for Redis: commands fail fast while disconnected (no offline queue), a command in flight
 * when the connection drops is retried at most once, a silent server times a command out, and
 * the connection itself reconnects forever with capped backoff. A `redis+cluster://` URL gives an
 * ioredis Cluster with the same settings on every node.
 * Owns: connection settings and connection logging. Never: log the URL or its password, or retry
 * a failed command itself.
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { silentLogger, ThrottledWarn, type Logger } from '@checkpoint-cache/logger';
import { isRedisAuthError } from './redis-error';
import { describeRedisOptions, parseRedisUrl, type RedisEndpoint } from './redis-url';

/**
 * A connection from createRedisConnection: one server, or a Redis Cluster. Everything this
 * package sends for one node uses keys with the node's hash tag, so it works on both.
 */
export type RedisConnection = Redis | Cluster;

export interface RedisConnectionOptions {
  /** Receives connect, close and error records (never credentials). Default: silent. */
  logger?: Logger;
  /** CLIENT SETNAME, so `CLIENT LIST` shows who is who, e.g. `ckc-agent:<nodeId>`. */
  connectionName?: string;
  /** Do not connect until the first command or `connect()`. Default false. */
  lazyConnect?: boolean;
  /**
   * Queue commands while disconnected and send them on reconnect instead of failing them at
   * once. Default false: a touch that cannot be sent now is worth nothing later.
   */
  enableOfflineQueue?: boolean;
  /** How often a command in flight when the connection drops is resent. Default 1. */
  maxRetriesPerRequest?: number;
  /** A command without a reply for this long fails (a paused or swamped Redis). Default 5000. */
  commandTimeoutMs?: number;
  /** A connection attempt that takes longer fails and is retried. Default 5000. */
  connectTimeoutMs?: number;
  /** First reconnect delay; doubles per failed attempt. Default 50. */
  reconnectBaseDelayMs?: number;
  /** Upper bound of the reconnect delay. Default 2000. */
  reconnectMaxDelayMs?: number;
  /** Extra TLS settings for rediss:// (e.g. `ca`), merged over the server name from the URL. */
  tls?: TlsOptions;
}

/** @internal */
export type CompiledRedisConnectionOptions = Required<
  Omit<RedisConnectionOptions, 'tls' | 'connectionName'>
> &
  Pick<RedisConnectionOptions, 'tls' | 'connectionName'>;

/** @internal */
export function addDefaults(options: RedisConnectionOptions): CompiledRedisConnectionOptions {
  return {
    logger: silentLogger,
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeoutMs: 5000,
    connectTimeoutMs: 5000,
    reconnectBaseDelayMs: 50,
    reconnectMaxDelayMs: 2000,
    ...withoutUndefined(options),
  };
}

function withoutUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}

/** While Redis stays unreachable, repeat the warning at most this often. */
const DOWN_WARN_INTERVAL_MS = 60_000;

/**
 * Connects to `url`: redis://, rediss://, unix:///path or redis+unix:///path give one server
 * (ioredis `Redis`); redis+cluster://host1:port1,host2:port2 (rediss+cluster:// with TLS) gives a
 * Redis Cluster (ioredis `Cluster`) that learns every node from the seeds. See parseRedisUrl for
 * the exact forms. Throws CacheError(InvalidArgument) for a URL it cannot use. The connection
 * reconnects by itself; call `quit()` (or `disconnect()`) to end it.
 */
export function createRedisConnection(
  url: string,
  options: RedisConnectionOptions = {},
): RedisConnection {
  const o = addDefaults(options);
  const endpoint = parseRedisUrl(url);
  return endpoint.cluster ? connectCluster(endpoint, o) : connectServer(endpoint, o);
}

/**
 * One server at `endpoint` (for a cluster endpoint: its credentials and TLS, at `node`).
 * `extra` is for this package's own special connections (the expiry subscriber).
 * @internal
 */
export function connectServer(
  endpoint: RedisEndpoint,
  o: CompiledRedisConnectionOptions,
  extra: Partial<RedisOptions> = {},
  node?: { host: string; port: number },
): Redis {
  const { description, tls, host, port, path, username, password, db } = endpoint;
  const redisOptions: RedisOptions = {
    ...withoutUndefined({ host, port, path, username, password, db }),
    ...node,
    ...nodeOptions(tls, o),
    lazyConnect: o.lazyConnect,
    enableOfflineQueue: o.enableOfflineQueue,
    retryStrategy: (attempt) => backoff(o, attempt),
    ...extra,
  };
  const connection = new Redis(redisOptions);
  const shown = node ? describeRedisOptions({ ...node, tls }) : description;
  descriptions.set(connection, shown);
  const context = o.connectionName ? { connection: o.connectionName } : {};
  logEvents(connection, o.logger.child({ redis: shown, ...context }));
  return connection;
}

/** @internal */
export function connectCluster(
  endpoint: RedisEndpoint,
  o: CompiledRedisConnectionOptions,
  extra: Partial<ClusterOptions> = {},
): Cluster {
  const { description, tls, username, password } = endpoint;
  const clusterOptions: ClusterOptions = {
    lazyConnect: o.lazyConnect,
    enableOfflineQueue: o.enableOfflineQueue,
    clusterRetryStrategy: (attempt) => backoff(o, attempt),
    redisOptions: {
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...nodeOptions(tls, o),
    },
    ...extra,
  };
  const connection = new Cluster(endpoint.cluster ?? [], clusterOptions);
  descriptions.set(connection, description);
  const context = o.connectionName ? { connection: o.connectionName } : {};
  logEvents(connection, o.logger.child({ redis: description, ...context }));
  return connection;
}

/** Settings every server connection gets, alone or as a cluster node. */
function nodeOptions(
  tls: RedisEndpoint['tls'],
  o: CompiledRedisConnectionOptions,
): Partial<RedisOptions> {
  return {
    ...(tls || o.tls ? { tls: { ...tls, ...o.tls } } : {}),
    ...(o.connectionName ? { connectionName: o.connectionName } : {}),
    maxRetriesPerRequest: o.maxRetriesPerRequest,
    connectTimeout: o.connectTimeoutMs,
    ...(o.commandTimeoutMs > 0 ? { commandTimeout: o.commandTimeoutMs } : {}),
  };
}

function backoff(o: CompiledRedisConnectionOptions, attempt: number): number {
  return Math.min(o.reconnectBaseDelayMs * 2 ** Math.min(attempt - 1, 30), o.reconnectMaxDelayMs);
}

/** Endpoint descriptions of the connections made here: a Cluster's options do not name its seeds. */
const descriptions = new WeakMap<RedisConnection, string>();

/** Where `connection` goes, for logs and messages: never credentials. */
export function describeRedisConnection(connection: RedisConnection): string {
  const known = descriptions.get(connection);
  if (known !== undefined) return known;
  if (connection instanceof Cluster) return 'a Redis Cluster';
  return describeRedisOptions(connection.options);
}

/** True when `connection` is a Redis Cluster. */
export function isRedisCluster(connection: RedisConnection): connection is Cluster {
  return connection instanceof Cluster;
}

/** Logs the life of a connection: one warning when it goes down, one info when it is back. */
function logEvents(connection: RedisConnection, logger: Logger): void {
  let wasReady = false;
  let downSinceMs: number | undefined;
  let failedAttempts = 0;
  // One warning when an outage starts, then at most one a minute while it lasts.
  const down = new ThrottledWarn(logger, { intervalMs: DOWN_WARN_INTERVAL_MS });

  connection.on('ready', () => {
    const outage =
      downSinceMs === undefined ? {} : { downMs: Date.now() - downSinceMs, failedAttempts };
    logger.info(wasReady ? 'reconnected to Redis' : 'connected to Redis', outage);
    wasReady = true;
    downSinceMs = undefined;
    failedAttempts = 0;
    down.reset();
  });
  connection.on('error', (error: Error) => {
    failedAttempts++;
    const now = Date.now();
    down.warn(downSinceMs === undefined ? 'Redis connection error' : 'Redis still unreachable', {
      error,
      failedAttempts,
      ...(downSinceMs === undefined ? {} : { downMs: now - downSinceMs }),
    });
    downSinceMs ??= now;
  });
  // 'reconnecting' rather than 'close': a quit() closes too, and is no reason to warn.
  connection.on('reconnecting', (delayMs: number) => {
    if (downSinceMs === undefined) {
      downSinceMs = Date.now();
      if (wasReady) logger.warn('Redis connection lost; reconnecting');
    }
    logger.debug('reconnecting to Redis', { delayMs });
  });
  connection.on('end', () => {
    logger.info('Redis connection closed');
  });
}

/**
 * Resolves once `connection` can take commands; starts a lazy connection. Rejects with
 * CacheError(Unavailable) after `timeoutMs` or if the connection ends for good, and at once when
 * Redis refuses the connection's user (isRedisAuthError): waiting cannot fix credentials.
 */
export function waitForRedis(connection: RedisConnection, timeoutMs = 10_000): Promise<void> {
  if (connection.status === 'ready') return Promise.resolve();
  const endpoint = describeRedisConnection(connection);
  if (connection.status === 'end') {
    return Promise.reject(
      new CacheError(ErrorCode.Unavailable, `the connection to Redis at ${endpoint} was closed`),
    );
  }
  return new Promise<void>((resolve, reject) => {
    let lastError: Error | undefined;
    const onError = (err: Error): void => {
      lastError = err;
      if (isRedisAuthError(err)) {
        done(
          new CacheError(
            ErrorCode.Unavailable,
            `Redis at ${endpoint} refused the connection's user (${err.message}); check the ` +
              'user and password in the Redis URL, and the ACL of that user on the server',
            { cause: err },
          ),
        );
      }
    };
    const done = (err?: CacheError): void => {
      clearTimeout(timer);
      connection.off('ready', onReady);
      connection.off('end', onEnd);
      connection.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onReady = (): void => done();
    const onEnd = (): void =>
      done(
        new CacheError(
          ErrorCode.Unavailable,
          `the connection to Redis at ${endpoint} was closed before it became ready`,
        ),
      );
    const timer = setTimeout(
      () =>
        done(
          new CacheError(
            ErrorCode.Unavailable,
            `Redis at ${endpoint} did not become ready within ${timeoutMs} ms` +
              (lastError ? ` (last error: ${lastError.message})` : '') +
              '; check that it is running and reachable from this node and that the URL has ' +
              'the right credentials (the connection keeps retrying)',
            { cause: lastError },
          ),
        ),
      timeoutMs,
    );
    connection.on('ready', onReady);
    connection.on('end', onEnd);
    connection.on('error', onError);
    if (connection.status === 'wait') connection.connect().catch(() => undefined);
  });
}
