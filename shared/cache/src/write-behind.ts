/**
 * Appends to one file behind the caller: chunks are queued as they arrive and written with one
 * `writev` once at least WRITE_BEHIND_GATHER_BYTES are queued (flush writes the rest), so a
 * Write's handler goes on taking messages from the socket while the thread pool writes, and a
 * write covers several received chunks (their buffers as grpc-js handed them over, not copied
 * together).
 * The queue is bounded: past `maxQueuedBytes` an append waits for the disk, which is how a slow
 * disk slows the sender (HTTP/2 flow control) instead of growing memory.
 * Owns: the queue, the one write in flight and its failure. Never: checks of the bytes, closing
 * the file (its owner does, after `settle`).
 */
import type { promises as fs } from 'node:fs';

/** Default bound on queued bytes per file. */
export const WRITE_BEHIND_BYTES = 8 * 1024 * 1024;

/**
 * Bytes gathered before a write starts (flush writes what is left). Each write is a hand-over to
 * the thread pool, and on a busy machine the woken worker can take the main thread's core: fewer,
 * larger writes cost fewer of those.
 */
export const WRITE_BEHIND_GATHER_BYTES = 1024 * 1024;

/** Buffers per writev; Linux takes at most IOV_MAX (1024). */
const MAX_IOVECS = 1024;

export class WriteBehind {
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private position: number;
  private writing: Promise<void> | undefined;
  private failure: unknown;
  /** Set while flush waits: the queue is written down to its last byte. */
  private flushing = false;

  constructor(
    private readonly handle: fs.FileHandle,
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
        await writevAll(this.handle, buffers, this.position);
        this.position += bytes;
      }
    } catch (err) {
      this.failure = err;
      this.queued = [];
      this.queuedBytes = 0;
    } finally {
      this.writing = undefined;
    }
  }
}

/** Writes all of `buffers` at `position`, continuing after short writes. */
async function writevAll(
  handle: fs.FileHandle,
  buffers: Buffer[],
  position: number,
): Promise<void> {
  let rest = buffers;
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest, position);
    if (bytesWritten === 0) throw new Error('the file system took none of the bytes written');
    position += bytesWritten;
    let skip = bytesWritten;
    let i = 0;
    while (i < rest.length && skip >= (rest[i] as Buffer).length) {
      skip -= (rest[i] as Buffer).length;
      i++;
    }
    rest = rest.slice(i);
    if (skip > 0 && rest.length > 0) rest[0] = (rest[0] as Buffer).subarray(skip);
  }
}
