/**
 * The CheckpointCache service end to end: a real agent (gRPC on a free port, real Redis, real disk)
 * driven by the generated client, so every status and byte the agent sends is visible.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { entryIdOf } from '@checkpoint-cache/cache';
import { crc32c } from '@checkpoint-cache/checksum';
import type { EntryInfo__Output, ListResponse__Output } from '@checkpoint-cache/proto';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { rawClient, readEntry, unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { waitUntil } from '../helpers/wait-until';
import { rejection } from '../helpers/rejection';

const KiB = 1024;
const BLOCK = 256 * KiB;

function expectStatus(err: unknown, code: grpc.status, pattern?: RegExp): void {
  const e = err as grpc.ServiceError;
  expect(e, 'expected the call to fail').to.be.instanceOf(Error);
  expect(grpc.status[e.code], e.details).to.equal(grpc.status[code]);
  if (pattern) expect(e.details).to.match(pattern);
}

describe('CheckpointCache service', function () {
  let redis: RedisServerHandle;
  let agent: TestAgent;
  let client: RawClient;
  let seq = 0;
  const key = (name: string): string => `hdfs://nn/flink/ckpt/job-${++seq}/chk-1/${name}`;

  before(async function () {
    redis = await startRedisServer();
  });
  after(async function () {
    await redis?.stop();
  });
  beforeEach(async function () {
    agent = await startTestAgent({ redisUrl: redis.url });
    client = rawClient(agent.address);
  });
  afterEach(async function () {
    client?.close();
    await agent?.stop();
  });

  async function put(k: string, data: Buffer, jobId = 'job', checkpointId = 1): Promise<void> {
    const res = await writeEntry(
      client,
      { key: k, jobId, checkpointId, size: data.length, crc32c: crc32c(data) },
      data,
    );
    expect(res.created).to.equal(true);
  }

  describe('round trips', function () {
    for (const size of [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * 1024 * KiB + 17]) {
      it(`returns ${size} bytes exactly, with a header and verified chunks`, async function () {
        const k = key(`file-${size}`);
        const data = randomBytes(size);
        await put(k, data);
        const r = await readEntry(client, { key: k });
        expect(r.header?.entry?.size).to.equal(size);
        expect(r.header?.entry?.crc32c).to.equal(crc32c(data));
        expect(r.header?.source).to.equal('SOURCE_LOCAL_DISK');
        expect(r.header?.length).to.equal(size);
        expect(r.data.equals(data)).to.equal(true);
        let expectedOffset = 0;
        for (const c of r.chunks) {
          expect(c.offset).to.equal(expectedOffset);
          expect(c.crc32c).to.equal(crc32c(r.data.subarray(c.offset, c.offset + c.length)));
          expectedOffset += c.length;
        }
      });
    }

    it('reads over the Unix socket too', async function () {
      const k = key('uds');
      const data = randomBytes(600 * KiB);
      await put(k, data);
      const uds = rawClient(`unix:${agent.socketPath}`);
      try {
        expect((await readEntry(uds, { key: k })).data.equals(data)).to.equal(true);
      } finally {
        uds.close();
      }
    });

    it('never turns a key into a path', async function () {
      const k = '../../../../etc/passwd';
      const data = Buffer.from('not a password file');
      await put(k, data);
      const id = entryIdOf(k);
      const stored = await fs.readFile(path.join(agent.cacheDir, 'entries', id.slice(0, 2), id));
      expect(stored.equals(data)).to.equal(true);
      expect((await readEntry(client, { key: k })).data.equals(data)).to.equal(true);
    });

    it('registers the entry in Redis under the node', async function () {
      const k = key('meta');
      await put(k, randomBytes(10));
      const entry = await agent.metadata.getRecord(entryIdOf(k));
      expect(entry?.id).to.equal(entryIdOf(k));
      expect(entry?.size).to.equal(10);
    });
  });

  describe('range reads', function () {
    const data = randomBytes(3 * BLOCK + 1000);
    let k: string;
    beforeEach(async function () {
      k = key('ranges');
      await put(k, data);
    });

    const ranges: [number, number | undefined][] = [
      [0, 0],
      [0, 1],
      [1, BLOCK],
      [BLOCK - 7, 14],
      [BLOCK, BLOCK],
      [BLOCK + 5, undefined],
      [data.length - 1, 1],
      [data.length, undefined],
      [100, 2 * BLOCK + 50],
    ];
    for (const [offset, length] of ranges) {
      it(`returns bytes ${offset}+${length ?? 'rest'}`, async function () {
        const r = await readEntry(client, {
          key: k,
          offset,
          ...(length === undefined ? {} : { length }),
        });
        const expected = data.subarray(offset, length === undefined ? undefined : offset + length);
        expect(r.header?.offset).to.equal(offset);
        expect(r.header?.length).to.equal(expected.length);
        expect(r.data.equals(expected)).to.equal(true);
        if (r.chunks[0]) expect(r.chunks[0].offset).to.equal(offset);
      });
    }

    it('keeps chunks within the client hint', async function () {
      const r = await readEntry(client, { key: k, offset: 3, length: 10_000, maxChunkSize: 1000 });
      expect(r.data.equals(data.subarray(3, 10_003))).to.equal(true);
      expect(r.chunks.every((c) => c.length <= 1000)).to.equal(true);
      expect(r.chunks).to.have.length(10);
    });

    it('rejects a range past the end with INVALID_ARGUMENT', async function () {
      expectStatus(
        await rejection(readEntry(client, { key: k, offset: data.length + 1 })),
        grpc.status.INVALID_ARGUMENT,
        /past the end/,
      );
      expectStatus(
        await rejection(readEntry(client, { key: k, offset: 10, length: data.length })),
        grpc.status.INVALID_ARGUMENT,
        /past the end/,
      );
    });
  });

  describe('block sizes', function () {
    // Entries keep the block size they were written with; a read covers up to 256 KiB of whole
    // blocks at a time and only the blocks its range touches.
    for (const blockSize of [4 * KiB, 48 * KiB, BLOCK, 1024 * KiB]) {
      describe(`${blockSize / KiB} KiB blocks`, function () {
        const data = randomBytes(2 * BLOCK + 3 * blockSize + 123);
        let k: string;
        beforeEach(async function () {
          await agent.stop();
          agent = await startTestAgent({ redisUrl: redis.url, blockSize });
          client.close();
          client = rawClient(agent.address);
          k = key('blocks');
          await put(k, data);
        });

        it('returns every range exactly, in chunks of at most one disk read', async function () {
          const size = data.length;
          const ranges: [number, number][] = [
            [0, size],
            [1, 10],
            [blockSize - 1, 2],
            [blockSize, blockSize],
            [BLOCK - 3, BLOCK + 7],
            [size - blockSize - 5, blockSize + 5],
            [size - 1, 1],
          ];
          for (const [offset, length] of ranges) {
            const r = await readEntry(client, { key: k, offset, length });
            const expected = data.subarray(offset, offset + length);
            expect(r.data.equals(expected), `${offset}+${length}`).to.equal(true);
            expect(r.chunks.every((c) => c.length <= Math.max(BLOCK, blockSize))).to.equal(true);
            for (const c of r.chunks) {
              const bytes = data.subarray(c.offset, c.offset + c.length);
              expect(c.crc32c, `chunk at ${c.offset}`).to.equal(crc32c(bytes));
            }
          }
          const hinted = await readEntry(client, { key: k, offset: 5, maxChunkSize: 5000 });
          expect(hinted.data.equals(data.subarray(5))).to.equal(true);
          expect(hinted.chunks.every((c) => c.length <= 5000)).to.equal(true);
        });

        it('finds a corrupt block inside a read and sends nothing of that read', async function () {
          const id = entryIdOf(k);
          const file = path.join(agent.cacheDir, 'entries', id.slice(0, 2), id);
          // The last block of the file: every read before it is whole and good.
          const bad = data.length - 10;
          const handle = await fs.open(file, 'r+');
          await handle.write(Buffer.from([data[bad]! ^ 0xff]), 0, 1, bad);
          await handle.close();
          const err = await rejection<unknown>(readEntry(client, { key: k }));
          const badBlock = Math.floor(bad / blockSize);
          expectStatus(err, grpc.status.DATA_LOSS, new RegExp(`block ${badBlock} \\(bytes `));
          const partial = (err as { partial: { data: Buffer } }).partial.data;
          const span = Math.max(blockSize, Math.floor(BLOCK / blockSize) * blockSize);
          const readStart = Math.floor((badBlock * blockSize) / span) * span;
          expect(partial.length).to.equal(readStart);
          expect(partial.equals(data.subarray(0, partial.length))).to.equal(true);
          expectStatus(await rejection(unary(client, 'stat', { key: k })), grpc.status.NOT_FOUND);
        });
      });
    }
  });

  it('reads the new bytes of a key deleted and written again, not the open old file', async function () {
    const k = key('rewritten');
    const first = randomBytes(BLOCK + 10);
    await put(k, first);
    // Reads keep the entry's file open between calls.
    for (let i = 0; i < 3; i++) {
      expect((await readEntry(client, { key: k })).data.equals(first)).to.equal(true);
    }
    expect(
      (await unary<unknown, { deleted: boolean }>(client, 'delete', { key: k })).deleted,
    ).to.equal(true);
    const second = randomBytes(BLOCK + 10);
    await put(k, second);
    expect((await readEntry(client, { key: k })).data.equals(second)).to.equal(true);
    expect(
      (await readEntry(client, { key: k, offset: 7, length: 100 })).data.equals(
        second.subarray(7, 107),
      ),
    ).to.equal(true);
  });

  it('serves concurrent readers the same bytes', async function () {
    const k = key('shared');
    const data = randomBytes(4 * 1024 * KiB);
    await put(k, data);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => readEntry(client, { key: k })),
    );
    for (const r of results) expect(r.data.equals(data)).to.equal(true);
  });

  describe('writes', function () {
    it('accepts a duplicate write of the same bytes without rewriting', async function () {
      const k = key('dup');
      const data = randomBytes(1000);
      await put(k, data);
      const id = entryIdOf(k);
      const file = path.join(agent.cacheDir, 'entries', id.slice(0, 2), id);
      const before = await fs.stat(file);
      const res = await writeEntry(client, { key: k, jobId: 'job', checkpointId: 2 }, data);
      expect(res.created).to.equal(false);
      expect(res.entry?.checkpointIds).to.deep.equal([1, 2]);
      expect((await fs.stat(file)).ino).to.equal(before.ino);
    });

    it('refuses different bytes under an existing key and keeps the stored ones', async function () {
      const k = key('conflict');
      const data = randomBytes(1000);
      await put(k, data);
      const other = randomBytes(1000);
      expectStatus(
        await rejection(writeEntry(client, { key: k, jobId: 'job' }, other)),
        grpc.status.ALREADY_EXISTS,
        /immutable/,
      );
      expectStatus(
        await rejection(writeEntry(client, { key: k, jobId: 'job', crc32c: crc32c(other) }, other)),
        grpc.status.ALREADY_EXISTS,
      );
      expect((await readEntry(client, { key: k })).data.equals(data)).to.equal(true);
    });

    it('stores nothing when the header checksum or size lies', async function () {
      const data = randomBytes(5000);
      const k1 = key('liar-crc');
      expectStatus(
        await rejection(
          writeEntry(client, { key: k1, jobId: 'job', crc32c: (crc32c(data) + 1) >>> 0 }, data),
        ),
        grpc.status.FAILED_PRECONDITION,
        /CRC32C/,
      );
      const k2 = key('liar-size');
      expectStatus(
        await rejection(writeEntry(client, { key: k2, jobId: 'job', size: data.length + 1 }, data)),
        grpc.status.FAILED_PRECONDITION,
        /announced/,
      );
      const k3 = key('liar-short');
      expectStatus(
        await rejection(writeEntry(client, { key: k3, jobId: 'job', size: 10 }, data)),
        grpc.status.FAILED_PRECONDITION,
      );
      for (const k of [k1, k2, k3]) {
        expectStatus(await rejection(unary(client, 'stat', { key: k })), grpc.status.NOT_FOUND);
      }
      expect(await fs.readdir(path.join(agent.cacheDir, 'tmp'))).to.deep.equal([]);
    });

    it('rejects a chunk damaged in transit', async function () {
      const k = key('damaged');
      const part = randomBytes(100);
      expectStatus(
        await rejection(
          writeEntry(client, undefined, Buffer.alloc(0), {
            messages: [
              { header: { key: k, jobId: 'j' } },
              { chunk: { offset: 0, data: part, crc32c: (crc32c(part) ^ 1) >>> 0 } },
            ],
          }),
        ),
        grpc.status.INVALID_ARGUMENT,
        /damaged in transit/,
      );
      expectStatus(await rejection(unary(client, 'stat', { key: k })), grpc.status.NOT_FOUND);
    });

    it('leaves nothing visible when the write stream breaks', async function () {
      const k = key('broken');
      const err = await rejection(
        writeEntry(client, { key: k, jobId: 'job' }, randomBytes(1024 * KiB), {
          chunkSize: 64 * KiB,
          cancelAfter: 8,
        }),
      );
      expectStatus(err, grpc.status.CANCELLED);
      await waitUntil(
        async () => (await fs.readdir(path.join(agent.cacheDir, 'tmp'))).length === 0,
        {
          message: 'temp file of the cancelled write was not removed',
        },
      );
      expectStatus(await rejection(unary(client, 'stat', { key: k })), grpc.status.NOT_FOUND);
    });

    it('rejects data before the header, a second header, and bad keys', async function () {
      const part = Buffer.from('x');
      expectStatus(
        await rejection(
          writeEntry(client, undefined, Buffer.alloc(0), {
            messages: [{ chunk: { offset: 0, data: part } }],
          }),
        ),
        grpc.status.INVALID_ARGUMENT,
        /first message/,
      );
      expectStatus(
        await rejection(
          writeEntry(client, undefined, Buffer.alloc(0), {
            messages: [
              { header: { key: key('h2'), jobId: 'j' } },
              { header: { key: key('h3'), jobId: 'j' } },
            ],
          }),
        ),
        grpc.status.INVALID_ARGUMENT,
        /exactly one WriteHeader/,
      );
      expectStatus(
        await rejection(writeEntry(client, { key: '', jobId: 'j' }, part)),
        grpc.status.INVALID_ARGUMENT,
        /empty/,
      );
      expectStatus(
        await rejection(writeEntry(client, { key: 'k'.repeat(1025), jobId: 'j' }, part)),
        grpc.status.INVALID_ARGUMENT,
        /1024/,
      );
      expectStatus(
        await rejection(
          writeEntry(client, undefined, Buffer.alloc(0), {
            messages: [
              { header: { key: key('gap'), jobId: 'j' } },
              { chunk: { offset: 5, data: part } },
            ],
          }),
        ),
        grpc.status.INVALID_ARGUMENT,
        /offset 5/,
      );
      // The agent is still up and serving.
      const k = key('after-bad');
      await put(k, part);
      expect((await readEntry(client, { key: k })).data.equals(part)).to.equal(true);
    });
  });

  describe('reads that fail', function () {
    it('answers NOT_FOUND for a key that is not cached', async function () {
      expectStatus(
        await rejection(readEntry(client, { key: key('missing') })),
        grpc.status.NOT_FOUND,
        /not cached on node/,
      );
    });

    it('answers INVALID_ARGUMENT for empty and oversized keys', async function () {
      expectStatus(await rejection(readEntry(client, { key: '' })), grpc.status.INVALID_ARGUMENT);
      expectStatus(
        await rejection(readEntry(client, { key: 'x'.repeat(2000) })),
        grpc.status.INVALID_ARGUMENT,
      );
    });

    it('never sends a corrupt chunk: DATA_LOSS, and the entry is deleted', async function () {
      const k = key('corrupt');
      const data = randomBytes(3 * BLOCK);
      await put(k, data);
      const id = entryIdOf(k);
      const file = path.join(agent.cacheDir, 'entries', id.slice(0, 2), id);
      const handle = await fs.open(file, 'r+');
      await handle.write(Buffer.from([data[BLOCK + 10]! ^ 0xff]), 0, 1, BLOCK + 10);
      await handle.close();
      const err = await rejection<unknown>(readEntry(client, { key: k }));
      expectStatus(err, grpc.status.DATA_LOSS, /corrupt/);
      const partial = (err as { partial: { data: Buffer } }).partial.data;
      expect(partial.length).to.equal(BLOCK);
      expect(partial.equals(data.subarray(0, BLOCK))).to.equal(true);
      expectStatus(await rejection(unary(client, 'stat', { key: k })), grpc.status.NOT_FOUND);
      await fs.access(file).then(
        () => expect.fail('corrupt file still on disk'),
        () => undefined,
      );
      expect(await agent.metadata.getRecord(id)).to.equal(undefined);
    });

    it('finishes a read that started before the entry was deleted', async function () {
      const k = key('unlink');
      const data = randomBytes(8 * 1024 * KiB);
      await put(k, data);
      const call = client.read({ key: k, maxChunkSize: 64 * KiB });
      const parts: Buffer[] = [];
      let deleted = false;
      const done = new Promise<void>((resolve, reject) => {
        call.on('data', (m) => {
          if (m.chunk) parts.push(m.chunk.data);
          if (!deleted && m.chunk) {
            deleted = true;
            call.pause();
            unary<unknown, { deleted: boolean }>(client, 'delete', { key: k })
              .then((r) => {
                expect(r.deleted).to.equal(true);
                call.resume();
              })
              .catch(reject);
          }
        });
        call.on('error', reject);
        call.on('end', resolve);
      });
      await done;
      expect(Buffer.concat(parts).equals(data)).to.equal(true);
      expectStatus(await rejection(readEntry(client, { key: k })), grpc.status.NOT_FOUND);
    });
  });

  describe('stat, touch, delete, list and release', function () {
    it('describes an entry and touches it unless asked not to', async function () {
      const k = key('stat');
      await put(k, randomBytes(77), 'job-s', 4);
      const s = await unary<unknown, EntryInfo__Output>(client, 'stat', { key: k, noTouch: true });
      expect(s).to.include({ key: k, jobId: 'job-s', size: 77, nodeId: agent.nodeId });
      expect(s.checkpointIds).to.deep.equal([4]);
      const t = await unary<unknown, EntryInfo__Output>(client, 'touch', {
        key: k,
        checkpointId: 5,
        ttlMs: 60_000,
      });
      expect(t.checkpointIds).to.deep.equal([4, 5]);
      expect(t.ttlMs).to.equal(60_000);
      expectStatus(
        await rejection(unary(client, 'touch', { key: key('nope') })),
        grpc.status.NOT_FOUND,
      );
    });

    it('deletes idempotently', async function () {
      const k = key('del');
      await put(k, randomBytes(5));
      expect(await unary(client, 'delete', { key: k })).to.deep.equal({ deleted: true });
      expect(await unary(client, 'delete', { key: k })).to.deep.equal({ deleted: false });
      expect(await agent.metadata.getRecord(entryIdOf(k))).to.equal(undefined);
    });

    it('lists entries by job and checkpoint, a page at a time', async function () {
      const keys: string[] = [];
      for (let i = 0; i < 7; i++) {
        const k = `list/${i}`;
        keys.push(k);
        await put(k, randomBytes(3), 'job-l', i < 4 ? 1 : 2);
      }
      await put('other/1', randomBytes(3), 'job-other', 1);
      const seen: string[] = [];
      let pageToken = '';
      let pages = 0;
      do {
        const page = await unary<unknown, ListResponse__Output>(client, 'list', {
          jobId: 'job-l',
          pageSize: 3,
          pageToken,
        });
        seen.push(...page.entries.map((e) => e.key));
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken);
      expect(seen).to.deep.equal(keys);
      expect(pages).to.equal(3);
      const two = await unary<unknown, ListResponse__Output>(client, 'list', {
        jobId: 'job-l',
        checkpointId: 2,
      });
      expect(two.entries.map((e) => e.key)).to.deep.equal(keys.slice(4));
      expectStatus(
        await rejection(unary(client, 'list', { pageSize: 5000 })),
        grpc.status.INVALID_ARGUMENT,
        /page_size/,
      );
      expectStatus(
        await rejection(unary(client, 'list', { pageToken: '***' })),
        grpc.status.INVALID_ARGUMENT,
        /page_token/,
      );
    });

    it('releases subsumed checkpoints but keeps files a retained checkpoint shares', async function () {
      await put('r/only-1', randomBytes(10), 'job-r', 1);
      await put('r/shared', randomBytes(20), 'job-r', 1);
      await unary(client, 'touch', { key: 'r/shared', checkpointId: 3 });
      await put('r/only-3', randomBytes(30), 'job-r', 3);
      await put('r/other-job', randomBytes(40), 'job-x', 1);
      const res = await unary<unknown, { releasedEntries: number; releasedBytes: number }>(
        client,
        'release',
        {
          jobId: 'job-r',
          belowCheckpointId: 3,
        },
      );
      expect(res).to.deep.equal({ releasedEntries: 1, releasedBytes: 10 });
      const left = await unary<unknown, ListResponse__Output>(client, 'list', {});
      expect(left.entries.map((e) => e.key)).to.deep.equal(['r/only-3', 'r/other-job', 'r/shared']);
      const all = await unary<unknown, { releasedEntries: number }>(client, 'release', {
        jobId: 'job-r',
      });
      expect(all.releasedEntries).to.equal(2);
      expectStatus(
        await rejection(unary(client, 'release', { jobId: '' })),
        grpc.status.INVALID_ARGUMENT,
      );
    });
  });

  it('keeps its entries across a restart', async function () {
    const k = key('restart');
    const data = randomBytes(BLOCK * 2 + 3);
    await put(k, data);
    client.close();
    const restarted = await agent.restart();
    client = rawClient(restarted.address);
    expect((await readEntry(client, { key: k })).data.equals(data)).to.equal(true);
  });
});
