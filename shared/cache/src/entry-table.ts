/**
 * The index's storage: what the node knows of each entry, in columns (typed arrays indexed by a
 * slot number) instead of an object per entry, so that a node with a million small entries fits
 * the agent's memory limit (issue #16: ~620 B of heap per entry as objects, 300 B the target).
 * Owns: slots, the id -> slot hash table, the columns and the interned job ids. Never: files,
 * the load, locking, what an entry's fields mean to the cache (EntryIndex and NodeCache decide).
 *
 * What an entry costs here (4 KiB entries with ~50-byte keys):
 *   id                32 B  (the SHA-256 as bytes, not a 64-char string: ~80 B as a string)
 *   hash table      8-16 B  (Int32 cells, at least two per slot, a power of two)
 *   key           ~16 + n B  (a JS string; one pointer in the key column)
 *   numbers           88 B  (size, created, TTL, last access, touch queued, TTL known, one
 *                            checkpoint id, pack and offset in it: Float64; CRC32C, block size,
 *                            job, generation: Uint32)
 *   ~200 B for a 50-byte key, plus the columns' free slots (they grow by half: a third of the
 *   ~120 B of columns at worst, a sixth on average).
 * The id and number columns (120 B a slot) are views on one ArrayBuffer per capacity: a growth
 * allocates one block (and a new hash table, which is rebuilt, not copied), copies each column
 * once, and leaves one old block to free instead of fourteen of different sizes for the allocator
 * to keep as fragments (issue #16: RSS during the load and a reconcile pass).
 * Block CRC32Cs: an entry of one block needs none (its block CRC is the whole-entry CRC32C);
 * larger entries keep theirs in a map, 4 B per block plus ~100 B (bytes that are dwarfed by the
 * file's own 64 KiB per block). Checkpoint ids beyond the first, and job ids, are stored once.
 */

import type { PackPlace } from './pack-store';
import { SIDECAR_VERSION, type Sidecar } from './sidecar';

const ID_BYTES = 32;
/** Bytes of one slot in the columns' block: 9 Float64 and 4 Uint32 columns, then the id. */
const SLOT_BYTES = 9 * 8 + 4 * 4 + ID_BYTES;
const INITIAL_SLOTS = 1024;

/** An entry as the cache sees it; from the index, an EntryRef. */
export interface IndexedEntry {
  id: string;
  sidecar: Sidecar;
  lastAccessMs: number;
  /** When the last read or stat queued a TTL touch of this entry (see NodeCache.touchLater). */
  touchQueuedMs?: number;
  /** Until when Redis last said the TTL key lives (reconcile's PTTL), ms since the epoch. */
  ttlKnownUntilMs?: number;
  /** Where its bytes are when it shares a pack with others (pack-store.ts); else its own file. */
  readonly pack?: PackPlace | undefined;
}

/** The numbers an entry carries besides its key, job and checkpoints (a Sidecar has them). */
export interface EntryNumbers {
  size: number;
  crc32c: number;
  createdAtMs: number;
  ttlMs: number;
  blockSize: number;
}

export class EntryTable {
  private capacity = 0;
  /** Slots ever handed out; free ones below it are in `free`. */
  private highWater = 0;
  private readonly free: number[] = [];
  private live = 0;
  /** Open addressing with linear probing: slot + 1, 0 when empty. */
  private table = new Int32Array(0);
  private scratch = Buffer.alloc(ID_BYTES);

