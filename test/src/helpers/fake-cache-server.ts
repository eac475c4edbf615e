/**
 * A real grpc-js server on 127.0.0.1:0 implementing checkpointcache.v1.CheckpointCache from an
 * in-memory map, with scripted read faults (miss, status mid-stream, dropped connection, bad
 * chunk CRC or offset, early end, hang) and scripted leases (a hand-made LeaseResponse, e.g. one
 * pointing into a file that other bytes share, or a status). It is for fault injection against
 * the client stub only; the agent's own behaviour is tested against the real agent.
 *
 * Clients connect through a TCP proxy in front of the server (`address`), so a test can drop the
 * connection the way a crashed agent does; `directAddress` bypasses it.
 */
import * as grpc from '@grpc/grpc-js';
import { crc32c } from '@checkpoint-cache/checksum';
import {
  checkpointCacheServiceDefinition,
  type EntryInfo,
  type LeaseRequest__Output,
  type LeaseResponse,
  type ReadRequest__Output,
  type ReadResponse,
  type ReportCorruptRequest__Output,
  type WriteRequest__Output,
} from '@checkpoint-cache/proto';
import * as net from 'node:net';

export type ReadFault =
  /** Header, then exactly `afterBytes` bytes, then this status. */
  | { kind: 'status'; afterBytes: number; code: grpc.status; details?: string }
  /** Header, then `afterBytes` bytes, then the TCP connection closes (the agent died). */
  | { kind: 'drop-connection'; afterBytes: number }
  /** Chunk number `chunk` (0-based) carries a wrong CRC32C. */
  | { kind: 'bad-crc'; chunk: number }
  /** Chunk number `chunk` claims an offset one byte further than it is. */
  | { kind: 'bad-offset'; chunk: number }
  /** Header, then `afterBytes` bytes, then an OK status. */
  | { kind: 'end-early'; afterBytes: number }
  /** Never sends anything. */
  | { kind: 'hang-before-header' }
  /** Header, then `afterBytes` bytes, then nothing. */
  | { kind: 'hang'; afterBytes: number };

export interface StoredEntry {
  data: Buffer;
  jobId?: string;
  checkpointIds?: number[];
  /** Read faults, applied in order to successive reads of the entry; later reads are clean. */
  faults?: ReadFault[];
  chunkSize?: number;
  /** The whole-entry CRC32C the server claims; default: the right one. */
  claimedCrc32c?: number;
}

/** What Lease answers for a key: the lease as the test made it, or a status. */
export type ScriptedLease = LeaseResponse | { code: grpc.status; details?: string };

export interface RecordedWrite {
  messages: WriteRequest__Output[];
  status: grpc.status;
}

export interface RecordedRead {
  request: ReadRequest__Output;
  /** Payload bytes handed to grpc-js so far. */
  bytesSent: number;
  cancelled: boolean;
}

export class FakeCacheServer {
  readonly entries = new Map<string, StoredEntry>();
  readonly reads: RecordedRead[] = [];
  readonly writes: RecordedWrite[] = [];
  readonly corruptReports: ReportCorruptRequest__Output[] = [];
  /** Lease answers by key; a key without one is UNIMPLEMENTED (an agent without Lease). */
  readonly leases = new Map<string, ScriptedLease>();
  readonly leaseRequests: LeaseRequest__Output[] = [];
  /** When set, every Write ends with this status after reading the whole stream. */
  writeFailure: { code: grpc.status; details: string } | undefined;
  /** When set, the Write handler stops reading the stream for this long after the header. */
  writeStallMs = 0;

  private server: grpc.Server | undefined;
  private proxy: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private proxied = { bytes: 0, at: 0 };
  private grpcPort = 0;
  private proxyPort = 0;

  /** Through the proxy. */
  get address(): string {
    return `127.0.0.1:${this.proxyPort}`;
  }

  get directAddress(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  static async start(): Promise<FakeCacheServer> {
    const fake = new FakeCacheServer();
    await fake.listen();
    return fake;
  }

  put(key: string, entry: StoredEntry): void {
    this.entries.set(key, entry);
  }

  /** Closes every proxied connection as a dying process would (FIN after the data in flight). */
  async dropConnections(): Promise<void> {
    // Let bytes already written by the server reach the client first.
    const settledSince = Date.now();
    while (Date.now() - Math.max(this.proxied.at, settledSince) < 50) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const socket of this.sockets) socket.end();
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server?.forceShutdown();
    await new Promise<void>((resolve) =>
      this.proxy ? this.proxy.close(() => resolve()) : resolve(),
    );
  }

