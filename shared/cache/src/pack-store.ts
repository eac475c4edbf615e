/**
 * Small entries packed several to a file (issue #16). A group commit writes the bytes and sidecars
 * of all its small entries into one new file, so that a 4 KiB entry costs a share of one file
 * created, written and fsynced instead of two files of its own: the kernel's cost per file created
 * is what kept the two-file layout at ~1,200-5,000 entries/s on this machine, in C
 * (docs/benchmarks.md, "Small writes against the machine's own limit").
 *   <root>/packs/<n>      a pack (n a decimal number, new ones higher): written whole in tmp/,
 *                         fsynced, renamed here and the directory fsynced before any of its entries
 *                         is registered or answered, so a crash leaves all of them or none
 *   <root>/packs/<n>.log  what happened to its entries since: removals and rewritten sidecars
 * Owns: both formats, each pack's count of live entries, removing a pack once none lives.
 * Never: which entries to keep (NodeCache), the index (the scan's caller takes what it finds).
 *
 * Pack: "CKCPACK1" | header length u32 | header CRC32C u32 | header | the entries' bytes. The
 * header is JSON, {"entries": [...]}, each entry its sidecar as its own file would hold it
 * (sidecar.ts) plus "at", where its bytes start counted from the end of the header. Log: records
 * of length u32 | CRC32C u32 of the body | body, JSON: {"dead": id} or {"sidecar": ...} (the
 * entry's sidecar rewritten: a reference or the TTL changed). A record cut short by a crash ends
 * the log, and the scan cuts it off there so that later records are not written behind it.
 * Little-endian.
 *
 * A removal is appended without an fsync, as an unlinked file is not fsynced either
 * (DiskStore.remove): a kill -9 keeps it (the page cache has it); a power cut may bring the entry
 * back, as it may bring back a removed file. A rewritten sidecar is fsynced before the caller is
 * answered, as DiskStore.rewriteSidecar's file is. An entry's bytes stay on disk until every entry
 * of its pack is gone: a pack holds one group commit's small entries (at most 256; most often of
 * one checkpoint, released together), and the capacity limits count its whole file until then
 * (NodeCache.heldUsage).
 */
import {
  closeSync,
  existsSync,
  ftruncateSync,
  fstatSync,
  fsync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  truncateSync,
  writeSync,
  writev,
} from 'node:fs';
import * as path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { promisify } from 'node:util';
import { crc32c } from '@checkpoint-cache/checksum';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { entryIdOf } from './entry-key';
import { fsyncDir, fsyncDirSync } from './fsync-dir';
import { sidecarFromJson, sidecarJson, sidecarProblem, type Sidecar } from './sidecar';

const MAGIC = Buffer.from('CKCPACK1', 'latin1');
const PREFIX_BYTES = MAGIC.length + 8;
const LOG_SUFFIX = '.log';
const PACK_NAME = /^[1-9][0-9]{0,14}$/;
/** Largest header the scan reads: bounds what a damaged length can make it allocate. */
const MAX_HEADER_BYTES = 64 << 20;
/** Buffers per writev; Linux takes at most IOV_MAX (1024). */
const MAX_IOVECS = 1024;
/** Longest stretch the scan keeps the event loop (as entry-scan.ts). */
const SCAN_SLICE_MS = 10;

const fsyncFd = promisify(fsync);
const writevFd = promisify(writev);

/** Where a packed entry's bytes are: its pack's number and the file offset they start at. */
export interface PackPlace {
  pack: number;
  offset: number;
}

/** An entry going into a pack: its sidecar and all its bytes (sidecar.size of them). */
export interface PackMember {
  sidecar: Sidecar;
  data: readonly Buffer[];
}

/** A live entry the scan found. */
export interface PackedEntry {
  id: string;
  sidecar: Sidecar;
  place: PackPlace;
}

/** A pack the scan could not use, or a log record it skipped or cut off. */
export interface PackProblem {
  file: string;
  error: unknown;
  /** The pack was removed (damaged); false: left on disk, not served. */
  removed: boolean;
}

/** A pack of the agent's whose content is damaged (the scan removes it). */
class DamagedPack extends CacheError {
  constructor(file: string, why: string) {
    super(ErrorCode.DataLoss, `pack ${file} is unusable: ${why}`);
  }
}

interface PackHeaderEntry {
  at: number;
  [field: string]: unknown;
}

export class PackStore {
  readonly dir: string;
  private next = 1;
  /** Live entries per pack and their bytes; a pack not here has none (or was never seen). */
  private readonly live = new Map<number, PackCount>();
  /** Bytes of every pack file held, and of the live entries in them (PackUsage). */
  private fileBytes = 0;
  private liveBytes = 0;

  constructor(
    private readonly root: string,
    private readonly tmpDir: string,
  ) {
    this.dir = path.join(root, 'packs');
  }