  private ids = Buffer.alloc(0);
  keys: (string | undefined)[] = [];
  size: Float64Array = new Float64Array(0);
  crc32c: Uint32Array = new Uint32Array(0);
  createdAtMs: Float64Array = new Float64Array(0);
  ttlMs: Float64Array = new Float64Array(0);
  blockSize: Uint32Array = new Uint32Array(0);
  lastAccessMs: Float64Array = new Float64Array(0);
  /** NaN: no touch queued yet. */
  touchQueuedMs: Float64Array = new Float64Array(0);
  /** 0: Redis has not said. */
  ttlKnownUntilMs: Float64Array = new Float64Array(0);
  /** The entry's checkpoint id when it has exactly one; NaN: see `checkpointLists` (or none). */
  private checkpoint: Float64Array = new Float64Array(0);
  private readonly checkpointLists = new Map<number, number[]>();
  private job: Uint32Array = new Uint32Array(0);
  private readonly jobs: string[] = [];
  private readonly jobNumbers = new Map<string, number>();
  /** The entry's pack number (pack-store.ts; ms-sized numbers), 0 when it has a file of its own. */
  pack: Float64Array = new Float64Array(0);
  /** Where a packed entry's bytes start in its pack. */
  packOffset: Float64Array = new Float64Array(0);
  /** Bumped whenever a slot is given to another entry: tells a stale reference from a live one. */
  generation: Uint32Array = new Uint32Array(0);
  /** Bumped by every change of a sidecar's fields after insertion (EntryRef caches on it). */
  revision = 0;
  /** Block CRC32Cs of entries of more than one block. */
  private readonly blockCrcLists = new Map<number, Uint32Array>();

  constructor() {
    this.grow(INITIAL_SLOTS);
  }

  get count(): number {
    return this.live;
  }

  /** The slot of entry `id` (64 hex), or -1. */
  slotOf(id: string): number {
    if (id.length !== ID_BYTES * 2) return -1;
    if (this.scratch.write(id, 'hex') !== ID_BYTES) return -1;
    const mask = this.table.length - 1;
    for (let at = this.hash(this.scratch, 0) & mask; ; at = (at + 1) & mask) {
      const held = this.table[at]!;
      if (held === 0) return -1;
      const slot = held - 1;
      if (
        this.ids.compare(this.scratch, 0, ID_BYTES, slot * ID_BYTES, (slot + 1) * ID_BYTES) === 0
      ) {
        return slot;
      }
    }
  }

  /** The shard of the entry in `slot`: the first byte of its id. */
  shardOf(slot: number): number {
    return this.ids[slot * ID_BYTES]!;
  }

  idOf(slot: number): string {
    return this.ids.toString('hex', slot * ID_BYTES, (slot + 1) * ID_BYTES);
  }

  isLive(slot: number): boolean {
    return slot < this.highWater && this.keys[slot] !== undefined;
  }

  /** Highest slot in use + 1: live slots are below it (see isLive). */
  get slotLimit(): number {
    return this.highWater;
  }

  /** A new slot for entry `id` (not in the table), its fields to be set by the caller. */
  insert(id: string, key: string): number {
    // The hash table has two cells per slot, so it is never more than half full.
    if (this.free.length === 0 && this.highWater === this.capacity) {
      // By half, not double: the columns are most of an entry's cost, and their slack with them.
      this.grow(Math.ceil(this.capacity * 1.5));
    }
    const slot = this.free.pop() ?? this.highWater++;
    this.ids.write(id, slot * ID_BYTES, ID_BYTES, 'hex');
    this.keys[slot] = key;
    this.generation[slot] = (this.generation[slot]! + 1) >>> 0;
    this.touchQueuedMs[slot] = NaN;
    this.ttlKnownUntilMs[slot] = 0;
    this.place(slot);
    this.live++;
    return slot;
  }

  /**
   * Makes room for `slots` entries at once (the load knows the snapshot's count): growing by half
   * from a small table copies every column and rebuilds the hash table each time.
   */
  reserve(slots: number): void {
    if (slots > this.capacity) this.grow(slots);
  }

  /** Frees `slot`; its generation changes when it is reused. */
  delete(slot: number): void {
    const mask = this.table.length - 1;
    let at = this.hash(this.ids, slot * ID_BYTES) & mask;
    while (this.table[at] !== slot + 1) at = (at + 1) & mask;
    // Backward-shift deletion: later members of the probe run move up, so no tombstones.
    let hole = at;
    for (let next = (hole + 1) & mask; this.table[next] !== 0; next = (next + 1) & mask) {
      const other = this.table[next]! - 1;
      const home = this.hash(this.ids, other * ID_BYTES) & mask;
      // `other` may fill the hole unless its home lies cyclically in (hole, next].
      const inBetween = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (!inBetween) {
        this.table[hole] = this.table[next]!;
        hole = next;
      }
    }
    this.table[hole] = 0;
    this.keys[slot] = undefined;
    this.checkpointLists.delete(slot);
    this.blockCrcLists.delete(slot);
    this.free.push(slot);
    this.live--;
  }

