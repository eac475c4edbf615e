/**
 * Peer reads with fill (issue 13): on a local miss, the entry is streamed from another node's
 * agent that the location index lists as holding it, every chunk's CRC32C checked on arrival,
 * handed to the caller as it arrives and written into this node's cache at the same time, so the
 * next read here is a local hit. One fetch per key per node at a time (single flight): a second
 * caller missing the same key waits for that fetch and then reads the local copy. A peer that
 * fails mid-stream (gone, NOT_FOUND, a bad chunk, other bytes than the first peer announced) is
 * left for the next one, which continues at the offset reached; with none left the fetch ends with
 * the status the caller would have had without peers (NOT_FOUND before any byte; UNAVAILABLE after
 * some, so that the client continues from the remote store at the byte it reached).
 * Owns: the single flight, the peer order and failover, the bounds (concurrent fetches, bytes per
 * second). Never: gRPC, Redis (Peers does), or serving bytes that did not verify.
 */
import { crc32c } from '@checkpoint-cache/checksum';
import { CacheError, ErrorCode, hasErrorCode } from '@checkpoint-cache/errors';
import { silentLogger, type Logger } from '@checkpoint-cache/logger';
import type { EntryInfo, EntryWriter } from './cache-types';
import { entryIdOf, validateKey } from './entry-key';
import type { NodeCache } from './node-cache';

/** A node that the location index lists as holding an entry. */
export interface PeerLocation {
  nodeId: string;
  /** `host:port` of its agent. */
  address: string;
}

/** A chunk as a peer sent it: `crc32c` is the peer's checksum of `data`, checked here. */
export interface PeerChunk {
  offset: number;
  data: Buffer;
  crc32c: number;
}

/** An open read of an entry on a peer, from an offset to its end. */
export interface PeerStream {
  /** The entry as the peer describes it (size, CRC32C of the whole, labels, TTL). */
  entry: EntryInfo;
  chunks: AsyncIterable<PeerChunk>;
  /** Ends the stream early; safe to call after it ended. */
  cancel(): void;
}

export interface Peers {
  /** Nodes other than this one listed as holding entry `id`, with their addresses. */
  locate(id: string): Promise<PeerLocation[]>;
  /** Opens a read of `key` from `offset` to its end; rejects (NotFound, Unavailable, ...). */
  open(peer: PeerLocation, key: string, offset: number): Promise<PeerStream>;
}

export interface PeerFillOptions {
  cache: NodeCache;
  peers: Peers;
  /** Fetches at most this many entries from peers at once; a miss beyond that stays a miss. */
  maxConcurrent: number;
  /** Bytes per second over all fetches; 0: no limit. */
  bytesPerSecond: number;
  logger?: Logger;
  /** Told about bytes received from peers and peers that failed (metrics). */
  observer?: PeerFillObserver;
}

export interface PeerFillObserver {
  peerBytes(bytes: number): void;
  peerFailure(reason: string): void;
}

/** What the caller that started a fetch is handed, in order. */
export interface PeerFillSink {
  /** The entry as the first peer described it, before any chunk. */
  header(entry: EntryInfo): Promise<void>;
  /** A verified chunk; the next is not fetched before this resolves (backpressure). */
  chunk(chunk: PeerChunk): Promise<void>;
}

/**
 * - 'streamed': the caller was handed the whole entry through its sink (and it is cached now,
 *   unless storing it failed, which is logged);
 * - 'filled': another caller's fetch of the same key stored it meanwhile: read it locally;
 * - 'absent': no peer holds it (or peer reads are at their bound): a miss, as without peers.
 */
export type PeerFillResult = 'streamed' | 'filled' | 'absent';

export class PeerFill {
  private readonly logger: Logger;
  private readonly running = new Map<string, Promise<boolean>>();
  /** Start of the current one-second window and the bytes fetched in it. */
  private windowStartMs = 0;
  private windowBytes = 0;

  constructor(private readonly options: PeerFillOptions) {
    this.logger = (options.logger ?? silentLogger).child({ component: 'peer-fill' });
  }

  /** Fetches `key` from a peer into `sink` and this node's cache; see PeerFillResult. */
  async fetch(key: string, sink: PeerFillSink): Promise<PeerFillResult> {
    validateKey(key);
    const id = entryIdOf(key);
    const other = this.running.get(id);
    if (other) return (await other.catch(() => false)) ? 'filled' : 'absent';
    if (this.running.size >= this.options.maxConcurrent) {
      this.options.observer?.peerFailure('bound');
      return 'absent';
    }
    const run = this.stream(key, id, sink);
    const stored = run.then((r) => r.stored);
    // Followers may or may not be waiting on it; its failure is the starter's to report.
    stored.catch(() => undefined);
    this.running.set(id, stored);
    try {
      return (await run).found ? 'streamed' : 'absent';
    } finally {
      this.running.delete(id);
    }
  }