  /**
   * Creates packs/ (durably) and takes the next pack number: above every one there, and at least
   * the time in ms, so that a number is not given again after a restart to a new pack while a
   * client may still hold a lease that names an old one gone since.
   */
  init(): void {
    mkdirSync(this.dir, { recursive: true });
    fsyncDirSync(this.root);
    this.next = Date.now();
    for (const name of readdirSync(this.dir)) {
      const n = packNumber(name.endsWith(LOG_SUFFIX) ? name.slice(0, -LOG_SUFFIX.length) : name);
      if (n !== undefined && n >= this.next) this.next = n + 1;
    }
  }

  path(pack: number): string {
    return path.join(this.dir, String(pack));
  }

  relativePath(pack: number): string {
    return path.relative(this.root, this.path(pack));
  }

  private logPath(pack: number): string {
    return this.path(pack) + LOG_SUFFIX;
  }

  /** Packs with a live entry (for tests and metrics). */
  get packCount(): number {
    return this.live.size;
  }

  /** What the packs hold on disk, and how much is live entries (the rest awaits its pack's end). */
  usage(): PackUsage {
    return { packs: this.live.size, fileBytes: this.fileBytes, liveBytes: this.liveBytes };
  }

  /** Bytes of pack `pack`'s file, while it has a live entry. */
  fileBytesOf(pack: number): number | undefined {
    return this.live.get(pack)?.fileBytes;
  }

  private hold(pack: number, count: PackCount): void {
    this.live.set(pack, count);
    this.fileBytes += count.fileBytes;
    this.liveBytes += count.liveBytes;
  }

  /**
   * Writes `members` into a new pack and makes it durable (see the header); returns where each
   * member's bytes are. On failure nothing of the pack is left.
   */
  async write(members: readonly PackMember[]): Promise<PackPlace[]> {
    const pack = this.next++;
    const entries: PackHeaderEntry[] = [];
    const buffers: Buffer[] = [];
    let at = 0;
    for (const { sidecar, data } of members) {
      entries.push({ ...sidecarJson(sidecar), at });
      let bytes = 0;
      for (const b of data) {
        buffers.push(b);
        bytes += b.length;
      }
      if (bytes !== sidecar.size) {
        throw new Error(
          `pack member ${sidecar.key} has ${bytes} bytes, its sidecar says ${sidecar.size}`,
        );
      }
      at += bytes;
    }
    const header = Buffer.from(JSON.stringify({ entries }));
    const prefix = Buffer.alloc(PREFIX_BYTES);
    MAGIC.copy(prefix);
    prefix.writeUInt32LE(header.length, MAGIC.length);
    prefix.writeUInt32LE(crc32c(header), MAGIC.length + 4);
    const temp = path.join(this.tmpDir, `pack-${process.pid}-${pack}`);
    const target = this.path(pack);
    const fd = openSync(temp, 'wx', 0o640);
    try {
      await writeAll(fd, [prefix, header, ...buffers]);
      await fsyncFd(fd);
    } catch (err) {
      closeSync(fd);
      rmSync(temp, { force: true });
      throw err;
    }
    closeSync(fd);
    try {
      renameSync(temp, target);
    } catch (err) {
      rmSync(temp, { force: true });
      throw err;
    }
    try {
      await fsyncDir(this.dir);
    } catch (err) {
      // Not known to be durable: not published, and not left for a crash to keep.
      rmSync(target, { force: true });
      throw err;
    }
    const start = PREFIX_BYTES + header.length;
    this.hold(pack, { entries: members.length, liveBytes: at, fileBytes: start + at });
    return entries.map((e) => ({ pack, offset: start + e.at }));
  }

  /**
   * Counts entry `id` (of `size` bytes) out of its pack (logged), removing the pack with its last
   * entry.
   */
  remove(place: PackPlace, id: string, size: number): void {
    const count = this.live.get(place.pack);
    // A pack this process does not count (none should exist) is never removed on a guess: the
    // entry is only logged dead, and the next scan decides.
    if (!count || count.entries > 1) {
      const fd = openSync(this.logPath(place.pack), 'a', 0o640);
      try {
        writeRecord(fd, { dead: id });
      } finally {
        closeSync(fd);
      }
      if (count) {
        count.entries--;
        count.liveBytes -= size;
        this.liveBytes -= size;
      }
      return;
    }
    this.live.delete(place.pack);
    this.fileBytes -= count.fileBytes;
    this.liveBytes -= count.liveBytes;
    // The pack first: a log without its pack is removed by the next scan.
    rmSync(this.path(place.pack), { force: true });
    rmSync(this.logPath(place.pack), { force: true });
  }

