/**
 * The contract between the node cache and wherever entry metadata and TTLs live (Redis, in
 * @checkpoint-cache/redis). The domain depends on this interface only, never on a Redis client.
 */

/** What the metadata store keeps about one entry of this node. */
export interface EntryMetadata {
  /** Opaque key as the client gave it (at most 1 KiB of UTF-8). */
  key: string;
  /** sha256(key) in lower-case hex: the entry's file name and the id in metadata keys. */
  id: string;
  jobId: string;
  /** Checkpoints that reference the entry, ascending, no duplicates. */
  checkpointIds: number[];
  size: number;
  crc32c: number;
  createdAtMs: number;
  lastAccessMs: number;
  /** TTL applied on every touch. */
  ttlMs: number;
}

export interface EntryTouch {
  id: string;
  ttlMs: number;
  /** Time of the access, ms since the epoch. */
  atMs: number;
}

/**
 * What the store says about an entry the node holds on disk:
 * - 'alive': its TTL key exists;
 * - 'expired': its record exists but the TTL key is gone (expired, notification missed or pending);
 * - 'unknown': no record at all (never registered, or Redis lost its data).
 */
export type EntryState = 'alive' | 'expired' | 'unknown';

/** An entry's state and, when 'alive', what its TTL key has left (Infinity: no expiry). */
export interface EntryTtlState {
  state: EntryState;
  ttlRemainingMs?: number;
}

export interface MetadataStore {
  /**
   * Records a newly published entry (or replaces the record of an entry that already exists,
   * e.g. after a new checkpoint reference) and (re)starts its TTL. Rejects with
   * CacheError(Unavailable) when the store cannot be reached.
   */
  register(entry: EntryMetadata): Promise<void>;
  /**
   * Records several newly published entries at once (a group commit of writes, issue #16), as
   * register does for each, in one round trip: all of them are registered, or on a rejection none
   * is (CacheError(Unavailable) when the store cannot be reached).
   */
  registerAll(entries: readonly EntryMetadata[]): Promise<void>;
  /**
   * Resets the TTL and last-access time of entries, in one pipelined round trip. Entries the
   * store does not know are skipped. Rejects when the store cannot be reached.
   */
  touch(touches: readonly EntryTouch[]): Promise<void>;
  /**
   * Forgets an entry: metadata, TTL key and accounting, and this node's place in the location
   * index (if the store keeps one). Missing entries are not an error.
   */
  remove(id: string): Promise<void>;
  /**
   * Lists this node again as holding entries found alive (a store with a location index of which
   * nodes hold which entry; reconcile calls it to repair an index that lost data). Optional.
   */
  advertise?(ids: readonly string[]): Promise<void>;
  /** States of entries, in the order of `ids`, in one pipelined round trip. */
  states(ids: readonly string[]): Promise<EntryState[]>;
  /**
   * States of entries with the time their TTL keys have left, in the order of `ids`: one command
   * per entry whose TTL key exists (what reconcile checks most), a second round trip only for
   * those whose TTL key is gone.
   */
  ttlStates(ids: readonly string[]): Promise<EntryTtlState[]>;
  /**
   * Atomically: when the entry's TTL key is gone and its record exists, marks the record as
   * expiring (later touches no longer revive it) and returns true; otherwise changes nothing and
   * returns false (a touch or re-registration won the race, or the store does not know the entry).
   * After true the caller deletes the local files and then calls remove(id); a crash in between
   * leaves a record in state 'expired', which reconcile finishes.
   */
  claimExpired(id: string): Promise<boolean>;
  /**
   * Ids of this node's records, a page at a time, like SCAN: start with cursor '0'; a returned
   * cursor of '0' means done. An id may appear more than once.
   */
  scanIds(cursor: string, count: number): Promise<{ ids: string[]; cursor: string }>;
  /**
   * Whether the store takes commands right now (no round trip). The cache evicts nothing while it
   * does not: an eviction whose write then fails to register would only have cost an entry.
   */
  isAvailable(): boolean;
  /** Releases connections. */
  close(): Promise<void>;
}