  private async stream(
    key: string,
    id: string,
    sink: PeerFillSink,
  ): Promise<{ found: boolean; stored: boolean }> {
    const { peers, observer } = this.options;
    let candidates: PeerLocation[];
    try {
      candidates = await peers.locate(id);
    } catch (error) {
      // Redis unreachable: nobody can be asked, which is a plain miss (the caller reads remote).
      observer?.peerFailure('error');
      this.logger.debug('holders of the entry unknown; a miss', { key, error });
      return { found: false, stored: false };
    }
    let first: EntryInfo | undefined;
    let writer: EntryWriter | undefined;
    let reached = 0;
    let lastError: unknown;
    try {
      for (const peer of candidates) {
        let stream: PeerStream;
        try {
          stream = await peers.open(peer, key, reached);
        } catch (err) {
          lastError = err;
          observer?.peerFailure(hasErrorCode(err, ErrorCode.NotFound) ? 'not_found' : 'error');
          this.logger.debug('peer cannot serve the entry; trying the next', {
            key,
            peer: peer.nodeId,
            error: err,
          });
          continue;
        }
        try {
          if (!first) {
            first = stream.entry;
            await toCaller(() => sink.header(first!));
            writer = await this.beginWrite(first);
          } else if (stream.entry.size !== first.size || stream.entry.crc32c !== first.crc32c) {
            throw new CacheError(
              ErrorCode.DataLoss,
              `peer ${peer.nodeId} holds other bytes under ${key} than the first peer`,
            );
          }
          for await (const chunk of stream.chunks) {
            if (chunk.offset !== reached || crc32c(chunk.data) >>> 0 !== chunk.crc32c >>> 0) {
              throw new CacheError(
                ErrorCode.DataLoss,
                `peer ${peer.nodeId} sent a chunk at ${chunk.offset} that failed its check`,
              );
            }
            await this.throttle(chunk.data.length);
            observer?.peerBytes(chunk.data.length);
            // The local copy and the caller are served at the same time, not one after the other.
            const [kept] = await Promise.all([
              writer ? this.store(writer, chunk, key) : undefined,
              toCaller(() => sink.chunk(chunk)),
            ]);
            writer = kept;
            reached += chunk.data.length;
          }
          if (reached !== first.size) {
            throw new CacheError(
              ErrorCode.Unavailable,
              `peer ${peer.nodeId} ended ${key} at ${reached} of ${first.size} bytes`,
            );
          }
          const stored = writer ? await this.commit(writer, key) : false;
          writer = undefined;
          return { found: true, stored };
        } catch (err) {
          stream.cancel();
          if (err instanceof CallerError) throw err.cause;
          lastError = err;
          observer?.peerFailure('stream');
          this.logger.warn('peer failed mid-stream; continuing from the next peer', {
            key,
            peer: peer.nodeId,
            offset: reached,
            error: err,
          });
        }
      }
    } finally {
      await writer?.abort();
    }
    if (!first) return { found: false, stored: false };
    throw new CacheError(
      ErrorCode.Unavailable,
      `every node holding ${key} failed to stream it (at byte ${reached}); read the rest from ` +
        `the remote store`,
      { cause: lastError },
    );
  }

  /** A local copy is worth having but never worth failing the caller's read over. */
  private async beginWrite(entry: EntryInfo): Promise<EntryWriter | undefined> {
    try {
      return await this.options.cache.beginWrite({
        key: entry.key,
        jobId: entry.jobId,
        checkpointId: entry.checkpointIds.length
          ? entry.checkpointIds[entry.checkpointIds.length - 1]!
          : 0,
        size: entry.size,
        crc32c: entry.crc32c,
        ttlMs: entry.ttlMs,
      });
    } catch (error) {
      this.logger.info('entry read from a peer is not stored here', { key: entry.key, error });
      return undefined;
    }
  }

  private async store(
    writer: EntryWriter,
    chunk: PeerChunk,
    key: string,
  ): Promise<EntryWriter | undefined> {
    try {
      // Checked on arrival already; the writer checks the whole entry's CRC32C at commit.
      await writer.append(chunk.offset, chunk.data);
      return writer;
    } catch (error) {
      this.logger.info('entry read from a peer is not stored here', { key, error });
      await writer.abort();
      return undefined;
    }
  }

  private async commit(writer: EntryWriter, key: string): Promise<boolean> {
    try {
      await writer.commit();
      return true;
    } catch (error) {
      this.logger.info('entry read from a peer is not stored here', { key, error });
      await writer.abort();
      return false;
    }
  }

  /** Waits as long as needed to keep all fetches under bytesPerSecond (one-second windows). */
  private async throttle(bytes: number): Promise<void> {
    const limit = this.options.bytesPerSecond;
    if (!limit) return;
    for (;;) {
      const now = Date.now();
      if (now - this.windowStartMs >= 1000) {
        this.windowStartMs = now;
        this.windowBytes = 0;
      }
      if (this.windowBytes === 0 || this.windowBytes + bytes <= limit) {
        this.windowBytes += bytes;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000 - (now - this.windowStartMs)));
    }
  }
}

/** A failure of the caller's side (cancelled, a bad range): not a peer's fault, no failover. */
class CallerError {
  constructor(readonly cause: unknown) {}
}

async function toCaller(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    throw new CallerError(err);
  }
}