  /** Records a packed entry's rewritten sidecar (references, TTL), durably. */
  async rewrite(place: PackPlace, sidecar: Sidecar): Promise<void> {
    const file = this.logPath(place.pack);
    const created = !existsSync(file);
    const fd = openSync(file, 'a', 0o640);
    try {
      writeRecord(fd, { sidecar: sidecarJson(sidecar) });
      await fsyncFd(fd);
    } finally {
      closeSync(fd);
    }
    // A log the record created is durable only once its name is.
    if (created) await fsyncDir(this.dir);
  }

  /**
   * Finds the live entries of every pack and hands each to `onEntry`, which says whether it took
   * it; one it does not take (the same id already found elsewhere) is logged dead so it never comes
   * back. Packs none of whose entries lives are removed; so are packs that cannot be read (their
   * entries are lost to this cache, which reads them from the remote store again), reported.
   */
  async scan(onEntry: (entry: PackedEntry) => boolean): Promise<PackProblem[]> {
    const problems: PackProblem[] = [];
    const names = new Set(readdirSync(this.dir));
    const packs: number[] = [];
    for (const name of names) {
      const n = packNumber(name);
      if (n !== undefined) {
        packs.push(n);
        continue;
      }
      // The log of a pack removed (pack first, then log) by a process that stopped in between.
      // Any other name is not the agent's: left alone.
      const stem = name.endsWith(LOG_SUFFIX) ? name.slice(0, -LOG_SUFFIX.length) : undefined;
      if (stem && packNumber(stem) !== undefined && !names.has(stem)) {
        rmSync(path.join(this.dir, name), { force: true });
      }
    }
    packs.sort((a, b) => a - b);
    let sliceStart = performance.now();
    for (const pack of packs) {
      if (performance.now() - sliceStart > SCAN_SLICE_MS) {
        await yieldToEventLoop();
        sliceStart = performance.now();
      }
      let found: PackedEntry[];
      let fileBytes: number;
      let log: PackLog;
      try {
        ({ entries: found, fileBytes } = this.readPack(pack));
        log = this.readLog(pack, problems);
      } catch (error) {
        if (error instanceof DamagedPack) {
          // The agent's own file, damaged: its entries are read from the remote store again.
          problems.push({ file: this.path(pack), error, removed: true });
          rmSync(this.path(pack), { force: true });
          rmSync(this.logPath(pack), { force: true });
        } else {
          // Not a pack at all, or it could not be read now (EIO, EMFILE): left as it is, its
          // entries not served, tried again at the next start.
          problems.push({ file: this.path(pack), error, removed: false });
        }
        continue;
      }
      let live = 0;
      let liveBytes = 0;
      const duplicates: string[] = [];
      for (const entry of found) {
        if (log.dead.has(entry.id)) continue;
        const rewritten = log.sidecars.get(entry.id);
        const sidecar = rewritten
          ? { ...entry.sidecar, checkpointIds: rewritten.checkpointIds, ttlMs: rewritten.ttlMs }
          : entry.sidecar;
        if (onEntry({ ...entry, sidecar })) {
          live++;
          liveBytes += sidecar.size;
        } else {
          duplicates.push(entry.id);
        }
      }
      if (live === 0) {
        rmSync(this.path(pack), { force: true });
        rmSync(this.logPath(pack), { force: true });
        continue;
      }
      this.hold(pack, { entries: live, liveBytes, fileBytes });
      if (duplicates.length > 0) {
        const fd = openSync(this.logPath(pack), 'a', 0o640);
        try {
          for (const id of duplicates) writeRecord(fd, { dead: id });
        } finally {
          closeSync(fd);
        }
      }
    }
    return problems;
  }

  /** Every entry of pack `pack` as its header describes it; throws when the pack is unusable. */
  private readPack(pack: number): { entries: PackedEntry[]; fileBytes: number } {
    const file = this.path(pack);
    const fd = openSync(file, 'r');
    try {
      const fileSize = fstatSync(fd).size;
      const prefix = Buffer.alloc(PREFIX_BYTES);
      if (
        readSync(fd, prefix, 0, PREFIX_BYTES, 0) !== PREFIX_BYTES ||
        !prefix.subarray(0, 8).equals(MAGIC)
      ) {
        throw new Error(`${file} does not start as a pack does; left alone`);
      }
      const length = prefix.readUInt32LE(MAGIC.length);
      if (length > MAX_HEADER_BYTES || PREFIX_BYTES + length > fileSize) {
        throw new DamagedPack(file, `its header length ${length} does not fit the file`);
      }
      const header = Buffer.alloc(length);
      if (readSync(fd, header, 0, length, PREFIX_BYTES) !== length) {
        throw new DamagedPack(file, 'its header is cut short');
      }
      if (crc32c(header) !== prefix.readUInt32LE(MAGIC.length + 4)) {
        throw new DamagedPack(file, 'its header fails its CRC32C');
      }
      let parsed: { entries?: unknown };
      try {
        parsed = JSON.parse(header.toString('utf8')) as { entries?: unknown };
      } catch {
        throw new DamagedPack(file, 'its header is not JSON');
      }
      if (!Array.isArray(parsed.entries))
        throw new DamagedPack(file, 'its header lists no entries');
      const start = PREFIX_BYTES + length;
      const entries = parsed.entries.map((raw: unknown, i): PackedEntry => {
        let sidecar: Sidecar;
        try {
          sidecar = sidecarFromJson(raw, `${file} entry ${i}`);
        } catch (err) {
          throw new DamagedPack(file, (err as Error).message);
        }
        const at = (raw as PackHeaderEntry).at;
        if (!Number.isSafeInteger(at) || at < 0 || start + at + sidecar.size > fileSize) {
          throw new DamagedPack(file, `entry ${i}'s bytes are not inside the file`);
        }
        const id = entryIdOf(sidecar.key);
        const problem = sidecarProblem(id, sidecar);
        if (problem) throw new DamagedPack(file, `entry ${i}: ${problem}`);
        return { id, sidecar, place: { pack, offset: start + at } };
      });
      return { entries, fileBytes: fileSize };
    } finally {
      closeSync(fd);
    }
  }

