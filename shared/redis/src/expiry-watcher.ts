/**
 * Expiry notifications for one node: Redis keyspace events (`expired`) of exactly this node's TTL
 * keys, turned into entry ids, on dedicated subscriber connections (one server, or every master
 * of a Redis Cluster, following topology changes). Notifications are fire-and-forget: none are
 * delivered while a subscriber is disconnected, and none at all when `notify-keyspace-events`
 * lacks K and x. So every (re)subscription after the first, and every topology change, asks the
 * agent to resync (reconcile), and the agent reconciles periodically anyway.
 * Owns: the subscriber connections, the notify-keyspace-events flags it needs (CONFIG SET, only
 * adding), and the mapping from channel to entry id.
 * Never: delete anything or decide an entry's fate (the handler does, through claimExpired),
 * subscribe to other nodes' keys, or send commands on the subscriber connections other than the
 * flag check and PSUBSCRIBE.
 */
import type { Cluster, Redis } from 'ioredis';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { silentLogger, type Logger } from '@checkpoint-cache/logger';
import type { KeyBuilder } from './key-builder';
import {
  addDefaults,
  connectCluster,
  connectServer,
  type CompiledRedisConnectionOptions,
  type RedisConnectionOptions,
} from './redis-connection';
import { ended, isReplyError, Subscription, type SubscriptionHooks } from './keyspace-subscription';
import { parseRedisUrl, type RedisEndpoint } from './redis-url';

export interface ExpiryHandlers {
  /**
   * A TTL key of this node expired; `id` is the entry id. May come late, twice, or never (see
   * resync), so the handler re-checks through MetadataStore.claimExpired before deleting.
   */
  expired(id: string): void;
  /**
   * Notifications may have been missed: `'reconnect'` after a subscriber connection came back
   * (killed connection, Redis restart) or subscribed only after start() had returned,
   * `'topology'` after the set of cluster masters changed. Compare the disk with Redis now.
   */
  resync(reason: string): void;
}

export interface RedisExpiryWatcherOptions {
  /**
   * Settings of the subscriber connections (TLS, timeouts, reconnect backoff); `logger` here is
   * ignored in favour of the constructor's. Default connection name: `ckc-expiry:<nodeId>`.
   */
  connection?: RedisConnectionOptions;
  /** How long start() waits for the first subscription before it resolves anyway. Default 10000. */
  startTimeoutMs?: number;
  /**
   * Redis Cluster: how often the slot map is fetched to notice masters that came or went (on
   * top of ioredis' own refreshes). Default 5000.
   */
  topologyRefreshMs?: number;
}

/**
 * Whether expiry notifications can arrive, worst case over all servers:
 * - 'on': the flags were found or set (CONFIG) and the subscription was accepted;
 * - 'unverified': CONFIG was refused (managed Redis, ACL), so the flags could be neither checked
 *   nor set; events arrive only if an operator set them. Reconcile covers either way;
 * - 'off': PSUBSCRIBE was refused (ACL without the __keyspace@ channels): nothing will arrive;
 * - 'unknown': no server checked yet.
 */
export type NotificationState = 'on' | 'unverified' | 'off' | 'unknown';

/** What the watcher is doing, for health details and logs. */
export interface ExpiryWatcherStatus {
  /** Servers to subscribe on: 1 for one server, the masters of a cluster. */
  servers: number;
  /** Of those, how many are subscribed right now. */
  subscribed: number;
  notifications: NotificationState;
}

const NOTIFICATION_RANK: Record<NotificationState, number> = {
  unknown: 0,
  on: 1,
  unverified: 2,
  off: 3,
};

/**
 * The value to CONFIG SET notify-keyspace-events to so that it also has K (keyspace channel)
 * and x (expired; 'A' includes it), keeping every flag in `current`; undefined when it already
 * has both.
 */
export function notifyFlagsToSet(current: string): string | undefined {
  let missing = '';
  if (!current.includes('K')) missing += 'K';
  if (!current.includes('x') && !current.includes('A')) missing += 'x';
  return missing === '' ? undefined : current + missing;
}

