/**
 * One read of an entry: reads the leased file directly (ShortCircuitRead) or streams it from the
 * node agent and, when the agent fails in any way the fallback policy names, continues from the
 * remote store at exactly the next undelivered byte, so the consumer sees every byte once
 * whichever source it came from.
 * Owns: the read's phases (NEXT_PHASES, changed only by `enter`), backpressure between the
 * sources and the consumer, and the whole-entry check at the end. Never: buffering more than the
 * stream's high-water mark plus one chunk, or retrying the agent after it failed once (a second
 * failure mode would only delay the remote read).
 *
 * Longer than this project's ~400-line rule of thumb on purpose: the phases hand the same position,
 * end, counters and timers to each other, and every transition is easier to check in one file than
 * across classes that share that state. What needs no shared state lives elsewhere: the short
 * circuit (short-circuit-read.ts), the header and chunk checks (read-checks.ts), the fallback
 * statuses (fallback-policy.ts).
 */
import { Metadata, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { crc32c, crc32cCombine, formatCrc32c } from '@checkpoint-cache/checksum';
import type {
  CheckpointCacheClient as GrpcClient,
  EntryInfo__Output,
  ReadHeader__Output,
  ReadResponse__Output,
} from '@checkpoint-cache/proto';
import { Readable } from 'node:stream';
import { CheckpointCacheError, statusName } from './checkpoint-cache-error';
import type { ClientDeadlines } from './client-options';
import type { ClientStats } from './client-stats';
import {
  FALLBACK_STATUSES,
  statusOfFault,
  type FallbackReason,
  type LocalReadFault,
  type StatusName,
} from './fallback-policy';
import { checkChunk, headerProblem } from './read-checks';
import { remoteRangeCrc32c, type RemoteStore } from './remote-store';
import { redactUri, RemoteStoreError } from './remote-store-error';
import { ShortCircuitRead } from './short-circuit-read';

/** What the client hands a read; built by CheckpointCacheClient.read. */
export interface ReadPlan {
  grpc: GrpcClient;
  key: string;
  offset: number;
  length: number | undefined;
  maxChunkSize: number;
  remote: { uri: string; store: RemoteStore } | undefined;
  deadlines: Readonly<ClientDeadlines>;
  stats: ClientStats;
  highWaterMark: number | undefined;
  /** Set: try the same-node short circuit first (see CheckpointCacheClientOptions). */
  shortCircuit: { cacheRoot: string | undefined } | undefined;
}

/** Emitted as `fallback` when the read leaves the agent for the remote store. */
export interface FallbackEvent {
  reason: FallbackReason;
  /** Absolute offset in the entry where the remote read starts. */
  offset: number;
  /** What the agent (or the client's own check) failed with. */
  error: Error;
}

type Phase =
  | 'idle'
  /** Reading the leased file directly (same-node short circuit). */
  | 'direct'
  /** Streaming from the agent. */
  | 'local'
  | 'opening-remote'
  | 'remote'
  /** Every byte is delivered; the remote store is read to check them (finish). */
  | 'confirming'
  | 'ended';

/**
 * The phases a read may move to from each phase: forward only, and to 'ended' from anywhere
 * (done, failed or destroyed). The agent's stream may be left for the remote store from 'direct'
 * too: a lease the agent failed (down, hung) says all the stream would.
 */
const NEXT_PHASES: Readonly<Record<Phase, readonly Phase[]>> = {
  idle: ['direct', 'local'],
  direct: ['local', 'opening-remote', 'confirming'],
  local: ['opening-remote', 'confirming'],
  'opening-remote': ['remote'],
  remote: ['confirming'],
  confirming: [],
  ended: [],
};

/**
 * A Readable of the entry's bytes (Buffers). Events besides the usual: `header`
 * (ReadHeader from the agent), `fallback` (FallbackEvent).
 */
export class CheckpointReadStream extends Readable {
  private phase: Phase = 'idle';
  private call: ClientReadableStream<ReadResponse__Output> | undefined;
  private remoteStream: Readable | undefined;
  /** Absolute offset of the next byte the consumer gets. */
  private position: number;
  /** Absolute end (exclusive) once known: from the requested length or the agent's header. */
  private end: number | undefined;
  private header: ReadHeader__Output | undefined;
  /** CRC32C of everything delivered, kept when the read covers the whole entry. */
  private wholeCrc: number | undefined;
  private firstMessageTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private fromCache = 0;
  private fromRemote = 0;
  private fallbackEvent: FallbackEvent | undefined;
  private direct: ShortCircuitRead | undefined;
  /** pumpDirect is running (it is re-entered from _read). */
  private pumping = false;
  /** `header` is emitted once per read, whichever phase describes the entry first. */
  private headerEmitted = false;
  /** The entry as the lease or the agent's header described it. */
  private knownEntry: EntryInfo__Output | undefined;
  /** Range asked of the agent by the local phase (it starts where a short circuit stopped). */
  private localOffset = 0;
  private localLength: number | undefined;

  constructor(private readonly plan: ReadPlan) {
    super(plan.highWaterMark === undefined ? {} : { highWaterMark: plan.highWaterMark });
    this.position = plan.offset;
    this.end = plan.length === undefined ? undefined : plan.offset + plan.length;
    plan.stats.readStarted();
  }

  /** Bytes delivered so far that came from the node agent. */
  get bytesFromCache(): number {
    return this.fromCache;
  }

  /** Bytes delivered so far that came from the remote store. */
  get bytesFromRemote(): number {
    return this.fromRemote;
  }

  /** Set once the read has left the agent. */
  get fallback(): FallbackEvent | undefined {
    return this.fallbackEvent;
  }

  /** The entry as the agent described it, when it sent a header. */
  get entry(): EntryInfo__Output | undefined {
    return this.header?.entry ?? this.knownEntry;
  }

  /** Bytes the read will deliver, once known (requested length, or the agent's header). */
  get expectedLength(): number | undefined {
    return this.end === undefined ? undefined : this.end - this.plan.offset;
  }

  override _read(): void {
    switch (this.phase) {
      case 'idle':
        if (this.plan.shortCircuit) void this.startDirect(this.plan.shortCircuit);
        else this.startLocal();
        break;
      case 'direct':
        void this.pumpDirect();
        break;
      case 'local':
        if (this.call?.isPaused()) {
          this.call.resume();
          if (this.firstMessageTimer === undefined) this.armIdleTimer();
        }
        break;
      case 'remote':
        this.remoteStream?.resume();
        break;
      default:
        break;
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.clearTimers();
    this.abandonCall();
    this.closeDirect();
    this.remoteStream?.destroy();
    if (err) this.plan.stats.readFailed();
    this.enter('ended');
    callback(err);
  }

  /**
   * The one place the phase changes. A transition NEXT_PHASES does not allow is a bug in this
   * class: it fails the read (never the process, as a throw from an event handler would).
   */
  private enter(next: Phase): void {
    if (next !== 'ended' && !NEXT_PHASES[this.phase].includes(next)) {
      this.destroy(
        new CheckpointCacheError(
          status.INTERNAL,
          `client bug: a read moved from ${this.phase} to ${next}`,
          'Read',
          { key: this.plan.key },
        ),
      );
      return;
    }
    this.phase = next;
  }

  // ---- direct phase (same-node short circuit) -----------------------------------------------

  private async startDirect(shortCircuit: { cacheRoot: string | undefined }): Promise<void> {
    this.enter('direct');
    const { grpc, key, offset, length } = this.plan;
    let direct: ShortCircuitRead;
    try {
      direct = await ShortCircuitRead.open({
        grpc,
        key,
        offset,
        length,
        cacheRoot: shortCircuit.cacheRoot,
        leaseDeadlineMs: this.plan.deadlines.firstMessageMs,
      });
    } catch (err) {
      const code = (err as Partial<ServiceError>).code;
      if (this.destroyed) return;
      this.plan.stats.shortCircuitMissed();
      if (
        typeof code === 'number' &&
        code !== status.UNIMPLEMENTED &&
        code !== status.NOT_FOUND &&
        FALLBACK_STATUSES.has(code)
      ) {
        // The agent itself failed the lease (down, hung): asking it again with Read would only
        // delay the remote read by another deadline.
        this.agentFailed(statusName(code) as StatusName, err as ServiceError);
      } else {
        // No file to read here, an entry this node does not hold (the agent's Read may still
        // serve it from another node's agent: a peer read), an agent without Lease, or a lease
        // refused with FAILED_PRECONDITION (an entry this client may not read from its file):
        // the agent's stream answers.
        this.startLocal();
      }
      return;
    }
    if (this.destroyed) {
      direct.close();
      return;
    }
    this.direct = direct;
    this.knownEntry = direct.entry;
    this.end = direct.end;
    if (offset === 0 && direct.end === direct.entry.size) this.wholeCrc = 0;
    this.headerEmitted = true;
    this.emit('header', {
      entry: direct.entry,
      offset,
      length: direct.end - offset,
      source: 'SOURCE_LOCAL_DISK',
    });
    await this.pumpDirect();
  }

  /** Reads, verifies and delivers spans until the consumer is full or the range is done. */
  private async pumpDirect(): Promise<void> {
    const direct = this.direct;
    if (!direct || this.pumping) return;
    this.pumping = true;
    try {
      while (this.phase === 'direct' && this.position < direct.end) {
        const span = await direct.next(this.position);
        if (this.phase !== 'direct') return;
        const spanEnd = span.start + span.data.length;
        const slice = span.data.subarray(
          this.position - span.start,
          Math.min(direct.end, spanEnd) - span.start,
        );
        this.plan.stats.shortCircuited(slice.length);
        const whole = slice.length === span.data.length;
        if (!this.deliver(slice, 'cache', whole ? span.crc32c : undefined)) return;
      }
      if (this.phase === 'direct') {
        this.closeDirect();
        this.finish();
      }
    } catch {
      // Whatever went wrong (file removed, truncated, corrupt), the agent's own stream decides:
      // it serves the rest, or answers with the status the fallback policy acts on.
      if (this.phase === 'direct') {
        this.closeDirect();
        this.plan.stats.shortCircuitMissed();
        this.startLocal();
      }
    } finally {
      this.pumping = false;
    }
  }

  private closeDirect(): void {
    this.direct?.close();
    this.direct = undefined;
  }

  // ---- local phase -------------------------------------------------------------------------

  private startLocal(): void {
    this.enter('local');
    const { grpc, key, maxChunkSize } = this.plan;
    // From where the short circuit stopped, if it ran; else the range asked for.
    const offset = this.position;
    const length = this.end === undefined ? this.plan.length : this.end - this.position;
    this.localOffset = offset;
    this.localLength = length;
    const call = grpc.read({ key, offset, length, maxChunkSize });
    this.call = call;
    call.on('data', (message: ReadResponse__Output) => {
      if (this.call === call) this.onMessage(call, message);
    });
    call.on('end', () => {
      if (this.call === call) this.onLocalEnd();
    });
    // Kept for the call's whole life: grpc-js emits CANCELLED after our own cancel().
    call.on('error', (err: ServiceError) => {
      if (this.call === call) this.onLocalError(err);
    });
    this.firstMessageTimer = setTimeout(() => {
      this.firstMessageTimer = undefined;
      this.agentFailed(
        'FIRST_MESSAGE_TIMEOUT',
        `no header from the agent within ${this.plan.deadlines.firstMessageMs} ms`,
      );
    }, this.plan.deadlines.firstMessageMs);
  }

  private onMessage(
    call: ClientReadableStream<ReadResponse__Output>,
    message: ReadResponse__Output,
  ): void {
    if (message.header) {
      this.onHeader(message.header);
    } else if (message.chunk) {
      if (this.header === undefined) {
        this.agentFailed('PROTOCOL_ERROR', 'chunk before the header');
        return;
      }
      const check = checkChunk(message.chunk, this.position, this.end);
      if (!check.ok) {
        this.agentFailed(check.fault, check.detail);
        return;
      }
      if (!this.deliver(message.chunk.data, 'cache', check.crc32c)) {
        call.pause();
        this.clearIdleTimer();
        return;
      }
    } else {
      this.agentFailed('PROTOCOL_ERROR', 'message with neither header nor chunk');
      return;
    }
    if (this.call === call) this.armIdleTimer();
  }

  private onHeader(header: ReadHeader__Output): void {
    if (this.header !== undefined) {
      this.agentFailed('PROTOCOL_ERROR', 'second header');
      return;
    }
    clearTimeout(this.firstMessageTimer);
    this.firstMessageTimer = undefined;
    const offset = this.localOffset;
    const entry = header.entry;
    const problem = headerProblem(header, offset, this.localLength);
    if (problem !== undefined) {
      this.agentFailed('BAD_HEADER', problem);
      return;
    }
    this.header = header;
    this.end = offset + header.length;
    if (entry && this.wholeCrc === undefined && offset === 0 && header.length === entry.size) {
      this.wholeCrc = 0;
    }
    this.knownEntry = entry ?? this.knownEntry;
    // Once per read: a short circuit that fell back to streaming has already described the entry.
    if (!this.headerEmitted) {
      this.headerEmitted = true;
      this.emit('header', header);
    }
  }

  private onLocalEnd(): void {
    if (this.end === undefined || this.header === undefined) {
      this.agentFailed('PROTOCOL_ERROR', 'stream ended without a header');
    } else if (this.position < this.end) {
      this.agentFailed(
        'ENDED_EARLY',
        `stream ended at offset ${this.position}, header promised up to ${this.end}`,
      );
    } else {
      this.abandonCall();
      this.finish();
    }
  }

  private onLocalError(err: ServiceError): void {
    if (!FALLBACK_STATUSES.has(err.code)) {
      this.abandonCall();
      this.destroy(CheckpointCacheError.fromServiceError(err, 'Read', this.plan.key));
      return;
    }
    this.agentFailed(statusName(err.code) as StatusName, err);
  }

  /**
   * The agent failed (its stream, or the lease of a short circuit): continue from the remote
   * store, or fail the read when there is none. Only the first failure counts.
   */
  private agentFailed(reason: FallbackReason, cause: ServiceError | string): void {
    if (this.phase !== 'local' && this.phase !== 'direct') return;
    this.clearTimers();
    this.abandonCall();
    const error =
      typeof cause === 'string'
        ? new CheckpointCacheError(statusOfFault(reason as LocalReadFault), cause, 'Read', {
            key: this.plan.key,
          })
        : CheckpointCacheError.fromServiceError(cause, 'Read', this.plan.key);
    if (this.end !== undefined && this.position === this.end) {
      // Every byte already arrived verified; only the stream's end went wrong.
      this.finish();
      return;
    }
    if (!this.plan.remote) {
      this.destroy(error);
      return;
    }
    this.fallbackEvent = { reason, offset: this.position, error };
    this.plan.stats.fellBack(reason);
    this.emit('fallback', this.fallbackEvent);
    void this.openRemote(this.plan.remote);
  }

  private abandonCall(): void {
    const call = this.call;
    if (!call) return;
    this.call = undefined;
    call.cancel();
  }

  // ---- remote phase ------------------------------------------------------------------------

  private async openRemote(remote: { uri: string; store: RemoteStore }): Promise<void> {
    this.enter('opening-remote');
    const from = this.position;
    const length = this.end === undefined ? undefined : this.end - from;
    let stream: Readable;
    try {
      stream = await remote.store.open(remote.uri, from, length);
    } catch (err) {
      this.destroy(this.remoteError(err, from));
      return;
    }
    if (this.destroyed) {
      stream.destroy();
      return;
    }
    this.enter('remote');
    this.remoteStream = stream;
    stream.on('data', (data: Buffer | string) => {
      const buffer = typeof data === 'string' ? Buffer.from(data) : data;
      if (this.end !== undefined && this.position + buffer.length > this.end) {
        this.destroy(
          new RemoteStoreError(
            'LENGTH_MISMATCH',
            `${redactUri(remote.uri)} returned more bytes than the range ${from}..${this.end}`,
          ),
        );
        return;
      }
      if (!this.deliver(buffer, 'remote')) stream.pause();
    });
    stream.on('end', () => this.finish());
    stream.on('error', (err) => this.destroy(this.remoteError(err, from)));
    // 'data' listeners start the flow; pause until the consumer asks if it is already full.
    if (this.readableLength >= this.readableHighWaterMark) stream.pause();
  }

  private remoteError(err: unknown, from: number): Error {
    const reason = this.fallbackEvent?.reason ?? 'unknown';
    const text = `reading ${redactUri(this.plan.remote?.uri ?? '')} from offset ${from} after the cache failed (${reason}): ${(err as Error).message}`;
    return new RemoteStoreError(err instanceof RemoteStoreError ? err.code : 'IO', text, {
      cause: err,
    });
  }

  // ---- both --------------------------------------------------------------------------------

  /** Hands `data` to the consumer; `chunkCrc` (already verified) spares hashing it again. */
  private deliver(data: Buffer, source: 'cache' | 'remote', chunkCrc?: number): boolean {
    this.position += data.length;
    if (source === 'cache') this.fromCache += data.length;
    else this.fromRemote += data.length;
    this.plan.stats.delivered(source, data.length);
    if (this.wholeCrc !== undefined) {
      this.wholeCrc =
        chunkCrc === undefined
          ? crc32c(data, this.wholeCrc)
          : crc32cCombine(this.wholeCrc, chunkCrc, data.length);
    }
    return this.push(data);
  }

  private finish(): void {
    if (this.destroyed || this.phase === 'ended') return;
    this.clearTimers();
    if (this.end !== undefined && this.position !== this.end) {
      this.destroy(
        new RemoteStoreError(
          'LENGTH_MISMATCH',
          `read of ${JSON.stringify(this.plan.key)} ended at offset ${this.position}, expected ${this.end}`,
        ),
      );
      return;
    }
    const entry = this.header?.entry ?? this.knownEntry;
    if (this.wholeCrc !== undefined && entry && this.wholeCrc !== entry.crc32c) {
      this.wholeEntryMismatch(entry, this.wholeCrc);
      return;
    }
    this.enter('ended');
    this.push(null);
  }

  /**
   * Every chunk (or block) verified, yet the CRC32C of all the bytes is not the entry's: the
   * agent's description of the entry is wrong, or the cache holds another version of the file than
   * the remote store. The bytes are already with the consumer, so the remote store decides: the
   * same bytes there end the read normally, other bytes fail it with DATA_LOSS (never a silent
   * wrong answer; the caller's retry then reads the remote store, since the agent is told).
   */
  private wholeEntryMismatch(entry: EntryInfo__Output, delivered: number): void {
    const detail =
      `whole-entry CRC32C ${formatCrc32c(delivered)} differs from the entry's ` +
      `${formatCrc32c(entry.crc32c)}`;
    if (this.fromCache > 0) this.reportCorrupt(entry.crc32c, delivered);
    const remote = this.plan.remote;
    const dataLoss = (message: string): CheckpointCacheError =>
      new CheckpointCacheError(status.DATA_LOSS, message, 'Read', { key: this.plan.key });
    if (!remote) {
      const where =
        this.fromRemote > 0
          ? 'the remote store holds other bytes than the cache'
          : 'the cached bytes are inconsistent';
      this.destroy(dataLoss(`${detail} (${where})`));
      return;
    }
    const error = dataLoss(detail);
    this.enter('confirming');
    this.fallbackEvent = { reason: 'WHOLE_CHECKSUM_MISMATCH', offset: this.plan.offset, error };
    this.plan.stats.fellBack('WHOLE_CHECKSUM_MISMATCH');
    this.emit('fallback', this.fallbackEvent);
    void this.confirmWithRemote(remote, delivered);
  }

  /** Reads the whole range from the remote store and ends the read if it holds the same bytes. */
  private async confirmWithRemote(
    remote: { uri: string; store: RemoteStore },
    delivered: number,
  ): Promise<void> {
    const from = this.plan.offset;
    let crc: number;
    try {
      crc = await remoteRangeCrc32c(
        remote.store,
        remote.uri,
        from,
        (this.end ?? from) - from,
        (stream) => {
          this.remoteStream = stream;
          if (this.destroyed) stream.destroy();
        },
      );
    } catch (err) {
      this.destroy(this.remoteError(err, from));
      return;
    }
    if (this.destroyed) return;
    if (crc !== delivered) {
      this.destroy(
        new CheckpointCacheError(
          status.DATA_LOSS,
          `the cache delivered bytes (CRC32C ${formatCrc32c(delivered)}) that differ from ` +
            `${redactUri(remote.uri)} (CRC32C ${formatCrc32c(crc)}); the cached copy was reported ` +
            'to the agent: read again to get the remote bytes',
          'Read',
          { key: this.plan.key },
        ),
      );
      return;
    }
    this.enter('ended');
    this.push(null);
  }

  /** Best effort: tells the agent so it quarantines the copy; the read never waits for it. */
  private reportCorrupt(entryCrc32c: number, observedCrc32c: number): void {
    this.plan.grpc.reportCorrupt(
      { key: this.plan.key, entryCrc32c, observedCrc32c },
      new Metadata(),
      { deadline: Date.now() + this.plan.deadlines.firstMessageMs },
      () => undefined,
    );
  }

  private armIdleTimer(): void {
    this.clearIdleTimer();
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.agentFailed(
        'IDLE_TIMEOUT',
        `no message from the agent for ${this.plan.deadlines.idleMs} ms`,
      );
    }, this.plan.deadlines.idleMs);
  }

  private clearIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private clearTimers(): void {
    clearTimeout(this.firstMessageTimer);
    this.firstMessageTimer = undefined;
    this.clearIdleTimer();
  }
}
