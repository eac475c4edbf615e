/**
 * One keyspace-notification subscriber connection to one Redis server, for RedisExpiryWatcher:
 * after every 'ready' (the first connect and every reconnect) it has the watcher check the
 * notify-keyspace-events flags, then PSUBSCRIBEs, and tells the watcher whether anything may have
 * been missed. Also the two small connection helpers the watcher shares with it.
 * Owns: its connection's listeners and its subscribed/refused state. Never: CONFIG itself (the
 * watcher's ensureFlags does), topology, or deciding to resync (it only reports the reason).
 */
import type { Cluster, Redis } from 'ioredis';

/** Resolves once `connection` has ended (after disconnect()), or after `timeoutMs`. */
export function ended(connection: Redis | Cluster, timeoutMs: number): Promise<void> {
  if (connection.status === 'end') return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      connection.off('end', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    connection.once('end', done);
  });
}

/** Error replies (ReplyError) mean the server refused; anything else is a connection problem. */
export function isReplyError(err: unknown): err is Error {
  return err instanceof Error && err.name === 'ReplyError';
}

/** What a Subscription needs from its watcher. */
export interface SubscriptionHooks {
  readonly pattern: string;
  /** Rejects only when the connection failed; a refusal resolves (and is logged). */
  ensureFlags(connection: Redis, address: string): Promise<void>;
  refused(address: string, err: Error, what: 'CONFIG' | 'PSUBSCRIBE'): void;
  subscribed(subscription: Subscription, resyncReason: string | undefined): void;
  failed(address: string, err: unknown): void;
  message(pattern: string, channel: string, message: string): void;
}

/**
 * One subscriber connection to one server. After every 'ready' (the first connect and every
 * reconnect): check the flags, then PSUBSCRIBE; ioredis' own resubscription is off, because in
 * subscriber mode CONFIG can no longer be sent.
 */
export class Subscription {
  /** Bumped on every 'ready', so a set-up overtaken by a newer reconnect gives up quietly. */
  private generation = 0;
  private subscribedOnce = false;
  private closed = false;
  subscribed = false;
  /** Set once PSUBSCRIBE was refused: nothing will come from this server. */
  refused = false;

  constructor(
    readonly address: string,
    readonly connection: Redis,
    private readonly hooks: SubscriptionHooks,
    /** Reason to resync after the first subscription; undefined: nothing was missed before it. */
    public firstResync: string | undefined,
  ) {
    connection.on('ready', this.onReady);
    connection.on('close', this.onClose);
    connection.on('pmessage', this.onMessage);
  }

  private readonly onReady = (): void => {
    const generation = ++this.generation;
    this.setUp(generation).catch((err: unknown) => {
      if (!this.closed) this.hooks.failed(this.address, err);
    });
  };

  private readonly onClose = (): void => {
    this.subscribed = false;
  };

  private readonly onMessage = (pattern: string, channel: string, message: string): void => {
    if (!this.closed) this.hooks.message(pattern, channel, message);
  };

  private async setUp(generation: number): Promise<void> {
    const current = (): boolean => !this.closed && generation === this.generation;
    await this.hooks.ensureFlags(this.connection, this.address);
    if (!current()) return;
    try {
      await this.connection.psubscribe(this.hooks.pattern);
    } catch (err) {
      if (!isReplyError(err)) throw err;
      // An ACL without access to __keyspace@ channels: as good as a refused CONFIG.
      if (!current()) return;
      this.refused = true;
      this.hooks.refused(this.address, err, 'PSUBSCRIBE');
      this.hooks.subscribed(this, undefined);
      return;
    }
    if (!current()) return;
    this.subscribed = true;
    this.refused = false;
    const reason = this.subscribedOnce ? 'reconnect' : this.firstResync;
    this.subscribedOnce = true;
    this.hooks.subscribed(this, reason);
  }

  /** Resolves once the connection is gone (at most a second later). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscribed = false;
    this.connection.off('ready', this.onReady);
    this.connection.off('close', this.onClose);
    this.connection.off('pmessage', this.onMessage);
    // No reply is worth waiting for on a subscriber connection.
    this.connection.disconnect();
    await ended(this.connection, 1000);
  }
}
