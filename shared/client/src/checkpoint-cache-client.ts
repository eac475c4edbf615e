/**
 * The TypeScript client stub of the node agent: reads local first with remote fallback, writes,
 * many small entries a batch per call, and the small management RPCs, over one grpc-js channel
 * tuned for large streams.
 * Owns: the channel, per-call deadlines and the client's counters. Never: retrying writes or
 * management calls (their callers know whether a retry is safe), or reading process.env.
 */
import * as grpc from '@grpc/grpc-js';
import {
  checkpointCacheClientConstructor,
  type CheckpointCacheClient as GrpcClient,
  type EntryInfo__Output,
} from '@checkpoint-cache/proto';
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { CheckpointCacheError } from './checkpoint-cache-error';
import { CheckpointReadStream } from './checkpoint-read-stream';
import {
  addDefaults,
  checkChunkSize,
  type CheckpointCacheClientOptions,
  type CompiledClientOptions,
} from './client-options';
import { ClientStats, type ClientStatsSnapshot } from './client-stats';
import {
  BATCH_RETRY_MS,
  writeBatchEntries,
  type BatchEntry,
  type BatchEntryResult,
} from './entry-batch';
import { uploadEntry, type WriteOptions, type WriteResult } from './entry-upload';
import { copyForHandOver } from './hand-over';
import type { UploadSource } from './upload-chunks';
import { framedWritesFor } from './write-wire';

/** An entry as the agent describes it. */
export type EntryInfo = EntryInfo__Output;

export interface ReadOptions {
  /** URI of the same bytes in the remote store; without it a failed local read is an error. */
  remote?: string;
  /** First byte. Default 0. */
  offset?: number;
  /** Bytes to read. Default up to the end of the entry. */
  length?: number;
  /** Largest chunk to ask the agent for; default the client's `readChunkSize`. */
  maxChunkSize?: number;
  /** High-water mark of the returned stream, in bytes. Default Node's. */
  highWaterMark?: number;
}

export interface ListOptions {
  jobId?: string;
  /** Requires `jobId`. */
  checkpointId?: number;
  /** 1 to 1000; default the agent's (100). */
  pageSize?: number;
  pageToken?: string;
}

export interface ListPage {
  entries: EntryInfo[];
  /** Empty on the last page. */
  nextPageToken: string;
}

export interface ReleaseResult {
  releasedEntries: number;
  releasedBytes: number;
}

type UnaryMethod = 'stat' | 'touch' | 'delete' | 'deletePrefix' | 'list' | 'release' | 'ingest';

/** Ingest's deadline grows with the file: the unary deadline plus a second per this many bytes. */
const INGEST_BYTES_PER_DEADLINE_SECOND = 10 * 1024 * 1024;

export class CheckpointCacheClient {
  private readonly options: CompiledClientOptions;
  private readonly grpc: GrpcClient;
  private readonly counters = new ClientStats();
  /** Until when entries of writeBatch go as single Writes (the agent answered UNIMPLEMENTED). */
  private batchUnsupportedUntil = 0;

  constructor(options: CheckpointCacheClientOptions) {
    this.options = addDefaults(options);
    const Client = checkpointCacheClientConstructor();
    this.grpc = new Client(
      this.options.agent,
      this.options.credentials ?? grpc.credentials.createInsecure(),
      this.options.channelOptions,
    );
  }

  /** The agent address this client talks to. */
  get agent(): string {
    return this.options.agent;
  }

  /**
   * The entry's bytes, local first. When the agent cannot serve them (miss, failure, hang,
   * corruption) the stream continues from `options.remote` at the first byte not yet delivered;
   * without a remote it fails with a CheckpointCacheError carrying the status. INVALID_ARGUMENT
   * always fails the stream. Throws synchronously for invalid options or an unknown remote scheme.
   */
  read(key: string, options: ReadOptions = {}): CheckpointReadStream {
    const offset = options.offset ?? 0;
    checkCount('offset', offset);
    if (options.length !== undefined) checkCount('length', options.length);
    const maxChunkSize = options.maxChunkSize ?? this.options.readChunkSize;
    checkChunkSize('maxChunkSize', maxChunkSize, 0);
    const remote =
      options.remote === undefined
        ? undefined
        : { uri: options.remote, store: this.options.remotes.resolve(options.remote) };
    return new CheckpointReadStream({
      grpc: this.grpc,
      key,
      offset,
      length: options.length,
      maxChunkSize,
      remote,
      deadlines: this.options.deadlines,
      stats: this.counters,
      highWaterMark: options.highWaterMark,
      shortCircuit: this.options.shortCircuit,
    });
  }

