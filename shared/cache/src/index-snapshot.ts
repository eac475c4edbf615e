/**
 * The index snapshot: `<root>/index.snapshot`, every indexed entry in a compact binary form, so
 * that a restart need not open every sidecar (one open, read, JSON parse and SHA-256 per entry,
 * ~35 µs each: 30,000 entries/s at best, issue #16), nor list every shard directory (each listed
 * name costs more than a snapshot record). Written at a clean shutdown and every `intervalMs`
 * while the index changes, so that a crash falls back to the slow path only for what changed
 * since the last one.
 * Owns: the file format, writing it (temp + fsync + rename) and reading it back in chunks.
 * Never: deciding that a record or a shard describes the disk (SnapshotSchedule decides which
 * shard directories a snapshot vouches for, entry-scan.ts checks records and stamps against the
 * disk at start-up), holding the whole file in memory.
 *
 * Format (little-endian): "CKCINDEX" | version u32 | takenAtMs f64 | records | shard stamps |
 * stamp count u32 | "END!" | count u32 | CRC32C u32 of everything before it. A record: id (32
 * bytes) | lastAccessMs f64 | size f64 | crc32c u32 | createdAtMs f64 | ttlMs f64 | blockSize u32
 * | checkpoint count u16, f64 each | key length u16, UTF-8 | job length u16, UTF-8 | block
 * CRC32Cs, u32 each (count from size and blockSize). Records are in shard order (the first byte
 * of the id), so the loader can hold one shard's directory listing at a time. A shard stamp (17
 * bytes): shard u8 | directory mtime ns i64 | ctime ns i64, for each shard directory the snapshot
 * vouches held exactly that shard's records (shard-stamps.ts). Version 1 had no stamps (and no
 * stamp count): it is still read, every directory then being listed.
 *
 * `takenAtMs` is the time the capture began, or earlier if a sidecar rewrite was under way then:
 * a sidecar renamed into place before it whose entry was updated in memory after it (the rename
 * and the update are one fsync apart) has a file time at or after it, and so is read again.
 */
