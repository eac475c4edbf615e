/**
 * Brings the node's disk and the metadata store back into agreement, for everything expiry
 * notifications cannot guarantee (they are fire-and-forget, off by default, lost while the agent
 * or its subscriber is disconnected):
 * - a local entry whose TTL key is gone is expired (NodeCache.expire: claim, then delete);
 * - a local entry the store does not know is registered again with a fresh TTL. Never removed:
 *   "unknown" is what a Redis that restarted without its data says about every healthy entry,
 *   and deleting those would throw away the cache exactly when it is needed;
 * - a record whose file is no longer on this node's disk is removed;
 * - every entry found alive is listed again in the location index (MetadataStore.advertise).
 * Work is done in batches with a yield between them, so a large cache does not stall reads.
 * While the store is unreachable a pass stops at its first failure and deletes nothing.
 * Owns: the schedule and the pass. Never: deciding what a single entry's fate is (NodeCache does).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { silentLogger, type Logger } from '@checkpoint-cache/logger';
import type { MetadataStore } from './metadata-store';
import type { NodeCache } from './node-cache';

/** Delay before a failed pass is tried again (capped by the interval). */
export const RETRY_AFTER_FAILURE_MS = 5_000;

export interface ReconcileResult {
  checked: number;
  expired: number;
  reregistered: number;
  forgotten: number;
  ms: number;
}

export interface ReconcilerOptions {
  cache: NodeCache;
  metadata: MetadataStore;
  /** Time between passes. */
  intervalMs: number;
  /** Entries checked per round trip. Default 500. */
  batchSize?: number;
  logger?: Logger;
  /** Called after every pass, successful or not. */
  onPass?: (result: ReconcileResult | undefined, error?: unknown) => void;
}

export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ReconcileResult | undefined> | undefined;
  private lastPassFailed = false;
  private again = false;
  private stopped = true;
  private readonly logger: Logger;
  private readonly batchSize: number;

  constructor(private readonly options: ReconcilerOptions) {
    this.logger = (options.logger ?? silentLogger).child({ component: 'reconcile' });
    this.batchSize = options.batchSize ?? 500;
  }

  /** Runs a first pass once the index is ready, then one every interval. */
  start(): void {
    this.stopped = false;
    this.options.cache
      .whenIndexReady()
      .then(() => this.trigger('start'))
      .catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /**
   * Asks for a pass now (after a reconnect, say). A pass already running is followed by one more,
   * so nothing that happened during it is missed; many triggers meanwhile make one pass.
   */
  trigger(reason: string): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.running = this.pass(reason);
    void this.running.finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.trigger('again');
      } else {
        // A pass that could not finish (Redis unreachable) is retried soon, not an interval later.
        const delay = this.lastPassFailed
          ? Math.min(this.options.intervalMs, RETRY_AFTER_FAILURE_MS)
          : this.options.intervalMs;
        this.timer = setTimeout(
          () => this.trigger(this.lastPassFailed ? 'retry' : 'interval'),
          delay,
        );
        this.timer.unref();
      }
    });
  }

  /** One full pass; resolves with what it did, or undefined when it had to stop early. */
  async runOnce(): Promise<ReconcileResult> {
    const { cache, metadata } = this.options;
    await cache.whenIndexReady();
    const started = Date.now();
    const result: ReconcileResult = {
      checked: 0,
      expired: 0,
      reregistered: 0,
      forgotten: 0,
      ms: 0,
    };
    const ids = cache.entryIds();
    for (let i = 0; i < ids.length && !this.stopped; i += this.batchSize) {
      const batch = ids.slice(i, i + this.batchSize);
      const states = await metadata.states(batch);
      await metadata.advertise?.(batch.filter((_, j) => states[j] === 'alive'));
      for (let j = 0; j < batch.length; j++) {
        const id = batch[j]!;
        if (states[j] === 'expired' && (await cache.expire(id)) === 'deleted') result.expired++;
        if (states[j] === 'unknown' && (await cache.reregister(id))) result.reregistered++;
      }
      result.checked += batch.length;
      await yieldToEventLoop();
    }
    let cursor = '0';
    do {
      if (this.stopped) break;
      const page = await metadata.scanIds(cursor, this.batchSize);
      cursor = page.cursor;
      const local = new Set(cache.entryIds());
      for (const id of page.ids) {
        if (!local.has(id) && (await cache.forgetIfAbsent(id))) result.forgotten++;
      }
      await yieldToEventLoop();
    } while (cursor !== '0');
    result.ms = Date.now() - started;
    return result;
  }

  private async pass(reason: string): Promise<ReconcileResult | undefined> {
    try {
      const result = await this.runOnce();
      const changed = result.expired + result.reregistered + result.forgotten > 0;
      (changed ? this.logger.info : this.logger.debug).call(this.logger, 'reconcile pass done', {
        reason,
        ...result,
      });
      this.lastPassFailed = false;
      this.options.onPass?.(result);
      return result;
    } catch (error) {
      this.logger.warn('reconcile pass stopped; nothing more is deleted until the next one', {
        reason,
        error,
      });
      this.lastPassFailed = true;
      this.options.onPass?.(undefined, error);
      return undefined;
    }
  }
}
