/**
 * Delete notices between nodes, on Redis (issue 13, "deletes that reach every copy").
 * Sending: for each other node the location index lists as holding the entry, the id goes into
 * that node's set of pending deletes `<prefix>:{<holder>}:deletes` (score: time of the delete) and
 * a wake-up is published on its channel `<prefix>:{<holder>}:deleted`, in one script in the
 * holder's slot (noticeDelete-1.lua); then the holder is taken out of the index (its pending
 * delete is now the record; a node gone for good leaves neither behind for long).
 * A delete by prefix (a directory) is told to every node in `<prefix>:nodes` (each agent adds
 * itself whenever it subscribes), recorded as the member `dir:<prefix>` in the same sets: an entry
 * id is 64 hex digits, so the two never collide, and one drain handles both. The prefix is a
 * value in a sorted set, never part of a Redis key.
 * Receiving: this node's pending deletes are drained when a wake-up arrives, after every
 * (re)subscription, and every `intervalMs` anyway, because pub/sub messages are fire-and-forget:
 * one published while this node was disconnected is never delivered, but its notice waits in the
 * set. A notice is dropped only after the handler applied it (dropDelete-1.lua).
 * Owns: the subscriber connection, the drain schedule. Never: decide whether a copy is deleted
 * (the handler, ClusterDelete.applyNotice, does), or send commands on the subscriber connection
 * other than SUBSCRIBE.
 */
import type { DeleteNotice, DeleteNotices } from '@checkpoint-cache/cache';
import { silentLogger, ThrottledWarn, type Logger } from '@checkpoint-cache/logger';
import type { KeyBuilder } from './key-builder';
import { describeRedisConnection, type RedisConnection } from './redis-connection';
import { toCacheError } from './redis-error';
import type { RedisMetadataStore } from './redis-metadata-store';
import { Scripts } from './scripts';

/**
 * How long a node's pending deletes are kept after the last notice if it never drains them (a node
 * removed from the cluster): longer than any entry's TTL is useful for, shorter than forever.
 */
export const NOTICE_KEEP_MS = 7 * 86_400_000;

/** Notices read per round trip while draining. */
const DRAIN_BATCH = 200;

/** Marks a pending delete of a directory; any other member is an entry id. */
const PREFIX_MEMBER = 'dir:';

/** Applies a notice: deleted on another node at `atMs`. Rejects to retry later. */
export type DeleteNoticeHandler = (notice: DeleteNotice, atMs: number) => Promise<unknown>;

/** What a member of a node's pending deletes stands for. */
export function noticeOfMember(member: string): DeleteNotice {
  return member.startsWith(PREFIX_MEMBER)
    ? { prefix: member.slice(PREFIX_MEMBER.length) }
    : { entryId: member };
}

export interface RedisDeleteNoticesOptions {
  /** This node's commands (the agent's main connection). */
  connection: RedisConnection;
  /** A connection of its own for SUBSCRIBE; closed by stop(). */
  subscriber: RedisConnection;
  /** This node's record store: reads the location index. */
  metadata: RedisMetadataStore;
  keys: KeyBuilder;
  /** Time between drains when no wake-up comes (the agent's reconcile interval). */
  intervalMs: number;
  logger?: Logger;
}