  setNumbers(slot: number, n: EntryNumbers, lastAccessMs: number): void {
    this.size[slot] = n.size;
    this.crc32c[slot] = n.crc32c;
    this.createdAtMs[slot] = n.createdAtMs;
    this.ttlMs[slot] = n.ttlMs;
    this.blockSize[slot] = n.blockSize;
    this.lastAccessMs[slot] = lastAccessMs;
  }

  /** Where the entry in `slot` is packed, or undefined (a file of its own). */
  packOf(slot: number): PackPlace | undefined {
    const pack = this.pack[slot]!;
    return pack === 0 ? undefined : { pack, offset: this.packOffset[slot]! };
  }

  setPack(slot: number, place: PackPlace | undefined): void {
    this.pack[slot] = place?.pack ?? 0;
    this.packOffset[slot] = place?.offset ?? 0;
  }

  jobOf(slot: number): string {
    return this.jobs[this.job[slot]!]!;
  }

  setJob(slot: number, jobId: string): void {
    let n = this.jobNumbers.get(jobId);
    if (n === undefined) {
      n = this.jobs.push(jobId) - 1;
      this.jobNumbers.set(jobId, n);
    }
    this.job[slot] = n;
  }

  checkpointsOf(slot: number): number[] {
    const one = this.checkpoint[slot]!;
    if (!Number.isNaN(one)) return [one];
    return [...(this.checkpointLists.get(slot) ?? [])];
  }

  setCheckpoints(slot: number, ids: readonly number[]): void {
    this.revision++;
    this.checkpointLists.delete(slot);
    if (ids.length === 1) {
      this.checkpoint[slot] = ids[0]!;
      return;
    }
    this.checkpoint[slot] = NaN;
    if (ids.length > 1) this.checkpointLists.set(slot, [...ids]);
  }

  /** The block CRC32Cs of `slot` (a new array: callers keep it no longer than a read). */
  blockCrcsOf(slot: number): Uint32Array {
    return this.blockCrcLists.get(slot) ?? Uint32Array.of(this.crc32c[slot]!);
  }

  /** Keeps `crcs` unless the entry is one block (whose CRC32C is the whole-entry one). */
  setBlockCrcs(slot: number, crcs: Uint32Array): void {
    if (crcs.length === 1 && crcs[0] === this.crc32c[slot]) this.blockCrcLists.delete(slot);
    else this.blockCrcLists.set(slot, Uint32Array.from(crcs));
  }

  private hash(bytes: Buffer, at: number): number {
    // The id is a SHA-256: any four of its bytes are uniform.
    return bytes.readUInt32LE(at + 4);
  }

  private place(slot: number): void {
    const mask = this.table.length - 1;
    let at = this.hash(this.ids, slot * ID_BYTES) & mask;
    while (this.table[at] !== 0) at = (at + 1) & mask;
    this.table[at] = slot + 1;
  }

  private grow(capacity: number): void {
    // Float64 columns first, then Uint32, then the ids' bytes: every view starts aligned.
    const block = new ArrayBuffer(capacity * SLOT_BYTES);
    let offset = 0;
    const f64 = (old: Float64Array): Float64Array => {
      const fresh = new Float64Array(block, offset, capacity);
      fresh.set(old);
      offset += capacity * Float64Array.BYTES_PER_ELEMENT;
      return fresh;
    };
    const u32 = (old: Uint32Array): Uint32Array => {
      const fresh = new Uint32Array(block, offset, capacity);
      fresh.set(old);
      offset += capacity * Uint32Array.BYTES_PER_ELEMENT;
      return fresh;
    };
    this.size = f64(this.size);
    this.createdAtMs = f64(this.createdAtMs);
    this.ttlMs = f64(this.ttlMs);
    this.lastAccessMs = f64(this.lastAccessMs);
    this.touchQueuedMs = f64(this.touchQueuedMs);
    this.ttlKnownUntilMs = f64(this.ttlKnownUntilMs);
    this.checkpoint = f64(this.checkpoint);
    this.pack = f64(this.pack);
    this.packOffset = f64(this.packOffset);
    this.crc32c = u32(this.crc32c);
    this.blockSize = u32(this.blockSize);
    this.job = u32(this.job);
    this.generation = u32(this.generation);
    const ids = Buffer.from(block, offset, capacity * ID_BYTES);
    this.ids.copy(ids);
    this.ids = ids;
    this.capacity = capacity;
    // A power of two (probes wrap with a mask), at least twice the slots: at most half full.
    let cells = 1;
    while (cells < capacity * 2) cells *= 2;
    this.table = new Int32Array(cells);
    for (let slot = 0; slot < this.highWater; slot++) if (this.isLive(slot)) this.place(slot);
  }
}

