/**
 * How the bench reads, whatever the source: open a stream, time it to its end while discarding
 * the bytes, or time its first byte. Every scenario goes through these so that all sources pay
 * the same consumer cost ('data' listener, no copies, no hashing beyond what a source does
 * itself).
 * Owns: timing and discarding. Never: deciding what is measured (ThroughputBench does).
 */
import { createReadStream, promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';

export interface Transfer {
  bytes: number;
  seconds: number;
}

export function megabytesPerSecond(t: Transfer): number {
  return t.bytes / 1e6 / t.seconds;
}

/** Reads `open()`'s stream to its end, discarding the bytes; the clock starts before `open`. */
export async function timeTransfer(open: () => Readable | Promise<Readable>): Promise<Transfer> {
  const started = process.hrtime.bigint();
  const bytes = await consume(await open());
  return { bytes, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** Milliseconds from calling `open` to the stream's first byte; the rest is read and discarded. */
export async function timeFirstByte(open: () => Readable | Promise<Readable>): Promise<number> {
  const started = process.hrtime.bigint();
  const stream = await open();
  let firstAt: bigint | undefined;
  stream.once('data', () => {
    firstAt = process.hrtime.bigint();
  });
  await consume(stream);
  if (firstAt === undefined) throw new Error('the stream ended without a byte');
  return Number(firstAt - started) / 1e6;
}

/** Counts and drops every byte; rejects on the stream's error. */
export async function consume(stream: Readable): Promise<number> {
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  await finished(stream);
  return bytes;
}

export function openFile(path: string, highWaterMark: number): Readable {
  return createReadStream(path, { highWaterMark });
}

/** A socket to a RawPipeServer: `host:port` or a Unix socket path. */
export function openSocket(address: string): Readable {
  const colon = address.lastIndexOf(':');
  return address.startsWith('/')
    ? net.connect({ path: address })
    : net.connect({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)) });
}

/** GET `url` (optionally a byte range); rejects unless the status is 200 or 206. */
export function openHttp(
  url: string,
  options: { agent?: http.Agent; range?: { offset: number; length: number } } = {},
): Promise<Readable> {
  const headers: http.OutgoingHttpHeaders = {};
  if (options.range) {
    const { offset, length } = options.range;
    headers.range = `bytes=${offset}-${offset + length - 1}`;
  }
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: options.agent, headers }, (res) => {
      if (res.statusCode !== 200 && res.statusCode !== 206) {
        res.resume();
        reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
        return;
      }
      resolve(res);
    });
    req.on('error', reject);
  });
}

/** Milliseconds of one positioned read of `length` bytes: the disk (page cache) limit. */
export async function timePread(
  handle: fs.FileHandle,
  buffer: Buffer,
  offset: number,
  length: number,
): Promise<number> {
  const started = process.hrtime.bigint();
  const { bytesRead } = await handle.read(buffer, 0, length, offset);
  if (bytesRead !== length) throw new Error(`short read: ${bytesRead} of ${length} bytes`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Runs `work` over `items` with at most `concurrency` at once; resolves when all are done. */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
