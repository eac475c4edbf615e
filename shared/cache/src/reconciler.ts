/**
 * Brings the node's disk and the metadata store back into agreement, for everything expiry
 * notifications cannot guarantee (they are fire-and-forget, off by default, lost while the agent
 * or its subscriber is disconnected):
 * - a local entry whose TTL key is gone is expired (NodeCache.expire: claim, then delete);
 * - a local entry the store does not know is registered again with a fresh TTL. Never removed:
 *   "unknown" is what a Redis that restarted without its data says about every healthy entry,
 *   and deleting those would throw away the cache exactly when it is needed;
 * - a record whose file is no longer on this node's disk is removed.
 * Two kinds of pass, so that Redis's cost grows with what changed, not with what is held:
 * - a full pass (at start, after a Redis reconnect or a resubscription of the expiry watcher,
 *   after a failed pass): every entry, then every record of the node;
 * - an interval pass: only the entries whose TTL key may be gone by now (EntryTtlView: only this
 *   agent touches them, so a missed expiry is always of an entry that is due and is caught by the
 *   first interval pass after it), plus a slice of the rest so that every entry and every record
 *   is still checked once per sweep (default 6 h: an outsider deleting keys is caught then).
 * Every entry a pass finds alive is listed again in the location index (MetadataStore.advertise):
 * a full pass (after a Redis restart that lost data, say) repairs the whole index, an interval pass
 * the entries it checks.
 * A live entry costs one PTTL per check, and what Redis answers moves its due time.
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
/** Every entry and record is checked at least once per sweep by interval passes. */
export const DEFAULT_SWEEP_MS = 6 * 3600_000;

export interface ReconcileResult {
  /** A full pass, or an interval pass over due entries and a slice of the sweep. */
  full: boolean;
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
  /** Interval passes check every entry at least this often. Default DEFAULT_SWEEP_MS. */
  sweepMs?: number;
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
  /** Where the sweep of interval passes is; undefined: start a new sweep. */
  private sweep: IterableIterator<string> | undefined;
  /** Entries of the sweep owed to the next interval pass (a fraction for small caches). */
  private sliceCredit = 0;

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
    this.running = this.pass(reason, reason !== 'interval');
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

  /** One full pass: every entry, then every record of the node. */
  async runOnce(): Promise<ReconcileResult> {
    await this.options.cache.whenIndexReady();
    const started = Date.now();
    const result = emptyResult(true);
    // Ids are taken a batch at a time from a live cursor: no array of every id per pass.
    const cursor = this.options.cache.ttlView.idCursor();
    for (;;) {
      const batch = take(cursor, this.batchSize);
      if (batch.length === 0 || this.stopped) break;
      await this.check(batch, result);
    }
    await this.forgetRecordsWithoutFiles(result);
    this.sweep = undefined;
    result.ms = Date.now() - started;
    return result;
  }

  /**
   * One interval pass: the entries due for a TTL check and the next slice of the sweep; the
   * records too when the sweep comes round.
   */
  async runDue(): Promise<ReconcileResult> {
    const { cache } = this.options;
    await cache.whenIndexReady();
    const started = Date.now();
    const result = emptyResult(false);
    const view = cache.ttlView;
    const ids = new Set(view.ttlCheckDue(started));
    const sweepMs = this.options.sweepMs ?? DEFAULT_SWEEP_MS;
    // Fractions carry over, so that a small cache is not swept faster than the period.
    this.sliceCredit += (view.size * this.options.intervalMs) / sweepMs;
    const slice = Math.floor(this.sliceCredit);
    this.sliceCredit -= slice;
    this.sweep ??= view.idCursor();
    let sweptRound = false;
    for (let taken = 0; taken < slice; taken++) {
      const next = this.sweep.next();
      if (next.done) {
        sweptRound = true;
        break;
      }
      ids.add(next.value);
    }
    await this.check([...ids], result);
    if (sweptRound) {
      await this.forgetRecordsWithoutFiles(result);
      this.sweep = undefined;
    }
    result.ms = Date.now() - started;
    return result;
  }

  /** Entries: expired ones deleted, unknown ones registered, live ones' TTL noted. */
  private async check(ids: readonly string[], result: ReconcileResult): Promise<void> {
    const { cache, metadata } = this.options;
    const view = cache.ttlView;
    for (let i = 0; i < ids.length && !this.stopped; i += this.batchSize) {
      const batch = ids.slice(i, i + this.batchSize);
      const asked = Date.now();
      const states = await metadata.ttlStates(batch);
      await metadata.advertise?.(batch.filter((_, j) => states[j]?.state === 'alive'));
      for (let j = 0; j < batch.length; j++) {
        const id = batch[j]!;
        const { state, ttlRemainingMs } = states[j]!;
        if (state === 'alive') view.noteTtlUntil(id, asked + (ttlRemainingMs ?? 0));
        if (state === 'expired' && (await cache.expire(id)) === 'deleted') result.expired++;
        if (state === 'unknown' && (await cache.reregister(id))) result.reregistered++;
      }
      result.checked += batch.length;
      await yieldToEventLoop();
    }
  }

  /** Records of this node whose files are not in the index are removed. */
  private async forgetRecordsWithoutFiles(result: ReconcileResult): Promise<void> {
    const { cache, metadata } = this.options;
    let cursor = '0';
    do {
      if (this.stopped) break;
      const page = await metadata.scanIds(cursor, this.batchSize);
      cursor = page.cursor;
      for (const id of page.ids) {
        if (!cache.ttlView.has(id) && (await cache.forgetIfAbsent(id))) result.forgotten++;
      }
      await yieldToEventLoop();
    } while (cursor !== '0');
  }

  private async pass(reason: string, full: boolean): Promise<ReconcileResult | undefined> {
    try {
      const result = full ? await this.runOnce() : await this.runDue();
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

function take(ids: Iterator<string>, count: number): string[] {
  const out: string[] = [];
  for (let next = ids.next(); !next.done; next = ids.next()) {
    out.push(next.value);
    if (out.length === count) break;
  }
  return out;
}

function emptyResult(full: boolean): ReconcileResult {
  return { full, checked: 0, expired: 0, reregistered: 0, forgotten: 0, ms: 0 };
}
