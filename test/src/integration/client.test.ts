/**
 * CheckpointCacheClient against a scripted real gRPC server (FakeCacheServer): local reads,
 * every fault that must continue from the remote store at the right offset, backpressure, writes
 * and the unary RPCs.
 */
import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import { entryIdOf } from '@checkpoint-cache/cache';
import { crc32c } from '@checkpoint-cache/checksum';
import {
  CheckpointCacheClient,
  CheckpointCacheError,
  installZeroCopyWrites,
  type CheckpointCacheClientOptions,
  type CheckpointReadStream,
  type FallbackEvent,
  type FallbackReason,
} from '@checkpoint-cache/client';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { FakeCacheServer, type ReadFault } from '../helpers/fake-cache-server';
import { freePort } from '../helpers/free-port';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { waitUntil } from '../helpers/wait-until';
import { RangeHttpServer } from '../helpers/range-http-server';
import { rejection } from '../helpers/rejection';

const CHUNK = 64 * 1024;
const KEY = 'hdfs://nn/flink/ckpt/job-a/chk-7/state-1';

async function readAll(stream: Readable): Promise<Buffer> {
  return buffer(stream);
}

async function failure(stream: Readable): Promise<Error> {
  try {
    await buffer(stream);
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the read to fail');
}

describe('CheckpointCacheClient', function () {
  this.timeout(20_000);
  const data = randomBytes(1_000_003);
  let dir: string;
  let remote: string;
  let fake: FakeCacheServer;
  let client: CheckpointCacheClient;

  /** Short deadlines, for the tests of a hanging agent. */
  const IMPATIENT = { firstMessageMs: 300, idleMs: 300 };

  const makeClient = (options: Partial<CheckpointCacheClientOptions> = {}): CheckpointCacheClient =>
    new CheckpointCacheClient({
      agent: fake.address,
      // Generous, so a busy test machine does not make healthy reads fall back.
      deadlines: { firstMessageMs: 3_000, idleMs: 3_000 },
      ...options,
    });

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ckc-client-'));
    const file = path.join(dir, 'state-1');
    await writeFile(file, data);
    remote = pathToFileURL(file).toString();
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    fake = await FakeCacheServer.start();
    client = makeClient();
  });

  afterEach(async () => {
    client.close();
    await fake.stop();
  });

  describe('read', () => {
    it('streams an entry from the cache, byte-exact, and counts it', async () => {
      fake.put(KEY, { data });
      const stream = client.read(KEY, { remote });
      const headers: unknown[] = [];
      stream.on('header', (h) => headers.push(h));
      expect((await readAll(stream)).equals(data)).to.equal(true);
      expect(stream.bytesFromCache).to.equal(data.length);
      expect(stream.bytesFromRemote).to.equal(0);
      expect(stream.fallback).to.equal(undefined);
      expect(stream.entry?.crc32c).to.equal(crc32c(data));
      expect(headers).to.have.length(1);
      expect(client.stats()).to.deep.include({
        reads: 1,
        failedReads: 0,
        bytesFromCache: data.length,
        bytesFromRemote: 0,
        fallbacks: {},
      });
      expect(fake.reads[0].request).to.include({ key: KEY, offset: 0, maxChunkSize: 0 });
    });

    it('reads ranges and passes the chunk size hint', async () => {
      fake.put(KEY, { data });
      for (const [offset, length] of [
        [0, 0],
        [0, 1],
        [CHUNK - 1, 2],
        [123_457, 300_000],
        [data.length - 5, 5],
      ]) {
        const got = await readAll(client.read(KEY, { offset, length, maxChunkSize: 1000 }));
        expect(got.equals(data.subarray(offset, offset + length)), `${offset}+${length}`).to.equal(
          true,
        );
      }
      const tail = await readAll(client.read(KEY, { offset: 999_000 }));
      expect(tail.equals(data.subarray(999_000))).to.equal(true);
      expect(fake.reads.map((r) => r.request.maxChunkSize)).to.include(1000);
    });

    const faults: { name: string; fault?: ReadFault; reason: FallbackReason; fromCache: number }[] =
      [
        { name: 'a miss (NOT_FOUND)', reason: 'NOT_FOUND', fromCache: 0 },
        {
          name: 'DATA_LOSS mid-stream',
          fault: { kind: 'status', afterBytes: 300_001, code: status.DATA_LOSS },
          reason: 'DATA_LOSS',
          fromCache: 300_001,
        },
        {
          name: 'UNAVAILABLE right after the header',
          fault: { kind: 'status', afterBytes: 0, code: status.UNAVAILABLE },
          reason: 'UNAVAILABLE',
          fromCache: 0,
        },
        {
          name: 'INTERNAL mid-stream',
          fault: { kind: 'status', afterBytes: 5 * CHUNK, code: status.INTERNAL },
          reason: 'INTERNAL',
          fromCache: 5 * CHUNK,
        },
        {
          name: 'CANCELLED by the server',
          fault: { kind: 'status', afterBytes: 1, code: status.CANCELLED },
          reason: 'CANCELLED',
          fromCache: 1,
        },
        {
          name: 'DEADLINE_EXCEEDED from the server',
          fault: { kind: 'status', afterBytes: 777_777, code: status.DEADLINE_EXCEEDED },
          reason: 'DEADLINE_EXCEEDED',
          fromCache: 777_777,
        },
        {
          name: 'a chunk with a wrong CRC32C',
          fault: { kind: 'bad-crc', chunk: 3 },
          reason: 'CHECKSUM_MISMATCH',
          fromCache: 3 * CHUNK,
        },
        {
          name: 'a chunk at the wrong offset',
          fault: { kind: 'bad-offset', chunk: 2 },
          reason: 'OFFSET_MISMATCH',
          fromCache: 2 * CHUNK,
        },
        {
          name: 'an OK status before the end',
          fault: { kind: 'end-early', afterBytes: 500_000 },
          reason: 'ENDED_EARLY',
          fromCache: 500_000,
        },
        {
          name: 'an agent that hangs before the header',
          fault: { kind: 'hang-before-header' },
          reason: 'FIRST_MESSAGE_TIMEOUT',
          fromCache: 0,
        },
        {
          name: 'an agent that hangs mid-stream',
          fault: { kind: 'hang', afterBytes: 200_000 },
          reason: 'IDLE_TIMEOUT',
          fromCache: 200_000,
        },
      ];

    for (const { name, fault, reason, fromCache } of faults) {
      it(`continues from the remote store after ${name}`, async () => {
        if (fault || reason !== 'NOT_FOUND') fake.put(KEY, { data, faults: fault ? [fault] : [] });
        if (reason.endsWith('TIMEOUT')) {
          client.close();
          client = makeClient({ deadlines: IMPATIENT });
        }
        const stream = client.read(KEY, { remote });
        const got = await readAll(stream);
        expect(got.length).to.equal(data.length);
        expect(got.equals(data)).to.equal(true);
        expect(stream.fallback?.reason).to.equal(reason);
        expect(stream.fallback?.offset).to.equal(fromCache);
        expect(stream.bytesFromCache).to.equal(fromCache);
        expect(stream.bytesFromRemote).to.equal(data.length - fromCache);
        expect(client.stats().fallbacks).to.deep.equal({ [reason]: 1 });
      });
    }

    it('continues from the remote store after the connection drops mid-stream', async () => {
      fake.put(KEY, { data, faults: [{ kind: 'drop-connection', afterBytes: 400_009 }] });
      const stream = client.read(KEY, { remote });
      expect((await readAll(stream)).equals(data)).to.equal(true);
      expect(stream.fallback?.reason).to.be.oneOf(['UNAVAILABLE', 'INTERNAL', 'ENDED_EARLY']);
      expect(stream.bytesFromCache).to.equal(400_009);
      expect(stream.bytesFromCache + stream.bytesFromRemote).to.equal(data.length);
    });

    it('continues a range read from the remote store at the right offset', async () => {
      fake.put(KEY, {
        data,
        faults: [{ kind: 'status', afterBytes: 123_457, code: status.DATA_LOSS }],
      });
      const stream = client.read(KEY, { remote, offset: 100_000, length: 500_000 });
      expect((await readAll(stream)).equals(data.subarray(100_000, 600_000))).to.equal(true);
      expect(stream.fallback?.offset).to.equal(223_457);
      expect(stream.bytesFromRemote).to.equal(500_000 - 123_457);
    });

    it('continues from an HTTP remote store with a range GET', async () => {
      const http = await RangeHttpServer.start();
      try {
        http.objects.set('state-1', data);
        fake.put(KEY, { data, faults: [{ kind: 'bad-crc', chunk: 1 }] });
        const stream = client.read(KEY, { remote: http.url('state-1') });
        expect((await readAll(stream)).equals(data)).to.equal(true);
        expect(http.ranges).to.deep.equal([`bytes=${CHUNK}-${data.length - 1}`]);
      } finally {
        await http.stop();
      }
    });

    it('fails with DATA_LOSS when the remote store holds other bytes than the cache', async () => {
      // Differs after the fallback (so the whole CRC32C fails) and also in the part the cache
      // delivered before failing (so the bytes the consumer has are not the remote file's).
      const other = Buffer.from(data);
      other[100_000] ^= 0xff;
      other[900_000] ^= 0xff;
      const otherFile = path.join(dir, 'other');
      await writeFile(otherFile, other);
      fake.put(KEY, {
        data,
        faults: [{ kind: 'status', afterBytes: 300_001, code: status.DATA_LOSS }],
      });
      const err = await failure(client.read(KEY, { remote: otherFile }));
      expect(err).to.be.instanceOf(CheckpointCacheError);
      expect(err).to.include({ code: status.DATA_LOSS });
      expect(err.message).to.match(/delivered bytes .* differ from .*read again/);
    });

    it('ends with the remote bytes when only the part read from the remote store differs', async () => {
      const other = Buffer.from(data);
      other[900_000] ^= 0xff;
      const otherFile = path.join(dir, 'other');
      await writeFile(otherFile, other);
      fake.put(KEY, {
        data,
        faults: [{ kind: 'status', afterBytes: 300_001, code: status.DATA_LOSS }],
      });
      const stream = client.read(KEY, { remote: otherFile });
      expect((await readAll(stream)).equals(other)).to.equal(true);
      // The cached copy is not the remote file's: the agent is told.
      await waitUntil(() => fake.corruptReports.length === 1);
    });

    describe('when the whole entry fails its CRC32C although every chunk verified', () => {
      const wrong = (crc32c(data) ^ 0x10) >>> 0;

      it('confirms the bytes with the remote store, ends normally and tells the agent', async () => {
        fake.put(KEY, { data, claimedCrc32c: wrong });
        const stream = client.read(KEY, { remote });
        const fallbacks: FallbackEvent[] = [];
        stream.on('fallback', (e: FallbackEvent) => fallbacks.push(e));
        expect((await readAll(stream)).equals(data)).to.equal(true);
        expect(fallbacks.map((e) => e.reason)).to.deep.equal(['WHOLE_CHECKSUM_MISMATCH']);
        expect(stream.bytesFromCache).to.equal(data.length);
        await waitUntil(() => fake.corruptReports.length === 1);
        expect(fake.corruptReports[0]).to.deep.include({
          key: KEY,
          entryCrc32c: wrong,
          observedCrc32c: crc32c(data),
        });
        expect(client.stats().fallbacks).to.deep.equal({ WHOLE_CHECKSUM_MISMATCH: 1 });
      });

      it('fails with DATA_LOSS when the remote store holds other bytes', async () => {
        const other = Buffer.from(data);
        other[12_345] ^= 0xff;
        const otherFile = path.join(dir, 'other');
        await writeFile(otherFile, other);
        fake.put(KEY, { data, claimedCrc32c: wrong });
        const err = await failure(client.read(KEY, { remote: otherFile }));
        expect(err).to.include({ code: status.DATA_LOSS });
        expect(err.message).to.match(/differ from .*read again/);
        await waitUntil(() => fake.corruptReports.length === 1);
      });

      it('fails with DATA_LOSS without a remote store', async () => {
        fake.put(KEY, { data, claimedCrc32c: wrong });
        const err = await failure(client.read(KEY));
        expect(err).to.include({ code: status.DATA_LOSS });
        expect(err.message).to.match(/whole-entry CRC32C .* cached bytes are inconsistent/);
      });
    });

    it('fails with the status when there is no remote', async () => {
      const miss = await failure(client.read(KEY));
      expect(miss).to.be.instanceOf(CheckpointCacheError);
      expect(miss).to.include({ code: status.NOT_FOUND, codeName: 'NOT_FOUND', rpc: 'Read' });
      expect(miss.message).to.contain('is not cached');

      fake.put(KEY, { data, faults: [{ kind: 'status', afterBytes: 10, code: status.DATA_LOSS }] });
      expect(await failure(client.read(KEY))).to.include({ code: status.DATA_LOSS });

      fake.put(KEY, { data, faults: [{ kind: 'bad-crc', chunk: 0 }] });
      const corrupt = await failure(client.read(KEY));
      expect(corrupt).to.include({ code: status.DATA_LOSS });
      expect(corrupt.message).to.match(/CRC32C/);
      expect(client.stats()).to.include({ reads: 3, failedReads: 3 });
    });

    it('surfaces INVALID_ARGUMENT instead of falling back', async () => {
      fake.put(KEY, { data });
      const stream = client.read(KEY, { remote, offset: data.length + 1 });
      const err = await failure(stream);
      expect(err).to.be.instanceOf(CheckpointCacheError);
      expect(err).to.include({ code: status.INVALID_ARGUMENT });
      expect(err.message).to.contain('past the end');
      expect(stream.bytesFromRemote).to.equal(0);
      expect(client.stats().fallbacks).to.deep.equal({});
    });

    it('reads the remote store when the agent is unreachable', async () => {
      const port = await freePort();
      for (const agent of [`127.0.0.1:${port}`, `unix:${path.join(dir, 'no-agent.sock')}`]) {
        const offline = makeClient({ agent });
        try {
          const stream = offline.read(KEY, { remote, offset: 10 });
          expect((await readAll(stream)).equals(data.subarray(10))).to.equal(true);
          expect(stream.fallback?.reason).to.equal('UNAVAILABLE');
          expect(offline.stats()).to.deep.include({ bytesFromRemote: data.length - 10 });
        } finally {
          offline.close();
        }
      }
    });

    it('counts fallbacks by reason across reads', async () => {
      fake.put(KEY, {
        data,
        faults: [
          { kind: 'status', afterBytes: 0, code: status.DATA_LOSS },
          { kind: 'bad-crc', chunk: 0 },
          { kind: 'status', afterBytes: 0, code: status.DATA_LOSS },
        ],
      });
      for (let i = 0; i < 4; i++) await readAll(client.read(KEY, { remote }));
      await readAll(client.read('other', { remote }));
      const stats = client.stats();
      expect(stats.fallbacks).to.deep.equal({ DATA_LOSS: 2, CHECKSUM_MISMATCH: 1, NOT_FOUND: 1 });
      expect(stats.reads).to.equal(5);
      expect(stats.bytesFromCache + stats.bytesFromRemote).to.equal(5 * data.length);
      expect(stats.bytesFromCache).to.equal(data.length);
    });

    it('throws synchronously for bad options and unknown remote schemes', () => {
      expect(() => client.read(KEY, { offset: -1 })).to.throw(RangeError);
      expect(() => client.read(KEY, { length: 1.5 })).to.throw(RangeError);
      expect(() => client.read(KEY, { remote: 'gopher://x/y' })).to.throw(/no remote store/);
    });

    it('pauses the gRPC stream for a slow consumer instead of buffering the file', async () => {
      const big = randomBytes(64 * 1024 * 1024);
      fake.put(KEY, { data: big });
      const direct = makeClient({ agent: fake.directAddress });
      try {
        const stream = direct.read(KEY);
        stream.read(0); // starts the call without consuming anything
        // Wait until the server is blocked by flow control, then look at what is in flight.
        let last = -1;
        await waitUntil(
          () => {
            const sent = fake.reads[0]?.bytesSent ?? 0;
            const stable = sent > 0 && sent === last;
            last = sent;
            return stable;
          },
          { intervalMs: 100, message: 'the server blocks on flow control' },
        );
        expect(fake.reads[0].bytesSent).to.be.below(16 * 1024 * 1024);
        expect(stream.readableLength).to.be.at.most(stream.readableHighWaterMark + CHUNK);
        const parts: Buffer[] = [];
        for await (const part of stream) parts.push(part as Buffer);
        expect(Buffer.concat(parts).equals(big)).to.equal(true);
      } finally {
        direct.close();
      }
    });

    it('delivers correct bytes through a slow consumer with a fallback in the middle', async () => {
      fake.put(KEY, {
        data,
        faults: [{ kind: 'status', afterBytes: 654_321, code: status.DATA_LOSS }],
      });
      const parts: Buffer[] = [];
      await pipeline(
        client.read(KEY, { remote }),
        new Writable({
          highWaterMark: 1024,
          write(chunk: Buffer, _encoding, callback) {
            parts.push(chunk);
            setImmediate(callback);
          },
        }),
      );
      expect(Buffer.concat(parts).equals(data)).to.equal(true);
    });

    it('stops the call when the consumer destroys the stream', async () => {
      fake.put(KEY, { data });
      const stream: CheckpointReadStream = client.read(KEY, { remote });
      await new Promise((resolve) => stream.once('data', resolve));
      stream.destroy();
      await waitUntil(() => fake.reads[0].cancelled, { message: 'the server sees the cancel' });
      expect(client.stats().failedReads).to.equal(0);
    });
  });

  describe('write', () => {
    it('sends the header, then chunks with offsets and CRC32C (Buffer source)', async () => {
      const small = makeClient({ writeChunkSize: CHUNK });
      try {
        const result = await small.write(KEY, data, {
          jobId: 'job-a',
          checkpointId: 7,
          ttlMs: 60_000,
        });
        expect(result.created).to.equal(true);
        expect(result.entry).to.include({ key: KEY, size: data.length, crc32c: crc32c(data) });
        const messages = fake.writes[0].messages;
        expect(messages[0].header).to.deep.include({
          key: KEY,
          jobId: 'job-a',
          checkpointId: 7,
          size: data.length,
          crc32c: crc32c(data),
          ttlMs: 60_000,
        });
        const chunks = messages.slice(1).map((m) => m.chunk);
        expect(chunks).to.have.length(Math.ceil(data.length / CHUNK));
        chunks.forEach((chunk, i) => {
          expect(chunk?.offset).to.equal(i * CHUNK);
          expect(chunk?.crc32c).to.equal(crc32c(chunk?.data ?? Buffer.alloc(0)));
        });
        expect(Buffer.concat(chunks.map((c) => c?.data ?? Buffer.alloc(0))).equals(data)).to.equal(
          true,
        );
      } finally {
        small.close();
      }
    });

    it('sends a file read straight into its chunks, announcing its size, framed or not', async () => {
      const file = path.join(dir, 'upload-source');
      const whole = randomBytes(3 * CHUNK + 5);
      await writeFile(file, whole);
      // Before the patch, grpc-js frames the hand-encoded chunks; after it, they come framed.
      for (const patched of [false, true]) {
        if (patched) expect(installZeroCopyWrites()).to.equal(true);
        const small = makeClient({ writeChunkSize: CHUNK });
        try {
          let progress = 0;
          const result = await small.writeFile(`${KEY}-${patched}`, file, {
            jobId: 'job-a',
            progress: (n) => (progress += n),
          });
          expect(result.entry).to.include({ size: whole.length, crc32c: crc32c(whole) });
          expect(progress).to.equal(whole.length);
          const messages = fake.writes[fake.writes.length - 1].messages;
          expect(messages[0].header?.size).to.equal(whole.length);
          expect(
            messages.slice(1).map((m) => [m.chunk?.offset, m.chunk?.data.length]),
          ).to.deep.equal([
            [0, CHUNK],
            [CHUNK, CHUNK],
            [2 * CHUNK, CHUNK],
            [3 * CHUNK, 5],
          ]);
          messages.slice(1).forEach((m) => {
            expect(m.chunk?.crc32c).to.equal(crc32c(m.chunk?.data ?? Buffer.alloc(0)));
          });
          expect(fake.entries.get(`${KEY}-${patched}`)?.data.equals(whole)).to.equal(true);
        } finally {
          small.close();
        }
      }
    });

    it('fails a file upload of a missing file before any call', async () => {
      const err = await rejection(client.writeFile(KEY, path.join(dir, 'no-such-file')));
      expect(err.message).to.contain('ENOENT');
      expect(fake.writes).to.have.length(0);
    });

    it('re-cuts a stream source into full chunks and checks the stored CRC32C', async () => {
      const small = makeClient({ writeChunkSize: CHUNK });
      try {
        const pieces = [1, 100_000, 7, CHUNK, 3 * CHUNK + 5, 0, 12_345].map((n) => randomBytes(n));
        const whole = Buffer.concat(pieces);
        const result = await small.write(KEY, Readable.from(pieces), { jobId: 'job-a' });
        expect(result.entry).to.include({ size: whole.length, crc32c: crc32c(whole) });
        const messages = fake.writes[0].messages;
        expect(messages[0].header?.size).to.equal(undefined);
        expect(messages[0].header?.crc32c).to.equal(undefined);
        const sizes = messages.slice(1).map((m) => m.chunk?.data.length);
        expect(sizes.slice(0, -1).every((n) => n === CHUNK)).to.equal(true);
        expect(messages.slice(1).map((m) => m.chunk?.offset)).to.deep.equal(
          sizes.map((_, i) => i * CHUNK),
        );
        expect(fake.entries.get(KEY)?.data.equals(whole)).to.equal(true);
      } finally {
        small.close();
      }
    });

    it('writes an empty entry and round-trips it', async () => {
      const result = await client.write('empty', Buffer.alloc(0));
      expect(result.entry.size).to.equal(0);
      expect(fake.writes[0].messages).to.have.length(1);
      expect((await readAll(client.read('empty'))).length).to.equal(0);
    });

    it('reports created = false for the same bytes and ALREADY_EXISTS for others', async () => {
      expect((await client.write(KEY, data)).created).to.equal(true);
      expect((await client.write(KEY, Readable.from([data]))).created).to.equal(false);
      const conflict = await rejection(client.write(KEY, randomBytes(10)));
      expect(conflict).to.be.instanceOf(CheckpointCacheError);
      expect(conflict).to.include({ code: status.ALREADY_EXISTS, details: 'different content' });
    });

    it('turns a failed write into CheckpointCacheError with the server status', async () => {
      fake.writeFailure = { code: status.RESOURCE_EXHAUSTED, details: 'cache full' };
      const err = await rejection(client.write(KEY, data));
      expect(err).to.include({ code: status.RESOURCE_EXHAUSTED, codeName: 'RESOURCE_EXHAUSTED' });
      expect(err.message).to.contain('cache full');
      fake.writeFailure = undefined;
      const wrongSize = await rejection(
        client.write('k2', Readable.from([data]), { size: data.length + 1 }),
      );
      expect(wrongSize).to.include({ code: status.FAILED_PRECONDITION });
    });

    it('cancels the call when the source fails', async () => {
      const source = new Readable({ read() {} });
      source.push(randomBytes(300_000));
      setTimeout(() => source.destroy(new Error('disk on fire')), 50);
      const err = await rejection(client.write(KEY, source));
      expect(err.message).to.equal('disk on fire');
      expect(fake.entries.has(KEY)).to.equal(false);
    });

    it('pulls the source only as fast as the agent takes it', async () => {
      fake.writeStallMs = 1_000;
      let pulled = 0;
      let pulledDuringStall = 0;
      const total = 32 * 1024 * 1024;
      const source = new Readable({
        highWaterMark: CHUNK,
        read() {
          if (pulled >= total) {
            this.push(null);
            return;
          }
          pulled += CHUNK;
          this.push(randomBytes(CHUNK));
        },
      });
      const patient = makeClient({ deadlines: { idleMs: 5_000 } });
      try {
        const timer = setTimeout(() => (pulledDuringStall = pulled), 800);
        const result = await patient.write(KEY, source);
        clearTimeout(timer);
        expect(result.entry.size).to.equal(total);
        expect(pulledDuringStall).to.be.above(0);
        expect(pulledDuringStall).to.be.below(16 * 1024 * 1024);
      } finally {
        patient.close();
      }
    });

    it('gives up with DEADLINE_EXCEEDED when the agent stops taking data', async () => {
      fake.writeStallMs = 3_000;
      const source = Readable.from(
        (function* () {
          for (let i = 0; i < 512; i++) yield randomBytes(CHUNK);
        })(),
      );
      client.close();
      client = makeClient({ deadlines: IMPATIENT });
      const started = Date.now();
      const err = await rejection(client.write(KEY, source));
      expect(err).to.be.instanceOf(CheckpointCacheError);
      expect(err).to.include({ code: status.DEADLINE_EXCEEDED });
      expect(Date.now() - started).to.be.below(2_500);
      expect(source.destroyed).to.equal(true);
    });
  });

  describe('unary calls', () => {
    beforeEach(() => {
      fake.put('a/1', { data: Buffer.from('one'), jobId: 'job-a', checkpointIds: [1] });
      fake.put('a/2', { data: Buffer.from('two!'), jobId: 'job-a', checkpointIds: [2] });
      fake.put('b/1', { data: Buffer.from('three'), jobId: 'job-b', checkpointIds: [1] });
    });

    it('stats and touches entries; a miss is CheckpointCacheError NOT_FOUND', async () => {
      expect(await client.stat('a/1')).to.include({ key: 'a/1', size: 3, jobId: 'job-a' });
      expect(await client.stat('a/1', { noTouch: true })).to.include({ size: 3 });
      expect(await client.touch('a/2', { checkpointId: 3, ttlMs: 1_000 })).to.include({ size: 4 });
      const err = await rejection(client.stat('nope'));
      expect(err).to.be.instanceOf(CheckpointCacheError);
      expect(err).to.include({
        code: status.NOT_FOUND,
        rpc: 'Stat',
        details: 'nope is not cached',
      });
      expect(err.message).to.equal('Stat "nope" failed: NOT_FOUND: nope is not cached');
    });

    it('deletes idempotently', async () => {
      expect(await client.delete('a/1')).to.equal(true);
      expect(await client.delete('a/1')).to.equal(false);
    });

    it('lists one page at a time and everything with listAll', async () => {
      const page = await client.list({ pageSize: 2 });
      expect(page.entries.map((e) => e.key)).to.deep.equal(['a/1', 'a/2']);
      expect(page.nextPageToken).to.not.equal('');
      const keys: string[] = [];
      for await (const entry of client.listAll({ pageSize: 1 })) keys.push(entry.key);
      expect(keys).to.deep.equal(['a/1', 'a/2', 'b/1']);
      const jobB: string[] = [];
      for await (const entry of client.listAll({ jobId: 'job-b' })) jobB.push(entry.key);
      expect(jobB).to.deep.equal(['b/1']);
    });

    it('releases a job and surfaces INVALID_ARGUMENT', async () => {
      expect(await client.release({ jobId: 'job-a', belowCheckpointId: 5 })).to.deep.equal({
        releasedEntries: 2,
        releasedBytes: 7,
      });
      const err = await rejection(client.release({ jobId: '' }));
      expect(err).to.include({ code: status.INVALID_ARGUMENT });
    });

    it('fails fast with UNAVAILABLE when the agent is unreachable', async () => {
      const offline = makeClient({ agent: `127.0.0.1:${await freePort()}` });
      try {
        const err = await rejection(offline.stat('a/1'));
        expect(err).to.include({ code: status.UNAVAILABLE });
      } finally {
        offline.close();
      }
    });
  });
});