export class RedisExpiryWatcher {
  /** The PSUBSCRIBE pattern: `__keyspace@<db>__:<prefix>:{<node>}:ttl:*`. */
  readonly pattern: string;
  private readonly channelPrefix: string;
  private readonly endpoint: RedisEndpoint;
  private readonly connectionOptions: CompiledRedisConnectionOptions;
  private readonly logger: Logger;
  private readonly startTimeoutMs: number;
  private readonly topologyRefreshMs: number;
  /** By server address (`host:port` for cluster masters). */
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly hooks: SubscriptionHooks;
  private handlers: ExpiryHandlers | undefined;
  private cluster: Cluster | undefined;
  private state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  /** Subscriptions start() waits for, and how to let it go on. */
  private initial: { pending: Set<Subscription>; done: () => void } | undefined;
  /** Whether a cluster's first slot map has been seen: later changes mean resync. */
  private topologyKnown = false;
  private notifications: NotificationState = 'unknown';
  private refusalLogged = false;

  /**
   * `url` is the Redis URL the agent uses (see parseRedisUrl; with redis+cluster:// the watcher
   * subscribes on every master); `keys` names this node's keys, the only ones reported.
   */
  constructor(
    url: string,
    private readonly keys: KeyBuilder,
    logger: Logger = silentLogger,
    options: RedisExpiryWatcherOptions = {},
  ) {
    this.endpoint = parseRedisUrl(url);
    this.logger = logger.child({ component: 'expiry-watcher' });
    this.connectionOptions = addDefaults({
      connectionName: `ckc-expiry:${keys.nodeId}`,
      ...options.connection,
      logger: this.logger,
      lazyConnect: true,
      // The 'ready' handler sends everything; nothing is to wait for a connection.
      enableOfflineQueue: false,
    });
    this.startTimeoutMs = options.startTimeoutMs ?? 10_000;
    this.topologyRefreshMs = options.topologyRefreshMs ?? 5000;
    // Keyspace channels name the database; a cluster has only db 0.
    this.channelPrefix = `__keyspace@${this.endpoint.db ?? 0}__:`;
    this.pattern = `${this.channelPrefix}${keys.ttlPattern()}`;
    this.hooks = {
      pattern: this.pattern,
      ensureFlags: (connection, address) => this.ensureFlags(connection, address),
      refused: (address, err, what) => this.notificationsRefused(address, err, what),
      subscribed: (subscription, reason) => this.onSubscribed(subscription, reason),
      failed: (address, err) =>
        this.logger.debug('expiry subscription not set up; retrying on reconnect', {
          server: address,
          error: err,
        }),
      message: (pattern, channel, message) => this.onMessage(pattern, channel, message),
    };
  }