export class RedisDeleteNotices implements DeleteNotices {
  private readonly scripts: Scripts;
  private readonly logger: Logger;
  private readonly failures: ThrottledWarn;
  private readonly endpoint: string;
  private handler: DeleteNoticeHandler | undefined;
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly options: RedisDeleteNoticesOptions) {
    this.scripts = new Scripts(options.connection, options.keys);
    this.logger = (options.logger ?? silentLogger).child({ component: 'delete-notices' });
    this.failures = new ThrottledWarn(this.logger);
    this.endpoint = describeRedisConnection(options.connection);
  }

  async deleteElsewhere(id: string, atMs: number): Promise<string[]> {
    const { keys, metadata } = this.options;
    const others = (await metadata.holders(id)).filter((node) => node !== keys.nodeId);
    if (others.length === 0) return [];
    try {
      // Each notice is one script in its holder's slot; sent together, answered in any order.
      await Promise.all(
        others.map((node) =>
          this.scripts.noticeDelete(keys.forNode(node), id, atMs, NOTICE_KEEP_MS),
        ),
      );
      await metadata.forgetHolders(id, others);
    } catch (err) {
      throw toCacheError(err, 'send delete notices to other nodes', this.endpoint);
    }
    return others;
  }

  async deletePrefixElsewhere(prefix: string, atMs: number): Promise<string[]> {
    const { keys, connection } = this.options;
    try {
      const named = await connection.hvals(keys.nodes());
      const others = [...new Set(named)].filter((n) => n !== keys.nodeId);
      await Promise.all(
        others.map((node) =>
          this.scripts.noticeDelete(
            keys.forNode(node),
            PREFIX_MEMBER + prefix,
            atMs,
            NOTICE_KEEP_MS,
          ),
        ),
      );
      return others;
    } catch (err) {
      throw toCacheError(err, 'send a directory delete to the other nodes', this.endpoint);
    }
  }

  /** Subscribes to this node's wake-ups and drains pending notices into `handler`. */
  start(handler: DeleteNoticeHandler): void {
    this.handler = handler;
    const { subscriber, keys } = this.options;
    const channel = keys.deletedChannel();
    subscriber.on('message', (from: string) => {
      if (from === channel) this.drain('notice');
    });
    // ioredis resubscribes by itself after a reconnect; subscribing again is harmless, and the
    // drain after it picks up whatever was published while the connection was down.
    const subscribe = (): void => {
      subscriber.subscribe(channel).then(
        () => {
          this.join();
          this.drain('subscribed');
        },
        (error: unknown) => this.failures.warn('cannot subscribe to delete notices', { error }),
      );
    };
    subscriber.on('ready', subscribe);
    if (subscriber.status === 'ready') subscribe();
    this.schedule();
  }

  /**
   * Adds this node to the nodes a delete by prefix tells. Again after every resubscription: a
   * Redis that restarted without its data forgot it (a delete by prefix in between misses this
   * node, whose copies then stay until their TTL).
   */
  private join(): void {
    const { connection, keys } = this.options;
    // The location index names this node the same way (LocationIndex, which also refuses a
    // number another node id already has); HSETNX leaves such a pair as it is.
    connection.hsetnx(keys.nodes(), String(keys.nodeNumber), keys.nodeId).then(
      () => undefined,
      (error: unknown) =>
        this.failures.warn('node not listed for directory deletes; retried on resubscription', {
          error,
        }),
    );
  }

  /** Asks for a drain now; one already running is followed by one more. Never rejects. */
  drain(reason: string): void {
    if (this.stopped || !this.handler) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = this.drainAll(this.handler)
      .catch((error: unknown) => {
        this.failures.warn('delete notices not applied; retried at the next drain', {
          reason,
          error,
        });
      })
      .finally(() => {
        this.draining = undefined;
        if (this.again) {
          this.again = false;
          this.drain('again');
        }
      });
  }

  /** Waits for a drain in progress (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.draining) await this.draining;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.settled();
    const { subscriber } = this.options;
    subscriber.removeAllListeners('message');
    subscriber.disconnect();
  }

  private schedule(): void {
    this.timer = setInterval(() => this.drain('interval'), this.options.intervalMs);
    this.timer.unref();
  }

  private async drainAll(handler: DeleteNoticeHandler): Promise<void> {
    const { connection, keys } = this.options;
    let applied = 0;
    for (;;) {
      let flat: string[];
      try {
        flat = await connection.zrange(keys.deletes(), 0, DRAIN_BATCH - 1, 'WITHSCORES');
      } catch (err) {
        throw toCacheError(err, 'read pending delete notices', this.endpoint);
      }
      if (flat.length === 0) break;
      let dropped = 0;
      for (let i = 0; i + 1 < flat.length && !this.stopped; i += 2) {
        const id = flat[i]!;
        const score = flat[i + 1]!;
        await handler(noticeOfMember(id), Number(score));
        try {
          if (await this.scripts.dropDelete(id, score)) dropped++;
        } catch (err) {
          throw toCacheError(err, 'drop a handled delete notice', this.endpoint);
        }
        applied++;
      }
      // Nothing could be dropped (every notice was replaced meanwhile): the next drain goes on.
      if (this.stopped || dropped === 0 || flat.length < 2 * DRAIN_BATCH) break;
    }
    if (applied > 0) this.logger.debug('delete notices applied', { notices: applied });
    this.failures.reset();
  }
}
