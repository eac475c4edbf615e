/**
 * checkpointcache.v1.CheckpointCache over a NodeCache. Handlers are thin: check the message
 * shape, call the domain, map the result; every status comes from @checkpoint-cache/errors.
 * Owns: message <-> domain conversion, stream framing, backpressure. Never: cache rules.
 */
import type * as grpc from '@grpc/grpc-js';
import type {
  ClusterDelete,
  EntryReader,
  EntryWriter,
  NodeCache,
  PeerFill,
} from '@checkpoint-cache/cache';
import { HeldBytes } from '@checkpoint-cache/cache';
import { CacheError, ErrorCode, hasErrorCode } from '@checkpoint-cache/errors';
import { silentLogger, type Logger } from '@checkpoint-cache/logger';
import {
  checkpointCacheServiceDefinition,
  packageDefinition,
  type CheckpointCacheHandlers,
  type DeletePrefixRequest__Output,
  type DeletePrefixResponse,
  type DeleteRequest__Output,
  type DeleteResponse,
  type EntryInfo,
  type IngestRequest__Output,
  type LeaseRequest__Output,
  type LeaseResponse,
  type ListRequest__Output,
  type ListResponse,
  type ReadRequest__Output,
  type ReadResponse,
  type ReleaseRequest__Output,
  type ReleaseResponse,
  type ReportCorruptRequest__Output,
  type ReportCorruptResponse,
  type StatRequest__Output,
  type TouchRequest__Output,
  type WriteBatchRequest__Output,
  type WriteRequest__Output,
  type WriteResponse,
} from '@checkpoint-cache/proto';
import { transportOf, type AccessPolicy, type CallOrigin } from './access-policy';
import { ingestCall } from './ingest-call';
import { drained } from './drained';
import { servePeerRead } from './peer-read';
import { toProtoEntry } from './proto-entry';
import { encodeReadChunk, readMethodDefinition, zeroCopyFramingInstalled } from './read-wire';
import { clientStreamHandler, serverStreamHandler, unaryHandler } from './handlers';
import { writeMethodDefinition } from './write-wire';
import { checkedDeserializer, rejectMalformed, wireCheckFor } from './wire-check';
import { MAX_BATCH_BYTES_HELD, writeBatchCall } from './write-batch-call';
import { writeSpecOf } from './write-spec';
import {
  readOutcomeOf,
  writeOutcomeOf,
  type ReadOutcome,
  type ServiceObserver,
} from './service-observer';

/**
 * Metadata key marking a Read as another agent's peer read: it is served from this node's disk
 * only, never from this node's peers in turn (a stale location index cannot make a chain).
 */
export const PEER_READ_METADATA = 'ckc-peer-read';

/** Largest chunk a read sends unless configured otherwise. */
export const DEFAULT_MAX_CHUNK_SIZE = 1024 * 1024;

export interface CheckpointCacheServiceOptions {
  cache: NodeCache;
  logger?: Logger;
  /** Upper bound on chunk sizes sent by Read, whatever the client asks for. */
  maxChunkSize?: number;
  /** Told about every Read, Write, Ingest and WriteBatch item (metrics). */
  observer?: ServiceObserver;
  /**
   * Decides who may change the cache (Write, WriteBatch, Delete, Release, Touch with a checkpoint
   * or TTL).
   */
  accessPolicy: AccessPolicy;
  /**
   * Delete and DeletePrefix also reach the copies on other nodes through it; absent: this node's
   * copies only.
   */
  clusterDelete?: ClusterDelete;
  /** A Read that misses here is served from another node's agent through it; absent: a miss. */
  peerFill?: PeerFill;
  /** Most bytes of items the WriteBatch calls in progress hold; default MAX_BATCH_BYTES_HELD. */
  maxBatchBytesHeld?: number;
  /** Where Ingest takes files from (checked at start to be a directory); absent: Ingest is off. */
  ingestDir?: string;
}