  /** What pack `pack`'s log says; a torn or unreadable tail is cut off (and reported). */
  private readLog(pack: number, problems: PackProblem[]): PackLog {
    const file = this.logPath(pack);
    const log: PackLog = { dead: new Set(), sidecars: new Map() };
    let raw: Buffer;
    try {
      raw = readFileSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return log;
      throw err;
    }
    let pos = 0;
    while (pos < raw.length) {
      const body = recordAt(raw, pos);
      if (!body) break;
      try {
        const record = JSON.parse(body.toString('utf8')) as { dead?: unknown; sidecar?: unknown };
        if (typeof record.dead === 'string') log.dead.add(record.dead);
        else if (record.sidecar !== undefined) {
          const sidecar = sidecarFromJson(record.sidecar, file);
          log.sidecars.set(entryIdOf(sidecar.key), sidecar);
        }
      } catch (error) {
        // Its CRC32C held: a writer's bug. The record is skipped, the rest still read.
        problems.push({ file, error, removed: false });
      }
      pos += 8 + body.length;
    }
    if (pos < raw.length) {
      const error = new Error(`a record cut short at byte ${pos} was cut off`);
      problems.push({ file, error, removed: false });
      truncateSync(file, pos);
    }
    return log;
  }
}

interface PackCount {
  entries: number;
  liveBytes: number;
  fileBytes: number;
}

/** Packs held, the bytes of their files, and of the live entries in them. */
export interface PackUsage {
  packs: number;
  fileBytes: number;
  liveBytes: number;
}

interface PackLog {
  dead: Set<string>;
  sidecars: Map<string, Sidecar>;
}

function packNumber(name: string): number | undefined {
  return PACK_NAME.test(name) ? Number(name) : undefined;
}

/** The body of the log record at `pos`, or undefined when it is cut short or fails its CRC32C. */
function recordAt(raw: Buffer, pos: number): Buffer | undefined {
  if (pos + 8 > raw.length) return undefined;
  const length = raw.readUInt32LE(pos);
  if (pos + 8 + length > raw.length) return undefined;
  const body = raw.subarray(pos + 8, pos + 8 + length);
  return crc32c(body) === raw.readUInt32LE(pos + 4) ? body : undefined;
}

/** Appends one log record with one write (synchronous: a few bytes into the page cache). */
function writeRecord(fd: number, record: object): void {
  const body = Buffer.from(JSON.stringify(record));
  const out = Buffer.alloc(8 + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32c(body), 4);
  body.copy(out, 8);
  const before = fstatSync(fd).size;
  try {
    for (let done = 0; done < out.length;) done += writeSync(fd, out, done, out.length - done);
  } catch (err) {
    // Half a record would hide every record after it from the next scan: cut it off again.
    try {
      ftruncateSync(fd, before);
    } catch {
      // The scan cuts it off then, with what follows it.
    }
    throw err;
  }
}

async function writeAll(fd: number, buffers: Buffer[]): Promise<void> {
  let position = 0;
  let rest = buffers.filter((b) => b.length > 0);
  while (rest.length > 0) {
    const batch = rest.slice(0, MAX_IOVECS);
    const { bytesWritten } = await writevFd(fd, batch, position);
    if (bytesWritten === 0) throw new Error('the file system took none of the bytes written');
    position += bytesWritten;
    let skip = bytesWritten;
    let i = 0;
    while (i < rest.length && skip >= rest[i]!.length) {
      skip -= rest[i]!.length;
      i++;
    }
    rest = rest.slice(i);
    if (skip > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(skip);
  }
}
