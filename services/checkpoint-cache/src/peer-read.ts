/**
 * A Read that missed on this node, served from a peer through PeerFill: the header once the first
 * peer answered (source SOURCE_PEER), then the requested range of its verified chunks, re-cut to
 * the caller's chunk size (a cut piece gets its own CRC32C), with the call's backpressure.
 * Owns: the range and the framing of a peer-served read. Never: which peer, what a chunk is worth
 * or storing the copy (PeerFill does).
 */
import type * as grpc from '@grpc/grpc-js';
import type { PeerFill, PeerFillResult } from '@checkpoint-cache/cache';
import { crc32c } from '@checkpoint-cache/checksum';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { Logger } from '@checkpoint-cache/logger';
import type { ReadRequest__Output, ReadResponse } from '@checkpoint-cache/proto';
import { drained } from './drained';
import { toProtoEntry } from './proto-entry';

/** `sent(n)` is called for every chunk handed to grpc-js. */
export async function servePeerRead(
  call: grpc.ServerWritableStream<ReadRequest__Output, ReadResponse>,
  peerFill: PeerFill,
  maxChunk: number,
  sent: (bytes: number) => void,
  logger: Logger,
): Promise<PeerFillResult> {
  const req = call.request;
  let start = 0;
  let end = 0;
  let size = 0;
  // Once a range that ends before the entry does is sent, its call ends while the fill goes on
  // to the end of the entry in the background (a small range of a large file does not wait for
  // all of it). A range to the end waits for the copy to be stored: the next read is local.
  let served = false;
  let rangeServed: () => void = () => undefined;
  const rangeDone = new Promise<'streamed'>((resolve) => {
    rangeServed = () => {
      served = true;
      resolve('streamed');
    };
  });
  const fetching = peerFill.fetch(req.key, {
    header: async (entry) => {
      start = req.offset;
      const length = req.length ?? entry.size - start;
      if (start > entry.size || start + length > entry.size) {
        throw new CacheError(
          ErrorCode.InvalidArgument,
          `range ${start}+${length} is past the end of ${req.key} (${entry.size} bytes)`,
        );
      }
      end = start + length;
      const header: ReadResponse = {
        header: { entry: toProtoEntry(entry), offset: start, length, source: 'SOURCE_PEER' },
      };
      if (!call.write(header)) await drained(call);
      size = entry.size;
      if (length === 0 && end < size) rangeServed();
    },
    chunk: async (chunk) => {
      if (served) return;
      if (call.cancelled) {
        throw new CacheError(ErrorCode.Cancelled, 'the reader cancelled');
      }
      const from = Math.max(start, chunk.offset);
      const to = Math.min(end, chunk.offset + chunk.data.length);
      for (let o = from; o < to; o += maxChunk) {
        const whole = o === chunk.offset && Math.min(to, o + maxChunk) - o === chunk.data.length;
        const data = chunk.data.subarray(
          o - chunk.offset,
          Math.min(to, o + maxChunk) - chunk.offset,
        );
        const message: ReadResponse = {
          chunk: { offset: o, data, crc32c: whole ? chunk.crc32c : crc32c(data) >>> 0 },
        };
        sent(data.length);
        if (!call.write(message)) await drained(call);
      }
      if (to >= end && end < size) rangeServed();
    },
  });
  const result = await Promise.race([fetching, rangeDone]);
  if (served) {
    fetching.catch((error: unknown) => {
      logger.info('entry read from a peer is not stored here', { key: req.key, error });
    });
  }
  return result;
}