function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export class CheckpointCacheService {
  private readonly cache: NodeCache;
  private readonly logger: Logger;
  private readonly maxChunkSize: number;
  private readonly observer: ServiceObserver | undefined;
  /** Bytes of items held by the WriteBatch calls in progress. */
  private readonly batchBytes: HeldBytes;
  private readonly accessPolicy: AccessPolicy;
  private readonly clusterDelete: ClusterDelete | undefined;
  private readonly peerFill: PeerFill | undefined;
  private readonly ingestDir: string | undefined;
  /** Reasons already logged why a hand-over was copied (noteCopiedHandOver). */
  private readonly copiedHandOvers = new Set<string>();
  /**
   * Read chunks carry their gRPC prefix and skip grpc-js's copy, once the process that serves
   * them installed the patch (installZeroCopyFraming, read-wire/grpc-framing.ts).
   */
  private readonly framed = zeroCopyFramingInstalled();

  constructor(options: CheckpointCacheServiceOptions) {
    this.accessPolicy = options.accessPolicy;
    this.clusterDelete = options.clusterDelete;
    this.peerFill = options.peerFill;
    this.ingestDir = options.ingestDir;
    this.cache = options.cache;
    this.logger = (options.logger ?? silentLogger).child({ service: 'CheckpointCache' });
    this.maxChunkSize = options.maxChunkSize ?? DEFAULT_MAX_CHUNK_SIZE;
    this.observer = options.observer;
    this.batchBytes = new HeldBytes(options.maxBatchBytesHeld ?? MAX_BATCH_BYTES_HELD);
  }

  addToServer(server: grpc.Server): void {
    const log = this.logger;
    const handlers: CheckpointCacheHandlers = {
      Read: serverStreamHandler('Read', log, (call) => this.observedRead(call)),
      Write: clientStreamHandler('Write', log, (call) =>
        this.changing(call, 'Write', () => this.observedWrite(call)),
      ),
      // Names a file on this node: its Unix socket only, whatever the write access setting.
      Ingest: unaryHandler('Ingest', log, async (req: IngestRequest__Output, call) => {
        this.accessPolicy.checkSameNode(call, 'Ingest');
        const gaveUp = new AbortController();
        call.once('cancelled', () => gaveUp.abort());
        let how = '';
        const response = await this.observed(
          async () => {
            const ingested = await ingestCall(this.cache, this.ingestDir, req, gaveUp.signal);
            how = ingested.how;
            return { entry: toProtoEntry(ingested.entry), created: ingested.created };
          },
          () => call.cancelled,
        );
        log.debug(how === 'linked' ? 'Ingest linked a file' : 'Ingest copied a file', {
          key: req.header?.key,
          fileName: req.fileName,
          bytes: Number(response.entry?.size ?? 0),
          created: response.created,
        });
        if (req.handOver && how !== 'linked') this.noteCopiedHandOver(how);
        // Only an entry this call created: one already there with the same bytes took nothing.
        if (response.created) {
          this.observer?.ingested(
            how === 'linked' ? 'linked' : req.handOver ? 'handover_copied' : 'copied',
          );
        }
        return response;
      }),
      // Changes the cache as Write does; each item is counted as a Write of it.
      WriteBatch: unaryHandler('WriteBatch', log, (req: WriteBatchRequest__Output, call) =>
        this.changing(call, 'WriteBatch', () =>
          writeBatchCall(req, {
            cache: this.cache,
            cancelled: () => call.cancelled,
            held: this.batchBytes,
            observer: this.observer,
            logger: log,
          }),
        ),
      ),
      Stat: unaryHandler('Stat', log, (req: StatRequest__Output) => this.stat(req)),
      // A plain touch is what every read does; one that adds a checkpoint or sets the TTL changes
      // the entry's fate (a TTL of 1 ms deletes it).
      Touch: unaryHandler('Touch', log, (req: TouchRequest__Output, call) =>
        req.checkpointId || req.ttlMs
          ? this.changing(call, 'Touch', () => this.touch(req))
          : this.touch(req),
      ),
      Delete: unaryHandler('Delete', log, (req: DeleteRequest__Output, call) =>
        this.changing(call, 'Delete', () => this.delete(req)),
      ),
      DeletePrefix: unaryHandler('DeletePrefix', log, (req: DeletePrefixRequest__Output, call) =>
        this.changing(call, 'DeletePrefix', () => this.deletePrefix(req)),
      ),
      List: unaryHandler('List', log, (req: ListRequest__Output) => this.list(req)),
      Release: unaryHandler('Release', log, (req: ReleaseRequest__Output, call) =>
        this.changing(call, 'Release', () => this.release(req)),
      ),
      Lease: unaryHandler('Lease', log, (req: LeaseRequest__Output) => this.lease(req)),
      // Any reader may report; only one that may change the cache is believed without a check.
      ReportCorrupt: unaryHandler('ReportCorrupt', log, (req: ReportCorruptRequest__Output, call) =>
        this.reportCorrupt(req, this.accessPolicy.allowsWrite(transportOf(call))),
      ),
    };
    server.addService(serviceDefinition(), handlers as grpc.UntypedServiceImplementation);
  }

  /** Runs `fn` if the access policy lets `call` change the cache; else PERMISSION_DENIED. */
  private async changing<T>(call: CallOrigin, rpc: string, fn: () => Promise<T>): Promise<T> {
    this.accessPolicy.checkWrite(call, rpc);
    return fn();
  }

  private async observedRead(
    call: grpc.ServerWritableStream<ReadRequest__Output, ReadResponse>,
  ): Promise<void> {
    const observer = this.observer;
    if (!observer) return this.read(call, () => undefined);
    const started = process.hrtime.bigint();
    let bytes = 0;
    let firstByte = false;
    let outcome: ReadOutcome = 'hit';
    observer.readStarted();
    try {
      await this.read(call, (n) => {
        if (!firstByte) observer.readFirstByte(secondsSince(started));
        firstByte = true;
        bytes += n;
      });
    } catch (err) {
      outcome = readOutcomeOf(err, call.cancelled);
      throw err;
    } finally {
      if (call.cancelled) outcome = 'cancelled';
      if (!firstByte && outcome === 'hit') observer.readFirstByte(secondsSince(started));
      observer.readFinished(outcome, bytes, secondsSince(started));
    }
  }

  private observedWrite(
    call: grpc.ServerReadableStream<WriteRequest__Output, WriteResponse>,
  ): Promise<WriteResponse> {
    return this.observed(
      () => this.write(call),
      () => call.cancelled,
    );
  }

  /**
   * Says once per reason why handed-over files are copied instead of linked: the operator's set-up
   * (another mount) costs every such Ingest a copy, which nothing else would show.
   */
  private noteCopiedHandOver(reason: string): void {
    if (this.copiedHandOvers.has(reason)) return;
    this.copiedHandOvers.add(reason);
    this.logger.warn(
      reason === 'EXDEV'
        ? 'Ingest copies handed-over files instead of linking them: the ingest directory and the ' +
            'cache directory are on different file systems or mounts (EXDEV). Mount one volume ' +
            'that holds both into the agent (docs/flink.md, section 3) to have them linked'
        : `Ingest copies handed-over files instead of linking them (${reason}): the agent may not ` +
            'link them (protected_hardlinks lets it link only files its user owns or may write)',
      { reason },
    );
  }

  /** Runs a Write or an Ingest, telling the observer how it ended. */
  private async observed(
    write: () => Promise<WriteResponse>,
    cancelled: () => boolean = () => false,
  ): Promise<WriteResponse> {
    const observer = this.observer;
    if (!observer) return write();
    observer.writeStarted();
    try {
      const response = await write();
      observer.writeFinished(
        response.created ? 'created' : 'exists',
        Number(response.entry?.size ?? 0),
      );
      return response;
    } catch (err) {
      observer.writeFinished(writeOutcomeOf(err, cancelled()), 0);
      throw err;
    }
  }

  /** Streams the range; `sent(n)` is called for every chunk handed to grpc-js. */
  private async read(
    call: grpc.ServerWritableStream<ReadRequest__Output, ReadResponse>,
    sent: (bytes: number) => void,
  ): Promise<void> {
    const req = call.request;
    const maxChunk = Math.min(req.maxChunkSize || this.maxChunkSize, this.maxChunkSize);
    const range = {
      offset: req.offset,
      ...(req.length === undefined || req.length === null ? {} : { length: req.length }),
    };
    let reader: EntryReader;
    try {
      reader = await this.cache.openRead(req.key, range);
    } catch (err) {
      const peerRead = call.metadata.get(PEER_READ_METADATA).length > 0;
      if (!this.peerFill || peerRead || !hasErrorCode(err, ErrorCode.NotFound)) throw err;
      const result = await servePeerRead(call, this.peerFill, maxChunk, sent, this.logger);
      if (result === 'streamed') return;
      if (result === 'absent') throw err;
      // Another read of the key filled the cache meanwhile.
      reader = await this.cache.openRead(req.key, range);
    }
    try {
      const header: ReadResponse = {
        header: {
          entry: toProtoEntry(reader.entry),
          offset: reader.offset,
          length: reader.length,
          source: 'SOURCE_LOCAL_DISK',
        },
      };
      if (!call.write(header)) await drained(call);
      for await (const chunk of reader.chunks(maxChunk)) {
        if (call.cancelled) return;
        // Already serialized (see chunk-encoding.ts); the Read serializer passes Buffers through.
        const message = encodeReadChunk(
          chunk.offset,
          chunk.data,
          chunk.crc32c,
          chunk.headroom,
          this.framed,
        );
        sent(chunk.data.length);
        // grpc-js has copied the message into its frame by the time it calls back.
        if (!call.write(message as ReadResponse, chunk.release)) await drained(call);
      }
    } finally {
      await reader.close();
    }
  }

  private async write(
    call: grpc.ServerReadableStream<WriteRequest__Output, WriteResponse>,
  ): Promise<WriteResponse> {
    // A cancel rejects the message being waited for. Not Promise.race with one long-lived
    // `cancelled` promise: every race leaves a reaction on it holding that message, so a stream's
    // whole content stayed in memory until the stream ended (RSS grew by the bytes written).
    const cancelError = (): CacheError =>
      new CacheError(ErrorCode.Cancelled, 'the client cancelled the write; nothing was stored');
    let cancelled = false;
    let rejectWaiting: ((err: CacheError) => void) | undefined;
    // grpc-js emits 'cancelled' at the end of every call, answered or not: removed in `finally`,
    // so an answered write builds no error (each is a stack trace, issue #16).
    const onCancelled = (): void => {
      cancelled = true;
      rejectWaiting?.(cancelError());
    };
    call.once('cancelled', onCancelled);
    // Not destroyed on return: destroying the call's stream while its response is still unsent
    // makes Node build an AbortError and grpc-js a second error ending it, on every write (issue
    // #16). Nothing needs it destroyed: grpc-js reads only when asked, and destroys the stream
    // itself once the call has ended.
    const messages = call.iterator({
      destroyOnReturn: false,
    }) as AsyncIterator<WriteRequest__Output>;
    const next = (): Promise<IteratorResult<WriteRequest__Output>> => {
      if (cancelled) return Promise.reject(cancelError());
      return new Promise((resolve, reject) => {
        rejectWaiting = reject;
        messages.next().then(resolve, reject);
      });
    };

    const first = await next();
    if (!first.done) rejectMalformed(first.value);
    if (first.done || first.value.kind !== 'header' || !first.value.header) {
      throw new CacheError(
        ErrorCode.InvalidArgument,
        first.done
          ? 'the write stream is empty; send a WriteHeader first'
          : 'the first message of a write must be a WriteHeader',
      );
    }
    const h = first.value.header;
    const writer: EntryWriter = await this.cache.beginWrite(writeSpecOf(h));
    try {
      for (let r = await next(); !r.done; r = await next()) {
        rejectMalformed(r.value);
        const chunk = r.value.chunk;
        if (r.value.kind !== 'chunk' || !chunk) {
          throw new CacheError(
            ErrorCode.InvalidArgument,
            'a write has exactly one WriteHeader, first',
          );
        }
        const crc = chunk.crc32c === undefined || chunk.crc32c === null ? undefined : chunk.crc32c;
        await writer.append(chunk.offset, chunk.data, crc);
      }
      if (call.cancelled) {
        throw new CacheError(
          ErrorCode.Cancelled,
          'the client cancelled the write; nothing was stored',
        );
      }
      const { entry, created } = await writer.commit();
      return { entry: toProtoEntry(entry), created };
    } finally {
      call.off('cancelled', onCancelled);
      await writer.abort();
      await messages.return?.();
    }
  }

  private async stat(req: StatRequest__Output): Promise<EntryInfo> {
    return toProtoEntry(await this.cache.stat(req.key, { touch: !req.noTouch }));
  }

  private async touch(req: TouchRequest__Output): Promise<EntryInfo> {
    const entry = await this.cache.touch(req.key, {
      ...(req.checkpointId ? { checkpointId: req.checkpointId } : {}),
      ...(req.ttlMs ? { ttlMs: req.ttlMs } : {}),
    });
    return toProtoEntry(entry);
  }

  private async delete(req: DeleteRequest__Output): Promise<DeleteResponse> {
    const deletes = this.clusterDelete ?? this.cache;
    return { deleted: await deletes.delete(req.key) };
  }

  /** Without cluster deletes (tests of one node), this node's entries only: no one to tell. */
  private async deletePrefix(req: DeletePrefixRequest__Output): Promise<DeletePrefixResponse> {
    const result = this.clusterDelete
      ? await this.clusterDelete.deletePrefix(req.prefix)
      : { ...(await this.cache.deletePrefix(req.prefix)), nodesTold: 0 };
    return { entries: result.entries, bytes: result.bytes, nodesTold: result.nodesTold };
  }

  private async list(req: ListRequest__Output): Promise<ListResponse> {
    const { entries, nextPageToken } = await this.cache.list({
      ...(req.jobId ? { jobId: req.jobId } : {}),
      ...(req.checkpointId === undefined || req.checkpointId === null
        ? {}
        : { checkpointId: req.checkpointId }),
      pageSize: req.pageSize,
      pageToken: req.pageToken,
    });
    return { entries: entries.map(toProtoEntry), nextPageToken };
  }

  private async lease(req: LeaseRequest__Output): Promise<LeaseResponse> {
    const lease = await this.cache.lease(req.key, req.durationMs, req.acceptOffset);
    const crcs = Buffer.allocUnsafe(lease.blockCrcs.length * 4);
    lease.blockCrcs.forEach((crc, i) => crcs.writeUInt32BE(crc, i * 4));
    this.observer?.leaseGranted(lease.entry.size);
    return {
      entry: toProtoEntry(lease.entry),
      cacheRoot: lease.cacheRoot,
      relativePath: lease.relativePath,
      blockSize: lease.blockSize,
      blockCrc32c: crcs,
      expiresAtMs: lease.expiresAtMs,
      dataOffset: lease.fileOffset,
    };
  }

  private async reportCorrupt(
    req: ReportCorruptRequest__Output,
    trusted: boolean,
  ): Promise<ReportCorruptResponse> {
    return { quarantined: await this.cache.reportCorrupt(req.key, req.entryCrc32c, trusted) };
  }

  private async release(req: ReleaseRequest__Output): Promise<ReleaseResponse> {
    const below = req.belowCheckpointId;
    const { entries, bytes } = await this.cache.release({
      jobId: req.jobId,
      ...(below === undefined || below === null ? {} : { belowCheckpointId: below }),
    });
    return { releasedEntries: entries, releasedBytes: bytes };
  }
}