import { promises as fs, closeSync, fstatSync, openSync, readSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { crc32c } from '@checkpoint-cache/checksum';
import type { ShardStamp } from './shard-stamps';
import { SIDECAR_VERSION, allocBlockCrcs, type Sidecar } from './sidecar';

export const SNAPSHOT_FILE = 'index.snapshot';
export const SNAPSHOT_VERSION = 2;
/** The version before shard stamps, still read. */
const SNAPSHOT_VERSION_NO_STAMPS = 1;
const MAGIC = Buffer.from('CKCINDEX', 'latin1');
const END = Buffer.from('END!', 'latin1');
const HEADER_BYTES = MAGIC.length + 4 + 8;
const TRAILER_BYTES = END.length + 4 + 4;
const STAMP_BYTES = 1 + 8 + 8;
/** Bytes gathered before each write, and read per read: bounds the memory either side takes. */
const CHUNK_BYTES = 1 << 20;

export interface SnapshotEntry {
  id: string;
  sidecar: Sidecar;
  lastAccessMs: number;
}

/** Why a snapshot file cannot be used: the slow path runs, with one warning. */
export class UnusableSnapshot extends Error {}

/** One shard's part of a snapshot being written, in shard order. */
export interface SnapshotShard {
  /** 2 hex digits. */
  shard: string;
  ids: readonly string[];
  /**
   * Asked once the shard's records are written: the stamp under which the snapshot vouches for
   * the whole directory, or undefined (the next start lists it).
   */
  vouch(): ShardStamp | undefined;
}

export interface SnapshotWritten {
  entries: number;
  /** Shard directories the snapshot vouches for. */
  vouched: number;
}

/**
 * Writes the entries of `shards` (looked up again as each is written, so entries removed meanwhile
 * are left out) and the stamps of the shards that vouch for their directories to
 * `<root>/index.snapshot`, atomically.
 */
export async function writeSnapshot(
  root: string,
  takenAtMs: number,
  shards: Iterable<SnapshotShard>,
  get: (id: string) => SnapshotEntry | undefined,
): Promise<SnapshotWritten> {
  const file = path.join(root, SNAPSHOT_FILE);
  const temp = path.join(root, 'tmp', `${randomBytes(8).toString('hex')}.snapshot`);
  const handle = await fs.open(temp, 'wx', 0o640);
  let count = 0;
  const stamps: { shard: number; stamp: ShardStamp }[] = [];
  try {
    let crc = 0;
    let chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    let used = 0;
    const flush = async (): Promise<void> => {
      const bytes = chunk.subarray(0, used);
      crc = crc32c(bytes, crc);
      await handle.write(bytes);
      used = 0;
    };
    const room = async (bytes: number): Promise<void> => {
      if (used + bytes <= chunk.length) return;
      await flush();
      if (bytes > chunk.length) chunk = Buffer.allocUnsafe(bytes);
    };
    MAGIC.copy(chunk, 0);
    chunk.writeUInt32LE(SNAPSHOT_VERSION, MAGIC.length);
    chunk.writeDoubleLE(takenAtMs, MAGIC.length + 4);
    used = HEADER_BYTES;
    for (const part of shards) {
      for (const id of part.ids) {
        const entry = get(id);
        if (!entry) continue;
        const s = entry.sidecar;
        const key = Buffer.from(s.key, 'utf8');
        const job = Buffer.from(s.jobId, 'utf8');
        const length =
          32 +
          8 +
          8 +
          4 +
          8 +
          8 +
          4 +
          2 +
          8 * s.checkpointIds.length +
          2 +
          key.length +
          2 +
          job.length;
        await room(length + 4 * s.blockCrcs.length);
        let at = used + chunk.write(id, used, 'hex');
        at = chunk.writeDoubleLE(entry.lastAccessMs, at);
        at = chunk.writeDoubleLE(s.size, at);
        at = chunk.writeUInt32LE(s.crc32c >>> 0, at);
        at = chunk.writeDoubleLE(s.createdAtMs, at);
        at = chunk.writeDoubleLE(s.ttlMs, at);
        at = chunk.writeUInt32LE(s.blockSize, at);
        at = chunk.writeUInt16LE(s.checkpointIds.length, at);
        for (const c of s.checkpointIds) at = chunk.writeDoubleLE(c, at);
        at = chunk.writeUInt16LE(key.length, at);
        at += key.copy(chunk, at);
        at = chunk.writeUInt16LE(job.length, at);
        at += job.copy(chunk, at);
        for (let i = 0; i < s.blockCrcs.length; i++) at = chunk.writeUInt32LE(s.blockCrcs[i]!, at);
        used = at;
        count++;
      }
      const stamp = part.vouch();
      if (stamp) stamps.push({ shard: parseInt(part.shard, 16), stamp });
    }
    for (const { shard, stamp } of stamps) {
      await room(STAMP_BYTES);
      chunk.writeUInt8(shard, used);
      chunk.writeBigInt64LE(stamp.mtimeNs, used + 1);
      chunk.writeBigInt64LE(stamp.ctimeNs, used + 9);
      used += STAMP_BYTES;
    }
    await room(4 + TRAILER_BYTES);
    chunk.writeUInt32LE(stamps.length, used);
    used += 4;
    END.copy(chunk, used);
    chunk.writeUInt32LE(count, used + END.length);
    used += END.length + 4;
    await flush();
    const tail = Buffer.alloc(4);
    tail.writeUInt32LE(crc >>> 0);
    await handle.write(tail);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  await fs.rename(temp, file);
  const dir = await fs.open(root, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return { entries: count, vouched: stamps.length };
}

/**
 * A snapshot file opened for reading, checked whole first (magic, version, trailer, CRC32C), then
 * read record by record in shard order. Synchronous reads: the loader runs in slices of its own.
 */
export class SnapshotReader {
  readonly takenAtMs: number;
  readonly count: number;
  private readonly fd: number;
  private end: number;
  private buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  /** File offset of buffer[0]. */
  private bufferAt = 0;
  private bufferLength = 0;
  private at = HEADER_BYTES;
  private peeked: SnapshotEntry | undefined;
  private lastJob = { bytes: Buffer.alloc(0), id: '' };
  /** Stamps of the shard directories the snapshot vouches for, by shard (2 hex). */
  private readonly stamps = new Map<string, ShardStamp>();

  /** Throws UnusableSnapshot when the file is not a whole snapshot of this version. */
  constructor(file: string) {
    this.fd = openSync(file, 'r');
    try {
      const size = fstatSync(this.fd).size;
      if (size < HEADER_BYTES + TRAILER_BYTES) throw new UnusableSnapshot('it is truncated');
      const header = this.readAt(0, HEADER_BYTES);
      if (!header.subarray(0, MAGIC.length).equals(MAGIC)) {
        throw new UnusableSnapshot('it is not an index snapshot');
      }
      const version = header.readUInt32LE(MAGIC.length);
      if (version !== SNAPSHOT_VERSION && version !== SNAPSHOT_VERSION_NO_STAMPS) {
        throw new UnusableSnapshot(`its version ${version} is not ${SNAPSHOT_VERSION}`);
      }
      this.takenAtMs = header.readDoubleLE(MAGIC.length + 4);
      // File times are compared with it: a clock set back since would make new files look old.
      if (!(this.takenAtMs <= Date.now())) {
        throw new UnusableSnapshot('it was taken later than now: the clock was set back');
      }
      const trailer = this.readAt(size - TRAILER_BYTES, TRAILER_BYTES);
      if (!trailer.subarray(0, END.length).equals(END))
        throw new UnusableSnapshot('it is truncated');
      this.count = trailer.readUInt32LE(END.length);
      let crc = 0;
      for (let offset = 0; offset < size - 4; offset += CHUNK_BYTES) {
        const want = Math.min(CHUNK_BYTES, size - 4 - offset);
        if (readSync(this.fd, this.buffer, 0, want, offset) !== want) {
          throw new UnusableSnapshot('it is truncated');
        }
        crc = crc32c(this.buffer.subarray(0, want), crc);
      }
      if (crc >>> 0 !== trailer.readUInt32LE(END.length + 4)) {
        throw new UnusableSnapshot('its CRC32C does not match: the file is damaged');
      }
      this.end = size - TRAILER_BYTES;
      if (version === SNAPSHOT_VERSION) this.readStamps();
      this.bufferLength = 0;
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  /** The next record if its id starts with `shard` (2 hex); records of earlier shards are skipped. */
  nextOfShard(shard: string): SnapshotEntry | undefined {
    for (;;) {
      this.peeked ??= this.read();
      if (!this.peeked) return undefined;
      const its = this.peeked.id.slice(0, 2);
      if (its > shard) return undefined;
      const entry = this.peeked;
      this.peeked = undefined;
      if (its === shard) return entry;
    }
  }

  /** The stamp under which the snapshot vouches for the directory of `shard` (2 hex), if any. */
  stampOf(shard: string): ShardStamp | undefined {
    return this.stamps.get(shard);
  }

  close(): void {
    closeSync(this.fd);
  }

  /** Reads the shard stamps in front of the trailer; the records end where they begin. */
  private readStamps(): void {
    if (this.end - 4 < HEADER_BYTES) throw new UnusableSnapshot('it is truncated');
    const n = this.readAt(this.end - 4, 4).readUInt32LE(0);
    const start = this.end - 4 - n * STAMP_BYTES;
    if (start < HEADER_BYTES) throw new UnusableSnapshot('its shard stamps run past its start');
    const table = this.readAt(start, n * STAMP_BYTES);
    for (let i = 0; i < n; i++) {
      const o = i * STAMP_BYTES;
      this.stamps.set(table.readUInt8(o).toString(16).padStart(2, '0'), {
        mtimeNs: table.readBigInt64LE(o + 1),
        ctimeNs: table.readBigInt64LE(o + 9),
      });
    }
    this.end = start;
  }

  private read(): SnapshotEntry | undefined {
    if (this.at >= this.end) return undefined;
    let b = this.need(32 + 8 + 8 + 4 + 8 + 8 + 4 + 2);
    let o = this.at - this.bufferAt;
    const id = b.toString('hex', o, o + 32);
    const lastAccessMs = b.readDoubleLE(o + 32);
    const size = b.readDoubleLE(o + 40);
    const crc = b.readUInt32LE(o + 48);
    const createdAtMs = b.readDoubleLE(o + 52);
    const ttlMs = b.readDoubleLE(o + 60);
    const blockSize = b.readUInt32LE(o + 68);
    const checkpoints = b.readUInt16LE(o + 72);
    this.at += 74;
    b = this.need(8 * checkpoints + 2);
    o = this.at - this.bufferAt;
    const checkpointIds: number[] = [];
    for (let i = 0; i < checkpoints; i++) checkpointIds.push(b.readDoubleLE(o + 8 * i));
    const keyLength = b.readUInt16LE(o + 8 * checkpoints);
    this.at += 8 * checkpoints + 2;
    b = this.need(keyLength + 2);
    o = this.at - this.bufferAt;
    const key = b.toString('utf8', o, o + keyLength);
    const jobLength = b.readUInt16LE(o + keyLength);
    this.at += keyLength + 2;
    if (blockSize === 0) throw new UnusableSnapshot(`a record of ${id} has block size 0`);
    const blocks = Math.ceil(size / blockSize);
    b = this.need(jobLength + 4 * blocks);
    o = this.at - this.bufferAt;
    const jobId = this.jobAt(b, o, jobLength);
    o += jobLength;
    const blockCrcs = allocBlockCrcs(blocks);
    for (let i = 0; i < blocks; i++) blockCrcs[i] = b.readUInt32LE(o + 4 * i);
    this.at += jobLength + 4 * blocks;
    const sidecar: Sidecar = {
      version: SIDECAR_VERSION,
      key,
      jobId,
      checkpointIds,
      size,
      crc32c: crc,
      createdAtMs,
      ttlMs,
      blockSize,
      blockCrcs,
    };
    return { id, sidecar, lastAccessMs };
  }

  /**
   * The job id of `length` bytes at `o`: the previous record's string when the bytes are the same
   * (a node's entries come from few jobs), so a load decodes and keeps one string per run of them.
   */
  private jobAt(b: Buffer, o: number, length: number): string {
    const last = this.lastJob;
    if (last.bytes.length === length && b.compare(last.bytes, 0, length, o, o + length) === 0) {
      return last.id;
    }
    const id = b.toString('utf8', o, o + length);
    this.lastJob = { bytes: Buffer.from(b.subarray(o, o + length)), id };
    return id;
  }

  /** The buffer, holding at least `bytes` from `this.at` on. */
  private need(bytes: number): Buffer {
    if (this.at + bytes > this.end) throw new UnusableSnapshot('a record runs past its end');
    if (this.at + bytes <= this.bufferAt + this.bufferLength) return this.buffer;
    if (bytes > this.buffer.length) this.buffer = Buffer.allocUnsafe(bytes);
    const want = Math.min(this.buffer.length, this.end - this.at);
    this.bufferLength = readSync(this.fd, this.buffer, 0, want, this.at);
    this.bufferAt = this.at;
    if (this.bufferLength < bytes) throw new UnusableSnapshot('it is truncated');
    return this.buffer;
  }

  private readAt(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    if (readSync(this.fd, out, 0, length, offset) !== length) {
      throw new UnusableSnapshot('it is truncated');
    }
    return out;
  }
}
