/**
 * Appends to one file behind the caller: chunks are queued as they arrive and written with one
 * `writev` once at least WRITE_BEHIND_GATHER_BYTES are queued (flush writes the rest), so a
 * Write's handler goes on taking messages from the socket while the thread pool writes, and a
 * write covers several received chunks (their buffers as grpc-js handed them over, not copied
 * together).
 * The queue is bounded: past `maxQueuedBytes` an append waits for the disk, which is how a slow
 * disk slows the sender (HTTP/2 flow control) instead of growing memory.
 * A flush that finds at most SYNC_FLUSH_BYTES queued and no write in flight writes them with one
 * synchronous call instead: a page-cache copy of some microseconds, where a thread-pool write costs
 * a hand-off, a wake-up and a promise (a 4 KiB entry's only write; issue #16).
 * Owns: the queue, the one write in flight and its failure. Never: checks of the bytes, closing
 * the file (its owner does, after `settle`).
 */
import { writev, writevSync } from 'node:fs';
import { promisify } from 'node:util';

/** Default bound on queued bytes per file. */
export const WRITE_BEHIND_BYTES = 8 * 1024 * 1024;

/**
 * Bytes gathered before a write starts (flush writes what is left). Each write is a hand-over to
 * the thread pool, and on a busy machine the woken worker can take the main thread's core: fewer,
 * larger writes cost fewer of those.
 */
export const WRITE_BEHIND_GATHER_BYTES = 1024 * 1024;

/** Most bytes a flush writes with a synchronous call (see the header). */
export const SYNC_FLUSH_BYTES = 64 * 1024;

/** Buffers per writev; Linux takes at most IOV_MAX (1024). */
const MAX_IOVECS = 1024;

const writevFd = promisify(writev);

export class WriteBehind {
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private position: number;
  private writing: Promise<void> | undefined;
  private failure: unknown;
  /** Set while flush waits: the queue is written down to its last byte. */
  private flushing = false;

  constructor(
    /** A descriptor open for writing, owned by the caller. */
    private readonly fd: number,
    start = 0,
    private readonly maxQueuedBytes = WRITE_BEHIND_BYTES,
    private readonly gatherBytes = WRITE_BEHIND_GATHER_BYTES,
  ) {
    this.position = start;
  }

  /**
   * Queues `data` (which must not change until written) at the end. Resolves at once while the
   * queue has room, else once it is written; rejects with the failure of an earlier write.
   */
  async append(data: Buffer): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (data.length === 0) return;
    this.queued.push(data);
    this.queuedBytes += data.length;
    if (this.queuedBytes >= this.gatherBytes) this.writing ??= this.writeQueued();
    if (this.queuedBytes >= this.maxQueuedBytes) await this.flush();
  }

  /** Resolves once everything appended is written; rejects with the first write's failure. */
  async flush(): Promise<void> {
    if (!this.writing && this.failure === undefined && this.queuedBytes <= SYNC_FLUSH_BYTES) {
      this.writeQueuedSync();
    }
    this.flushing = true;
    try {
      if (this.queued.length > 0 && this.failure === undefined) this.writing ??= this.writeQueued();
      while (this.writing) await this.writing;
    } finally {
      this.flushing = false;
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** Resolves once no write is in flight, whatever happened (before the file is closed). */
  async settle(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeQueued(): Promise<void> {
    try {
      while (this.queued.length > 0 && (this.flushing || this.queuedBytes >= this.gatherBytes)) {
        const buffers = this.queued.splice(0, MAX_IOVECS);
        let bytes = 0;
        for (const b of buffers) bytes += b.length;
        this.queuedBytes -= bytes;
        let rest = buffers;
        while (rest.length > 0) {
          const { bytesWritten } = await writevFd(this.fd, rest, this.position);
          rest = this.advance(rest, bytesWritten);
        }
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.writing = undefined;
    }
  }

  /** Writes the whole queue now (only while no write is in flight). */
  private writeQueuedSync(): void {
    try {
      while (this.queued.length > 0) {
        let rest = this.queued.splice(0, MAX_IOVECS);
        for (const b of rest) this.queuedBytes -= b.length;
        while (rest.length > 0) {
          rest = this.advance(rest, writevSync(this.fd, rest, this.position));
        }
      }
    } catch (err) {
      this.fail(err);
    }
  }

  /** Moves past `bytesWritten` of `buffers`; returns what is left of them (short writes). */
  private advance(buffers: Buffer[], bytesWritten: number): Buffer[] {
    if (bytesWritten === 0) throw new Error('the file system took none of the bytes written');
    this.position += bytesWritten;
    let skip = bytesWritten;
    let i = 0;
    while (i < buffers.length && skip >= (buffers[i] as Buffer).length) {
      skip -= (buffers[i] as Buffer).length;
      i++;
    }
    const rest = buffers.slice(i);
    if (skip > 0 && rest.length > 0) rest[0] = (rest[0] as Buffer).subarray(skip);
    return rest;
  }

  private fail(err: unknown): void {
    this.failure = err;
    this.queued = [];
    this.queuedBytes = 0;
  }
}