/**
 * The generated definition, with every request checked on the wire (wire-check.ts), Read's
 * serializer passing pre-encoded chunks through and Write's chunks decoded as slices of the
 * received message (write-wire/).
 */
function serviceDefinition(): grpc.ServiceDefinition {
  const generated = checkpointCacheServiceDefinition();
  const definition = packageDefinition();
  const checked: grpc.ServiceDefinition = Object.fromEntries(
    Object.entries(generated).map(([name, method]) => {
      const typeName = requestTypeName(method);
      const deserialize = method.requestDeserialize;
      const check = wireCheckFor(definition, typeName);
      return [
        name,
        { ...method, requestDeserialize: checkedDeserializer(typeName, check, deserialize) },
      ];
    }),
  );
  const read = checked['Read'] as grpc.MethodDefinition<unknown, unknown>;
  const write = checked['Write'] as grpc.MethodDefinition<unknown, unknown>;
  return { ...checked, Read: readMethodDefinition(read), Write: writeMethodDefinition(write) };
}

/** `checkpointcache.v1.StatRequest` for Stat: proto-loader names the type relative to the package. */
function requestTypeName(method: grpc.MethodDefinition<unknown, unknown>): string {
  const type = (method as { requestType?: { type?: { name?: string } } }).requestType?.type?.name;
  if (!type) throw new Error(`${method.path} has no request type in the package definition`);
  const pkg = method.path.slice(1, method.path.lastIndexOf('.'));
  return `${pkg}.${type}`;
}
