/**
 * A MetadataStore in memory, for tests of the cache domain that need no Redis: it keeps records
 * and TTL keys in maps, lets a test expire a TTL key or take the store "down", and records the
 * calls it got. Integration tests keep using the real Redis store (RedisMetadataStore).
 * Never: timers (a TTL lapses only when the test says so, via lapse()).
 */
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type {
  EntryMetadata,
  EntryState,
  EntryTtlState,
  EntryTouch,
  MetadataStore,
} from '@checkpoint-cache/cache';

export class MemoryMetadataStore implements MetadataStore {
  readonly records = new Map<string, EntryMetadata & { expiring?: boolean }>();
  /** Ids whose TTL key exists. */
  readonly ttlKeys = new Set<string>();
  /** Every call, in order, as `<method> <id>`. */
  readonly calls: string[] = [];
  /** False: every command rejects with Unavailable, as an unreachable Redis does. */
  available = true;

  /** The entry's TTL key lapses (as if Redis expired it). */
  lapse(id: string): void {
    this.ttlKeys.delete(id);
  }

  register(entry: EntryMetadata): Promise<void> {
    return this.run(`register ${entry.id}`, () => {
      this.records.set(entry.id, { ...entry });
      this.ttlKeys.add(entry.id);
    });
  }

  /** Like register for each entry, recorded as one call; all or none. */
  registerAll(entries: readonly EntryMetadata[]): Promise<void> {
    return this.run(`register ${entries.map((e) => e.id).join(',')}`, () => {
      for (const entry of entries) {
        this.records.set(entry.id, { ...entry });
        this.ttlKeys.add(entry.id);
      }
    });
  }

  touch(touches: readonly EntryTouch[]): Promise<void> {
    return this.run(`touch ${touches.map((t) => t.id).join(',')}`, () => {
      for (const t of touches) {
        const record = this.records.get(t.id);
        if (!record || record.expiring) continue;
        record.lastAccessMs = t.atMs;
        this.ttlKeys.add(t.id);
      }
    });
  }

  remove(id: string): Promise<void> {
    return this.run(`remove ${id}`, () => {
      this.records.delete(id);
      this.ttlKeys.delete(id);
    });
  }

  states(ids: readonly string[]): Promise<EntryState[]> {
    return this.run('states', () =>
      ids.map((id) =>
        this.ttlKeys.has(id) ? 'alive' : this.records.has(id) ? 'expired' : 'unknown',
      ),
    );
  }

  /** No timers here: a live TTL key has no known end (Infinity). */
  ttlStates(ids: readonly string[]): Promise<EntryTtlState[]> {
    return this.run('ttlStates', () =>
      ids.map((id): EntryTtlState =>
        this.ttlKeys.has(id)
          ? { state: 'alive', ttlRemainingMs: Infinity }
          : { state: this.records.has(id) ? 'expired' : 'unknown' },
      ),
    );
  }

  claimExpired(id: string): Promise<boolean> {
    return this.run(`claimExpired ${id}`, () => {
      const record = this.records.get(id);
      if (!record || this.ttlKeys.has(id)) return false;
      record.expiring = true;
      return true;
    });
  }

  scanIds(_cursor: string, _count: number): Promise<{ ids: string[]; cursor: string }> {
    return this.run('scanIds', () => ({ ids: [...this.records.keys()], cursor: '0' }));
  }

  isAvailable(): boolean {
    return this.available;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private run<T>(call: string, fn: () => T): Promise<T> {
    this.calls.push(call);
    if (!this.available) {
      return Promise.reject(new CacheError(ErrorCode.Unavailable, 'memory store is down'));
    }
    return Promise.resolve(fn());
  }
}