  /**
   * Stores `source` under `key`. The promise settles when the agent has verified, persisted and
   * registered the entry, or rejects with CheckpointCacheError (nothing is then visible).
   */
  write(
    key: string,
    source: Readable | Uint8Array,
    options: WriteOptions = {},
  ): Promise<WriteResult> {
    return this.upload(
      key,
      source instanceof Uint8Array
        ? {
            kind: 'buffer',
            buffer: Buffer.from(source.buffer, source.byteOffset, source.byteLength),
          }
        : { kind: 'stream', stream: source },
      options,
    );
  }

  /**
   * Stores the file at `path` under `key`, read straight into the chunks it sends (no copy of its
   * bytes in this process); the size announced is the file's unless `options.size` says otherwise.
   * Settles like `write`.
   */
  writeFile(key: string, path: string, options: WriteOptions = {}): Promise<WriteResult> {
    return this.upload(key, { kind: 'file', path }, options);
  }

  /**
   * Stores many small entries whose bytes are in memory, several to a call (WriteBatch: up to
   * 1,000 entries and about 8 MiB per call, a few calls in flight), each stored exactly as `write`
   * would store it; the agent pays for one call per batch instead of one per entry. Resolves with
   * one result per entry, in their order: `{ ok: true, entry, created }`, or `{ ok: false, error }`
   * with the CheckpointCacheError a `write` of it would have rejected with (nothing of it stored).
   * A failure of a whole call (PERMISSION_DENIED over TCP, the agent unreachable, its deadline)
   * is every one of its entries' error; after DEADLINE_EXCEEDED or CANCELLED some of them may be
   * stored all the same, so write them again (the same bytes are answered `created: false`). An
   * entry larger than a batch is sent alone with Write. An agent older than WriteBatch
   * (UNIMPLEMENTED) gets the entries as single Writes, and is asked again a minute later.
   * Throws (synchronously) only for invalid arguments. `data` must not change before it settles.
   */
  writeBatch(entries: readonly BatchEntry[]): Promise<BatchEntryResult[]> {
    for (const e of entries) {
      if (typeof e.key !== 'string') throw new TypeError('every entry needs a key (a string)');
      if (!(e.data instanceof Uint8Array)) {
        throw new TypeError(`entry ${JSON.stringify(e.key)}: data must be a Buffer or Uint8Array`);
      }
      if (e.checkpointId !== undefined) checkCount('checkpointId', e.checkpointId);
      if (e.ttlMs !== undefined) checkCount('ttlMs', e.ttlMs);
    }
    return writeBatchEntries({
      grpc: this.grpc,
      entries,
      unaryMs: this.options.deadlines.unaryMs,
      writeOne: (e) =>
        this.write(e.key, e.data, {
          jobId: e.jobId,
          checkpointId: e.checkpointId,
          crc32c: e.crc32c,
          ttlMs: e.ttlMs,
          size: e.data.byteLength,
        }),
      batchUnsupported: () => Date.now() < this.batchUnsupportedUntil,
      noteUnsupported: () => {
        this.batchUnsupportedUntil = Date.now() + BATCH_RETRY_MS;
      },
    });
  }

  private upload(key: string, source: UploadSource, options: WriteOptions): Promise<WriteResult> {
    if (options.size !== undefined) checkCount('size', options.size);
    if (options.checkpointId !== undefined) checkCount('checkpointId', options.checkpointId);
    if (options.ttlMs !== undefined) checkCount('ttlMs', options.ttlMs);
    return uploadEntry({
      grpc: this.grpc,
      key,
      source,
      options,
      chunkSize: this.options.writeChunkSize,
      idleMs: this.options.deadlines.idleMs,
      framed: framedWritesFor(this.options.channelOptions),
    });
  }

  /**
   * Stores the file `fileName` of the agent's ingest directory (its --ingest-dir, which this
   * process shares on the same node) under `key`: the agent copies it, without the bytes crossing
   * gRPC. Over the agent's Unix socket only. `size` and `crc32c` are required and checked against
   * what the agent copied; the file is left in place for the caller to delete. Settles like
   * `write`; FAILED_PRECONDITION when the agent has no ingest directory (then use `writeFile`).
   * `handOver`: the caller will not write the file again, so the agent may link it into the cache
   * instead of copying it (it copies where it cannot link); see IngestRequest.hand_over.
   */
  ingest(
    key: string,
    fileName: string,
    options: Omit<WriteOptions, 'progress'> & { size: number; crc32c: number; handOver?: boolean },
  ): Promise<WriteResult> {
    checkCount('size', options.size);
    if (options.checkpointId !== undefined) checkCount('checkpointId', options.checkpointId);
    if (options.ttlMs !== undefined) checkCount('ttlMs', options.ttlMs);
    const header = {
      key,
      jobId: options.jobId ?? '',
      checkpointId: options.checkpointId ?? 0,
      size: options.size,
      crc32c: options.crc32c >>> 0,
      ttlMs: options.ttlMs ?? 0,
    };
    const deadlineMs =
      this.options.deadlines.unaryMs +
      Math.ceil(options.size / INGEST_BYTES_PER_DEADLINE_SECOND) * 1000;
    const request = { header, fileName, handOver: options.handOver ?? false };
    return this.unary('ingest', request, key, deadlineMs);
  }