describe('CheckpointCacheClient with the real node agent', function () {
  this.timeout(60_000);
  let redis: RedisServerHandle;
  let agent: TestAgent;
  let client: CheckpointCacheClient;
  let dir: string;
  let seq = 0;
  const key = (name: string): string => `hdfs://nn/flink/ckpt/job-c/chk-${++seq}/${name}`;

  /** The same bytes written to the "remote store" (a temp dir), returning its file:// URI. */
  async function remoteCopy(data: Buffer): Promise<string> {
    const file = path.join(dir, `remote-${++seq}`);
    await writeFile(file, data);
    return pathToFileURL(file).toString();
  }

  before(async () => {
    redis = await startRedisServer();
    dir = await mkdtemp(path.join(tmpdir(), 'ckc-client-agent-'));
  });

  after(async () => {
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    agent = await startTestAgent({ redisUrl: redis.url });
    client = new CheckpointCacheClient({ agent: agent.address });
  });

  afterEach(async () => {
    client?.close();
    await agent?.stop();
  });

  it('round-trips 0 B, 1 B, chunk-boundary and multi-chunk entries over TCP and the Unix socket', async () => {
    const overSocket = new CheckpointCacheClient({ agent: `unix:${agent.socketPath}` });
    const overSocketUri = new CheckpointCacheClient({ agent: `unix://${agent.socketPath}` });
    try {
      for (const size of [0, 1, 256 * 1024, 256 * 1024 + 1, 3 * 1024 * 1024 + 7]) {
        const data = randomBytes(size);
        const k = key(`size-${size}`);
        const written = await client.write(
          k,
          Readable.from([data.subarray(0, 10), data.subarray(10)]),
          {
            jobId: 'job-c',
            checkpointId: 1,
          },
        );
        expect(written).to.deep.include({ created: true });
        expect(written.entry).to.include({ key: k, size, crc32c: crc32c(data) });
        for (const c of [client, overSocket, overSocketUri]) {
          const stream = c.read(k);
          expect((await readAll(stream)).equals(data), `${size} bytes`).to.equal(true);
          expect(stream.bytesFromCache).to.equal(size);
        }
      }
      expect(client.stats().fallbacks).to.deep.equal({});
    } finally {
      overSocket.close();
      overSocketUri.close();
    }
  });

  it('round-trips files written with writeFile, framed by the client, over TCP and the Unix socket', async () => {
    expect(installZeroCopyWrites()).to.equal(true);
    const overSocket = new CheckpointCacheClient({
      agent: `unix:${agent.socketPath}`,
      writeChunkSize: 1024 * 1024,
    });
    try {
      for (const size of [0, 1, 1024 * 1024, 3 * 1024 * 1024 + 7]) {
        const data = randomBytes(size);
        const file = path.join(dir, `upload-${size}`);
        await writeFile(file, data);
        for (const c of [client, overSocket]) {
          const k = key(`file-${size}`);
          const written = await c.writeFile(k, file, { jobId: 'job-c', checkpointId: 1 });
          expect(written.entry).to.include({ key: k, size, crc32c: crc32c(data) });
          expect((await readAll(c.read(k))).equals(data), `${size} bytes`).to.equal(true);
        }
      }
    } finally {
      overSocket.close();
    }
  });

  it('reads ranges and surfaces a range past the end as INVALID_ARGUMENT', async () => {
    const data = randomBytes(1_000_000);
    const k = key('range');
    await client.write(k, data);
    const got = await readAll(
      client.read(k, { offset: 999, length: 500_001, remote: await remoteCopy(data) }),
    );
    expect(got.equals(data.subarray(999, 500_000 + 1000))).to.equal(true);
    const err = await failure(
      client.read(k, { offset: 10, length: data.length, remote: await remoteCopy(data) }),
    );
    expect(err).to.include({ code: status.INVALID_ARGUMENT });
  });

  it('returns the right bytes from remote when the cached file is corrupt; the entry is gone', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const k = key('corrupt');
    await client.write(k, data);
    const id = entryIdOf(k);
    const handle = await open(path.join(agent.cacheDir, 'entries', id.slice(0, 2), id), 'r+');
    const at = 2 * 1024 * 1024 + 17;
    await handle.write(Buffer.from([data[at] ^ 0xff]), 0, 1, at);
    await handle.close();
    const stream = client.read(k, { remote: await remoteCopy(data) });
    expect((await readAll(stream)).equals(data)).to.equal(true);
    expect(stream.fallback?.reason).to.equal('DATA_LOSS');
    expect(stream.bytesFromCache).to.be.at.most(at);
    expect(stream.bytesFromCache + stream.bytesFromRemote).to.equal(data.length);
    const err = await rejection(client.stat(k));
    expect(err).to.include({ code: status.NOT_FOUND });
  });

  it('reads the remote store on a miss and when the agent is down', async () => {
    const data = randomBytes(100_000);
    const remote = await remoteCopy(data);
    const miss = client.read(key('never-written'), { remote });
    expect((await readAll(miss)).equals(data)).to.equal(true);
    expect(miss.fallback?.reason).to.equal('NOT_FOUND');
    const k = key('down');
    await client.write(k, data);
    await agent.shutdown(0);
    const down = client.read(k, { remote });
    expect((await readAll(down)).equals(data)).to.equal(true);
    expect(down.fallback?.reason).to.equal('UNAVAILABLE');
  });

  it('resumes from remote at the right offset when the agent dies mid-stream', async () => {
    const data = randomBytes(48 * 1024 * 1024);
    const k = key('dies');
    await client.write(k, data);
    const stream = client.read(k, { remote: await remoteCopy(data), highWaterMark: 64 * 1024 });
    const parts: Buffer[] = [];
    let received = 0;
    let killed: Promise<void> | undefined;
    for await (const part of stream) {
      parts.push(part as Buffer);
      received += (part as Buffer).length;
      if (killed === undefined && received >= 4 * 1024 * 1024) killed = agent.shutdown(0);
      // A slow consumer, so that most of the entry is still unsent when the agent goes away.
      if (killed === undefined) await new Promise((resolve) => setImmediate(resolve));
    }
    await killed;
    expect(Buffer.concat(parts).equals(data)).to.equal(true);
    expect(stream.fallback, 'the read left the agent').to.not.equal(undefined);
    expect(stream.bytesFromCache).to.be.at.least(4 * 1024 * 1024);
    expect(stream.bytesFromCache).to.be.below(data.length);
    expect(stream.bytesFromCache + stream.bytesFromRemote).to.equal(data.length);
  });

  it('stats, touches, lists, releases and deletes entries', async () => {
    const a1 = key('a1');
    const a2 = key('a2');
    await client.write(a1, Buffer.from('one'), { jobId: 'job-r', checkpointId: 1 });
    await client.write(a2, Buffer.from('two!'), { jobId: 'job-r', checkpointId: 2 });
    expect(await client.stat(a1, { noTouch: true })).to.include({
      key: a1,
      size: 3,
      jobId: 'job-r',
    });
    expect((await client.touch(a1, { checkpointId: 3 })).checkpointIds).to.include(3);
    const keys: string[] = [];
    for await (const entry of client.listAll({ jobId: 'job-r', pageSize: 1 })) keys.push(entry.key);
    expect(keys.sort()).to.deep.equal([a1, a2].sort());
    const conflict = await rejection(client.write(a2, Buffer.from('other')));
    expect(conflict).to.include({ code: status.ALREADY_EXISTS });
    const released = await client.release({ jobId: 'job-r', belowCheckpointId: 3 });
    expect(released.releasedEntries).to.equal(1);
    expect(await client.delete(a1)).to.equal(true);
    expect(await client.delete(a1)).to.equal(false);
    expect(await rejection(client.stat(a2))).to.include({ code: status.NOT_FOUND });
  });
});