  /**
   * Connects, turns on the flags where allowed, and subscribes. Resolves once every server is
   * subscribed, or after `startTimeoutMs` if Redis is unreachable (the watcher keeps trying, and
   * calls `resync('reconnect')` once it does subscribe). Never rejects because Redis is down.
   */
  async start(handlers: ExpiryHandlers): Promise<void> {
    if (this.state !== 'new') {
      throw new CacheError(ErrorCode.Internal, 'an expiry watcher can be started only once');
    }
    this.state = 'starting';
    this.handlers = handlers;
    const subscribed = new Promise<void>((resolve) => {
      this.initial = { pending: new Set(), done: resolve };
    });
    if (this.endpoint.cluster) {
      this.startCluster();
    } else {
      this.addSubscription(this.endpoint.description, undefined);
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), this.startTimeoutMs);
    });
    const late = await Promise.race([subscribed.then(() => false), timedOut]);
    clearTimeout(timer);
    if (this.state !== 'starting') return; // stopped meanwhile
    this.state = 'running';
    if (late) {
      // Whatever subscribes from now on may have missed expiries until then.
      for (const s of this.initial?.pending ?? []) s.firstResync = 'reconnect';
      this.initial = undefined;
      this.logger.warn(
        'not subscribed to expiry notifications yet (Redis unreachable); still trying, and ' +
          'the agent reconciles once subscribed',
        { redis: this.endpoint.description, waitedMs: this.startTimeoutMs },
      );
    }
  }

  /** Closes every connection; no handler is called once it returns. Idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    const cluster = this.cluster;
    this.cluster = undefined;
    const closing: Promise<void>[] = [];
    if (cluster) {
      for (const event of TOPOLOGY_EVENTS) cluster.off(event, this.onTopologyEvent);
      cluster.disconnect();
      closing.push(ended(cluster, 1000));
    }
    for (const s of this.subscriptions.values()) closing.push(s.close());
    this.subscriptions.clear();
    const initial = this.initial;
    this.initial = undefined;
    initial?.done();
    await Promise.all(closing);
  }

  /** Servers, subscriptions and whether notifications are on: for health details and logs. */
  status(): ExpiryWatcherStatus {
    const all = [...this.subscriptions.values()];
    return {
      servers: all.length,
      subscribed: all.filter((s) => s.subscribed).length,
      notifications: this.notifications,
    };
  }

  private startCluster(): void {
    // The cluster connection only learns the topology; it sends no commands of ours.
    const cluster = connectCluster(this.endpoint, this.connectionOptions, {
      slotsRefreshInterval: this.topologyRefreshMs,
    });
    this.cluster = cluster;
    for (const event of TOPOLOGY_EVENTS) cluster.on(event, this.onTopologyEvent);
    cluster.connect().catch(() => undefined); // logged by the factory; it keeps retrying
  }

  private readonly onTopologyEvent = (): void => {
    this.syncTopology();
  };

  /**
   * Masters are the nodes the last slot map gives slots to. (ioredis' node list also loses a
   * node whenever its command connection drops, which is no reason to unsubscribe there.)
   */
  private syncTopology(): void {
    const cluster = this.cluster;
    if (!cluster || this.state === 'stopped' || cluster.status !== 'ready') return;
    const masters = new Set<string>();
    for (const owners of cluster.slots) if (owners?.[0]) masters.add(owners[0]);
    if (masters.size === 0) return;
    const first = !this.topologyKnown;
    this.topologyKnown = true;
    const added = [...masters].filter((m) => !this.subscriptions.has(m));
    const removed = [...this.subscriptions.keys()].filter((m) => !masters.has(m));
    for (const address of removed) {
      const subscription = this.subscriptions.get(address);
      this.subscriptions.delete(address);
      if (subscription) {
        this.initial?.pending.delete(subscription);
        void subscription.close();
      }
    }
    // A new master's keys may have expired before we subscribed there: resync once subscribed.
    const reason = !first ? 'topology' : this.state === 'starting' ? undefined : 'reconnect';
    for (const address of added) this.addSubscription(address, reason, parseNodeKey(address));
    if (!first && (added.length > 0 || removed.length > 0)) {
      this.logger.info('Redis Cluster masters changed; following', {
        added,
        removed,
        masters: masters.size,
      });
      // Keys of a removed master now live on another one, whose events we may have missed.
      if (removed.length > 0) this.emitResync('topology');
    }
    this.checkInitialDone();
  }

  private addSubscription(
    address: string,
    firstResync: string | undefined,
    node?: { host: string; port: number },
  ): void {
    const connection = connectServer(
      this.endpoint,
      this.connectionOptions,
      {
        // The watcher subscribes again itself after every reconnect, after checking the flags.
        autoResubscribe: false,
        // A command cut off by a disconnect fails at once instead of being resent after the
        // reconnect, where it would race the fresh set-up.
        maxRetriesPerRequest: 0,
      },
      node,
    );
    const subscription = new Subscription(address, connection, this.hooks, firstResync);
    this.subscriptions.set(address, subscription);
    if (this.state === 'starting' && firstResync === undefined) {
      this.initial?.pending.add(subscription);
    }
    connection.connect().catch(() => undefined); // logged by the factory; it keeps retrying
  }

  private onSubscribed(subscription: Subscription, resyncReason: string | undefined): void {
    if (this.state === 'stopped') return;
    if (!subscription.refused) {
      this.logger.debug('subscribed to expiry notifications', {
        server: subscription.address,
        pattern: this.pattern,
      });
    }
    if (resyncReason !== undefined) this.emitResync(resyncReason);
    if (this.initial?.pending.delete(subscription)) this.checkInitialDone();
  }

  private checkInitialDone(): void {
    const initial = this.initial;
    if (!initial || this.state !== 'starting') return;
    if (this.cluster && !this.topologyKnown) return;
    if (initial.pending.size > 0) return;
    this.initial = undefined;
    this.logger.info('subscribed to expiry notifications', {
      redis: this.endpoint.description,
      servers: this.subscriptions.size,
      notifications: this.notifications,
    });
    initial.done();
  }

  /**
   * Makes sure the server publishes keyspace events for expired keys, adding to whatever flags
   * are set. Checked after every (re)connect: a restarted Redis has lost an earlier CONFIG SET.
   * Rejects only when the connection fails; a refusal is logged (once) and accepted.
   */
  private async ensureFlags(connection: Redis, address: string): Promise<void> {
    try {
      const reply = await connection.call('CONFIG', 'GET', 'notify-keyspace-events');
      const current = Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : '';
      const wanted = notifyFlagsToSet(current);
      if (wanted !== undefined) {
        await connection.call('CONFIG', 'SET', 'notify-keyspace-events', wanted);
        this.logger.info('turned on Redis keyspace notifications for expired keys', {
          server: address,
          was: current,
          now: wanted,
        });
      }
    } catch (err) {
      if (!isReplyError(err)) throw err;
      this.notificationsRefused(address, err, 'CONFIG');
      return;
    }
    this.noteNotifications('on');
  }

  /** Keeps the worst state seen on any server. */
  private noteNotifications(state: NotificationState): void {
    if (NOTIFICATION_RANK[state] > NOTIFICATION_RANK[this.notifications]) {
      this.notifications = state;
    }
  }

  /** One warning per watcher, however many servers refuse and however often. */
  private notificationsRefused(address: string, err: Error, what: 'CONFIG' | 'PSUBSCRIBE'): void {
    this.noteNotifications(what === 'CONFIG' ? 'unverified' : 'off');
    if (this.refusalLogged) return;
    this.refusalLogged = true;
    const why =
      what === 'CONFIG'
        ? 'Redis refused CONFIG, so keyspace notifications for expired keys cannot be turned on ' +
          'and may be off'
        : 'Redis refused the subscription to keyspace notifications, so they are off';
    this.logger.warn(
      `${why}: expired entries are then deleted only by the periodic reconcile, whose interval ` +
        "bounds how long they stay. For prompt expiry set notify-keyspace-events to include 'K' " +
        "and 'x' (e.g. 'Kx') on every Redis server, and allow this user CONFIG and the " +
        '__keyspace@* channels',
      { server: address, error: err },
    );
  }

  private onMessage(pattern: string, channel: string, message: string): void {
    if (this.state === 'stopped' || message !== 'expired' || pattern !== this.pattern) return;
    if (!channel.startsWith(this.channelPrefix)) return;
    const id = this.keys.idOfTtlKey(channel.slice(this.channelPrefix.length));
    if (id === undefined) return;
    try {
      this.handlers?.expired(id);
    } catch (err) {
      this.logger.error('expiry handler failed', { id, error: err });
    }
  }

  private emitResync(reason: string): void {
    if (this.state === 'stopped') return;
    this.logger.info('expiry notifications may have been missed; asking for a resync', { reason });
    try {
      this.handlers?.resync(reason);
    } catch (err) {
      this.logger.error('resync handler failed', { reason, error: err });
    }
  }
}

/** Cluster events after which the masters may have changed. */
const TOPOLOGY_EVENTS = ['ready', 'refresh', '+node', '-node'] as const;

/** `host:port` as ioredis names cluster nodes (an IPv6 host keeps its colons). */
function parseNodeKey(key: string): { host: string; port: number } {
  const colon = key.lastIndexOf(':');
  return { host: key.slice(0, colon), port: Number(key.slice(colon + 1)) };
}