  /**
   * Stores the local file `path` under `key` through the agent's ingest directory, `ingestDir` as
   * this process sees it: copies the file there (copyForHandOver), hands the copy over and removes
   * its name whatever the answer. The agent links the copy into the cache where it can, so the
   * bytes are written once. Over the agent's Unix socket only. An agent that cannot take it
   * answers FAILED_PRECONDITION (no ingest directory), NOT_FOUND (another directory),
   * PERMISSION_DENIED (TCP, or no read permission) or UNIMPLEMENTED (older agent): `writeFile`
   * stores it then, as it may after an IngestDirError (no copy could be made in `ingestDir`).
   * Errors reading `path` are thrown as they are.
   */
  async handOverFile(
    key: string,
    path: string,
    ingestDir: string,
    options: Omit<WriteOptions, 'size' | 'crc32c'> = {},
  ): Promise<WriteResult> {
    const copy = await copyForHandOver(path, ingestDir, options.progress);
    try {
      return await this.ingest(key, copy.name, {
        jobId: options.jobId,
        checkpointId: options.checkpointId,
        ttlMs: options.ttlMs,
        size: copy.size,
        crc32c: copy.crc32c,
        handOver: true,
      });
    } finally {
      // The store's answer stands whatever happens to the copy's name (the agent holds a link).
      await rm(copy.path, { force: true }).catch(() => undefined);
    }
  }

  /** Describes an entry (NOT_FOUND when not cached); resets its TTL unless `noTouch`. */
  stat(key: string, options: { noTouch?: boolean } = {}): Promise<EntryInfo> {
    return this.unary('stat', { key, noTouch: options.noTouch ?? false }, key);
  }

  /** Resets an entry's TTL, optionally recording another checkpoint that references it. */
  touch(key: string, options: { checkpointId?: number; ttlMs?: number } = {}): Promise<EntryInfo> {
    return this.unary(
      'touch',
      { key, checkpointId: options.checkpointId ?? 0, ttlMs: options.ttlMs ?? 0 },
      key,
    );
  }

  /** Removes an entry from the node; true when it was there. */
  async delete(key: string): Promise<boolean> {
    const res = await this.unary<{ deleted: boolean }>('delete', { key }, key);
    return res.deleted;
  }

  /**
   * Removes every entry below directory `prefix` (ends in '/') from the node, and has the agent
   * tell every other node to remove theirs. `nodesTold` is -1 when they could not be told.
   */
  async deletePrefix(
    prefix: string,
  ): Promise<{ entries: number; bytes: number; nodesTold: number }> {
    return this.unary('deletePrefix', { prefix }, prefix);
  }

  /** One page of the node's entries in key order. */
  async list(options: ListOptions = {}): Promise<ListPage> {
    const res = await this.unary<{ entries: EntryInfo[]; nextPageToken: string }>('list', {
      jobId: options.jobId ?? '',
      checkpointId: options.checkpointId,
      pageSize: options.pageSize ?? 0,
      pageToken: options.pageToken ?? '',
    });
    return { entries: res.entries, nextPageToken: res.nextPageToken };
  }

  /** Every entry matching `options`, fetching pages as the iteration goes. */
  async *listAll(options: Omit<ListOptions, 'pageToken'> = {}): AsyncGenerator<EntryInfo> {
    let pageToken = '';
    do {
      const page = await this.list({ ...options, pageToken });
      yield* page.entries;
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
  }

  /** Drops a job's entries below a checkpoint (all of them without `belowCheckpointId`). */
  release(options: { jobId: string; belowCheckpointId?: number }): Promise<ReleaseResult> {
    return this.unary('release', {
      jobId: options.jobId,
      belowCheckpointId: options.belowCheckpointId,
    });
  }

  /** Bytes by source and fallbacks by reason since the client was made. */
  stats(): ClientStatsSnapshot {
    return this.counters.snapshot();
  }

  /** Closes the channel; calls in progress finish. */
  close(): void {
    this.grpc.close();
  }

  private unary<Res>(
    method: UnaryMethod,
    request: object,
    key?: string,
    deadlineMs = this.options.deadlines.unaryMs,
  ): Promise<Res> {
    const rpc = method.charAt(0).toUpperCase() + method.slice(1);
    const deadline = Date.now() + deadlineMs;
    const fn = this.grpc[method] as unknown as (
      request: object,
      options: grpc.CallOptions,
      callback: (err: grpc.ServiceError | null, res?: Res) => void,
    ) => grpc.ClientUnaryCall;
    return new Promise((resolve, reject) => {
      fn.call(this.grpc, request, { deadline }, (err, res) => {
        if (err) reject(CheckpointCacheError.fromServiceError(err, rpc, key));
        else resolve(res as Res);
      });
    });
  }
}

function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
}
