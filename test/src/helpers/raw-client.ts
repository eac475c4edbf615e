/**
 * The generated grpc-js client, with promise wrappers, for tests that must see exactly what the
 * agent sends (the client stub would hide faults by falling back to remote).
 */
import * as grpc from '@grpc/grpc-js';
import { crc32c } from '@checkpoint-cache/checksum';
import {
  checkpointCacheClientConstructor,
  type CheckpointCacheClient,
  type ReadHeader__Output,
  type ReadRequest,
  type WriteHeader,
  type WriteRequest,
  type WriteResponse__Output,
} from '@checkpoint-cache/proto';

export type RawClient = CheckpointCacheClient;

export function rawClient(address: string): RawClient {
  const Client = checkpointCacheClientConstructor();
  return new Client(address, grpc.credentials.createInsecure(), {
    'grpc-node.flow_control_window': 8 * 1024 * 1024,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
}

export function unary<Req, Res>(
  client: RawClient,
  method:
    | 'stat'
    | 'touch'
    | 'delete'
    | 'deletePrefix'
    | 'list'
    | 'release'
    | 'lease'
    | 'reportCorrupt'
    | 'ingest'
    | 'writeBatch',
  request: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (
      client[method] as unknown as (
        r: Req,
        cb: (err: grpc.ServiceError | null, res?: Res) => void,
      ) => void
    ).bind(client);
    fn(request, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

/** Sends a header and the data in chunks of `chunkSize` (with CRC32C), or custom messages. */
export function writeEntry(
  client: RawClient,
  header: WriteHeader | undefined,
  data: Buffer,
  options: { chunkSize?: number; messages?: WriteRequest[]; cancelAfter?: number } = {},
): Promise<WriteResponse__Output> {
  return new Promise((resolve, reject) => {
    const call = client.write((err, res) =>
      err ? reject(err) : resolve(res as WriteResponse__Output),
    );
    const messages: WriteRequest[] = options.messages ?? [];
    if (!options.messages) {
      if (header) messages.push({ header });
      const size = options.chunkSize ?? 64 * 1024;
      for (let o = 0; o < data.length; o += size) {
        const part = data.subarray(o, o + size);
        messages.push({ chunk: { offset: o, data: part, crc32c: crc32c(part) } });
      }
    }
    messages.forEach((m, i) => {
      if (options.cancelAfter !== undefined && i === options.cancelAfter) call.cancel();
      if (options.cancelAfter === undefined || i < options.cancelAfter) call.write(m);
    });
    if (options.cancelAfter === undefined) call.end();
  });
}

export interface ReadResult {
  header: ReadHeader__Output | undefined;
  chunks: { offset: number; length: number; crc32c: number | undefined }[];
  data: Buffer;
}

/** Reads a whole stream; rejects with the ServiceError it ended with (partial result attached). */
export function readEntry(client: RawClient, request: ReadRequest): Promise<ReadResult> {
  return new Promise((resolve, reject) => {
    const result: ReadResult = { header: undefined, chunks: [], data: Buffer.alloc(0) };
    const parts: Buffer[] = [];
    const call = client.read(request);
    call.on('data', (msg) => {
      if (msg.header) result.header = msg.header;
      if (msg.chunk) {
        parts.push(msg.chunk.data);
        result.chunks.push({
          offset: msg.chunk.offset,
          length: msg.chunk.data.length,
          crc32c: msg.chunk.crc32c ?? undefined,
        });
      }
    });
    call.on('error', (err) => {
      result.data = Buffer.concat(parts);
      Object.assign(err, { partial: result });
      reject(err);
    });
    call.on('end', () => {
      result.data = Buffer.concat(parts);
      resolve(result);
    });
  });
}