/**
 * One entry of the table, as the rest of the cache uses it. Reads go to the table while the slot
 * still holds this entry; the sidecar is built on first use and kept, so a ref read after its
 * entry was removed still describes it. Writes to a removed entry are dropped.
 */
export class EntryRef implements IndexedEntry {
  private built: Sidecar | undefined;
  private builtAt = -1;
  private lastSeenAccessMs: number;
  /** Never changes while the entry lives: read once, so a removed entry's ref still has it. */
  readonly pack: PackPlace | undefined;

  constructor(
    private readonly table: EntryTable,
    readonly id: string,
    readonly slot: number,
    readonly generation: number,
  ) {
    this.lastSeenAccessMs = table.lastAccessMs[slot]!;
    this.pack = table.packOf(slot);
  }

  /** The slot still holds this entry. */
  get current(): boolean {
    return this.table.isLive(this.slot) && this.table.generation[this.slot] === this.generation;
  }

  get sidecar(): Sidecar {
    const t = this.table;
    if (this.built && (!this.current || this.builtAt === t.revision)) return this.built;
    this.builtAt = t.revision;
    const slot = this.slot;
    this.built = {
      version: SIDECAR_VERSION,
      key: t.keys[slot]!,
      jobId: t.jobOf(slot),
      checkpointIds: t.checkpointsOf(slot),
      size: t.size[slot]!,
      crc32c: t.crc32c[slot]!,
      createdAtMs: t.createdAtMs[slot]!,
      ttlMs: t.ttlMs[slot]!,
      blockSize: t.blockSize[slot]!,
      blockCrcs: t.blockCrcsOf(slot),
    };
    return this.built;
  }

  /** A rewritten sidecar of the same entry: references and TTL change, never key or bytes. */
  set sidecar(s: Sidecar) {
    if (!this.current) return;
    this.table.setCheckpoints(this.slot, s.checkpointIds);
    this.table.setJob(this.slot, s.jobId);
    this.table.ttlMs[this.slot] = s.ttlMs;
    this.table.revision++;
  }

  get lastAccessMs(): number {
    if (this.current) this.lastSeenAccessMs = this.table.lastAccessMs[this.slot]!;
    return this.lastSeenAccessMs;
  }

  set lastAccessMs(ms: number) {
    this.lastSeenAccessMs = ms;
    if (this.current) this.table.lastAccessMs[this.slot] = ms;
  }

  get touchQueuedMs(): number | undefined {
    const ms = this.current ? this.table.touchQueuedMs[this.slot]! : NaN;
    return Number.isNaN(ms) ? undefined : ms;
  }

  set touchQueuedMs(ms: number | undefined) {
    if (this.current) this.table.touchQueuedMs[this.slot] = ms ?? NaN;
  }

  get ttlKnownUntilMs(): number | undefined {
    const ms = this.current ? this.table.ttlKnownUntilMs[this.slot]! : 0;
    return ms === 0 ? undefined : ms;
  }

  set ttlKnownUntilMs(ms: number | undefined) {
    if (this.current) this.table.ttlKnownUntilMs[this.slot] = ms ?? 0;
  }
}

/** Whether two entries are the same (not merely the same key: one may have been written again). */
export function sameEntry(a: IndexedEntry, b: IndexedEntry): boolean {
  if (a instanceof EntryRef && b instanceof EntryRef) {
    return a.slot === b.slot && a.generation === b.generation;
  }
  return a === b;
}