  private async listen(): Promise<void> {
    const server = new grpc.Server();
    server.addService(checkpointCacheServiceDefinition(), {
      Read: (call: grpc.ServerWritableStream<ReadRequest__Output, ReadResponse>) => {
        void this.read(call);
      },
      Write: (
        call: grpc.ServerReadableStream<WriteRequest__Output, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => this.write(call, callback),
      Stat: (
        call: grpc.ServerUnaryCall<{ key: string }, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => this.withEntry(call.request.key, cb, (info) => cb(null, info)),
      Touch: (
        call: grpc.ServerUnaryCall<{ key: string }, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => this.withEntry(call.request.key, cb, (info) => cb(null, info)),
      Delete: (
        call: grpc.ServerUnaryCall<{ key: string }, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => cb(null, { deleted: this.entries.delete(call.request.key) }),
      List: (
        call: grpc.ServerUnaryCall<{ jobId: string; pageSize: number; pageToken: string }, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        const { jobId, pageToken } = call.request;
        const pageSize = call.request.pageSize || 100;
        const keys = [...this.entries.keys()]
          .filter((k) => !jobId || this.entries.get(k)?.jobId === jobId)
          .filter((k) => k > pageToken)
          .sort();
        const page = keys.slice(0, pageSize);
        cb(null, {
          entries: page.map((k) => this.info(k)),
          nextPageToken: keys.length > pageSize ? page[page.length - 1] : '',
        });
      },
      Release: (
        call: grpc.ServerUnaryCall<{ jobId: string }, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        if (!call.request.jobId) {
          cb({ code: grpc.status.INVALID_ARGUMENT, details: 'job_id is empty' });
          return;
        }
        let releasedEntries = 0;
        let releasedBytes = 0;
        for (const [key, entry] of this.entries) {
          if (entry.jobId !== call.request.jobId) continue;
          this.entries.delete(key);
          releasedEntries++;
          releasedBytes += entry.data.length;
        }
        cb(null, { releasedEntries, releasedBytes });
      },
      Lease: (
        call: grpc.ServerUnaryCall<LeaseRequest__Output, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        this.leaseRequests.push(call.request);
        const lease = this.leases.get(call.request.key);
        if (!lease) cb({ code: grpc.status.UNIMPLEMENTED, details: 'no lease scripted' });
        else if ('code' in lease) cb({ code: lease.code, details: lease.details ?? 'scripted' });
        else cb(null, lease);
      },
      ReportCorrupt: (
        call: grpc.ServerUnaryCall<ReportCorruptRequest__Output, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        this.corruptReports.push(call.request);
        cb(null, { quarantined: this.entries.delete(call.request.key) });
      },
    });
    this.grpcPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      );
    });
    this.server = server;

    this.proxy = net.createServer((client) => {
      const upstream = net.connect(this.grpcPort, '127.0.0.1');
      this.sockets.add(client);
      this.sockets.add(upstream);
      upstream.on('data', (data: Buffer) => {
        this.proxied.bytes += data.length;
        this.proxied.at = Date.now();
      });
      client.pipe(upstream);
      upstream.pipe(client);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('close', close);
      upstream.on('close', close);
      client.on('error', close);
      upstream.on('error', close);
    });
    await new Promise<void>((resolve) => this.proxy?.listen(0, '127.0.0.1', resolve));
    this.proxyPort = (this.proxy.address() as net.AddressInfo).port;
  }

  private info(key: string): EntryInfo {
    const entry = this.entries.get(key) as StoredEntry;
    return {
      key,
      jobId: entry.jobId ?? '',
      checkpointIds: entry.checkpointIds ?? [],
      size: entry.data.length,
      crc32c: entry.claimedCrc32c ?? crc32c(entry.data),
      createdAtMs: 1,
      lastAccessMs: 2,
      ttlMs: 60_000,
      nodeId: 'fake-node',
    };
  }

  private withEntry(
    key: string,
    cb: grpc.sendUnaryData<unknown>,
    then: (info: EntryInfo) => void,
  ): void {
    if (!key) cb({ code: grpc.status.INVALID_ARGUMENT, details: 'key is empty' });
    else if (!this.entries.has(key))
      cb({ code: grpc.status.NOT_FOUND, details: `${key} is not cached` });
    else then(this.info(key));
  }

  private async read(
    call: grpc.ServerWritableStream<ReadRequest__Output, ReadResponse>,
  ): Promise<void> {
    const request = call.request;
    const record: RecordedRead = { request, bytesSent: 0, cancelled: false };
    this.reads.push(record);
    call.on('cancelled', () => (record.cancelled = true));
    const entry = this.entries.get(request.key);
    if (!entry) {
      endWithStatus(call, grpc.status.NOT_FOUND, `${request.key} is not cached`);
      return;
    }
    const fault = entry.faults?.shift();
    const size = entry.data.length;
    const length = request.length ?? size - request.offset;
    if (request.offset > size || request.offset + length > size) {
      const details = `range ${request.offset}+${length} is past the end (${size})`;
      endWithStatus(call, grpc.status.INVALID_ARGUMENT, details);
      return;
    }
    if (fault?.kind === 'hang-before-header') return;

    const send = async (message: ReadResponse): Promise<void> => {
      if (!call.write(message)) await new Promise((resolve) => call.once('drain', resolve));
    };
    await send({
      header: {
        entry: this.info(request.key),
        offset: request.offset,
        length,
        source: 'SOURCE_LOCAL_DISK',
      },
    });
    const stopAt =
      fault && 'afterBytes' in fault
        ? Math.min(request.offset + fault.afterBytes, request.offset + length)
        : undefined;
    const chunkSize = Math.min(entry.chunkSize ?? 64 * 1024, request.maxChunkSize || Infinity);
    const end = request.offset + length;
    let index = 0;
    for (let at = request.offset; at < (stopAt ?? end); index++) {
      if (record.cancelled) return;
      const data = entry.data.subarray(at, Math.min(at + chunkSize, stopAt ?? end));
      let crc = crc32c(data);
      let offset = at;
      if (fault?.kind === 'bad-crc' && fault.chunk === index) crc = (crc + 1) >>> 0;
      if (fault?.kind === 'bad-offset' && fault.chunk === index) offset += 1;
      await send({ chunk: { offset, data, crc32c: crc } });
      record.bytesSent += data.length;
      at += data.length;
    }
    switch (fault?.kind) {
      case 'status':
        endWithStatus(call, fault.code, fault.details ?? 'injected fault');
        return;
      case 'drop-connection':
        await this.dropConnections();
        return;
      case 'hang':
        return;
      default:
        call.end();
    }
  }

  private write(
    call: grpc.ServerReadableStream<WriteRequest__Output, unknown>,
    callback: grpc.sendUnaryData<unknown>,
  ): void {
    const record: RecordedWrite = { messages: [], status: grpc.status.OK };
    this.writes.push(record);
    const parts: Buffer[] = [];
    let received = 0;
    let failed = false;
    const fail = (code: grpc.status, details: string): void => {
      if (failed) return;
      failed = true;
      record.status = code;
      callback({ code, details });
    };
    call.on('data', (message: WriteRequest__Output) => {
      record.messages.push(message);
      if (failed) return;
      if (record.messages.length === 1) {
        if (!message.header) fail(grpc.status.INVALID_ARGUMENT, 'first message is not a header');
        else if (this.writeStallMs > 0) {
          call.pause();
          setTimeout(() => call.resume(), this.writeStallMs);
        }
        return;
      }
      const chunk = message.chunk;
      if (!chunk) return fail(grpc.status.INVALID_ARGUMENT, 'second header');
      if (chunk.offset !== received) return fail(grpc.status.INVALID_ARGUMENT, 'chunk offset');
      if (chunk.crc32c !== undefined && chunk.crc32c !== crc32c(chunk.data)) {
        return fail(grpc.status.INVALID_ARGUMENT, 'chunk crc32c');
      }
      parts.push(chunk.data);
      received += chunk.data.length;
    });
    call.on('error', () => (record.status = grpc.status.CANCELLED));
    call.on('end', () => {
      if (failed) return;
      const header = record.messages[0]?.header;
      if (!header) return fail(grpc.status.INVALID_ARGUMENT, 'no header');
      if (this.writeFailure) return fail(this.writeFailure.code, this.writeFailure.details);
      const data = Buffer.concat(parts);
      if (header.size !== undefined && header.size !== data.length) {
        return fail(grpc.status.FAILED_PRECONDITION, `size ${data.length} != ${header.size}`);
      }
      if (header.crc32c !== undefined && header.crc32c !== crc32c(data)) {
        return fail(grpc.status.FAILED_PRECONDITION, 'crc32c mismatch');
      }
      const existing = this.entries.get(header.key);
      if (existing && !existing.data.equals(data)) {
        return fail(grpc.status.ALREADY_EXISTS, 'different content');
      }
      this.entries.set(header.key, {
        data,
        jobId: header.jobId,
        checkpointIds: [header.checkpointId],
      });
      callback(null, { entry: this.info(header.key), created: !existing });
    });
  }
}

/** Ends a server stream with a status, after the messages already written. */
function endWithStatus(
  call: grpc.ServerWritableStream<unknown, unknown>,
  code: grpc.status,
  details: string,
): void {
  call.emit('error', Object.assign(new Error(details), { code, details }));
}
