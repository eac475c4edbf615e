/**
 * WriteBatch (issue #16): many small entries in one call, each stored as a Write of it would be
 * and answered on its own. Against a real agent and a real redis-server: every item readable
 * with its bytes; per-item refusals beside stored items; the call's own refusals; Redis down;
 * a cancelled batch; the metrics; and the client stub's writeBatch, including its fallback to
 * single Writes against an agent without WriteBatch (the same service with that method left out).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import Redis from 'ioredis';
import { crc32c } from '@checkpoint-cache/checksum';
import { CheckpointCacheClient, type BatchEntryResult } from '@checkpoint-cache/client';
import type {
  WriteBatchItem,
  WriteBatchResponse__Output,
  WriteBatchResult__Output,
} from '@checkpoint-cache/proto';
import { AccessPolicy, CheckpointCacheService } from '@checkpoint-cache/service';
import { startTestAgent, testLogger, type TestAgent } from '../helpers/agent';
import { rawClient, readEntry, unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { rejection } from '../helpers/rejection';
import { waitUntil } from '../helpers/wait-until';

const ENTRY_BYTES = 4096;

function item(key: string, data: Buffer, header: Partial<WriteBatchItem['header']> = {}) {
  return {
    header: {
      key,
      jobId: 'j',
      checkpointId: 1,
      size: data.length,
      crc32c: crc32c(data),
      ...header,
    },
    data,
  };
}

function writeBatch(
  client: RawClient,
  items: WriteBatchItem[],
): Promise<WriteBatchResult__Output[]> {
  return unary<object, WriteBatchResponse__Output>(client, 'writeBatch', { items }).then(
    (res) => res.results,
  );
}

type ServiceOptions = ConstructorParameters<typeof CheckpointCacheService>[0];

const codeName = (r: { code: number }): string => grpc.status[r.code] ?? String(r.code);

async function scrape(address: string): Promise<string> {
  return (await fetch(`http://${address}/metrics`)).text();
}

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  if (line === undefined) throw new Error(`no sample ${series} in /metrics`);
  return Number(line.slice(series.length + 1));
}

// Twice: entries in files of their own, and packed (the fast road of whole-writes.ts takes the
// small new items of a batch; every other item goes the way of a Write, with the same answers).
for (const packMaxBytes of [0, 64 * 1024])
  describe(packMaxBytes ? 'WriteBatch, packing small entries' : 'WriteBatch', function () {
    this.timeout(60_000);
    let redis: RedisServerHandle;
    let agent: TestAgent;
    let client: RawClient;

    beforeEach(async function () {
      redis = await startRedisServer();
      agent = await startTestAgent({
        redisUrl: redis.url,
        metricsListen: '127.0.0.1:0',
        packMaxBytes,
      });
      await agent.cache.whenIndexReady();
      client = rawClient(agent.address);
    });
    afterEach(async function () {
      client?.close();
      await agent?.stop();
      await redis?.stop();
    });

    async function expectTmpEmpty(): Promise<void> {
      expect(await fs.readdir(path.join(agent.cacheDir, 'tmp'))).to.deep.equal([]);
    }

    it('stores every item, each readable with its bytes, and counts each as a write', async function () {
      const data = Array.from({ length: 64 }, () => randomBytes(ENTRY_BYTES));
      const results = await writeBatch(
        client,
        data.map((d, i) => item(`hdfs://nn/batch/${i}`, d)),
      );
      expect(results.map(codeName)).to.deep.equal(data.map(() => 'OK'));
      results.forEach((r, i) => {
        expect(r.created).to.equal(true);
        expect(r.entry?.key).to.equal(`hdfs://nn/batch/${i}`);
        expect(r.entry?.size).to.equal(ENTRY_BYTES);
        expect(r.entry?.crc32c).to.equal(crc32c(data[i]!));
      });
      for (const [i, d] of data.entries()) {
        expect((await readEntry(client, { key: `hdfs://nn/batch/${i}` })).data.equals(d)).to.equal(
          true,
        );
      }
      expect(agent.cache.usage()).to.deep.equal({ entries: 64, bytes: 64 * ENTRY_BYTES });
      await expectTmpEmpty();

      const text = await scrape(agent.metricsAddress!);
      expect(sample(text, 'ckc_writes_total{outcome="created"}')).to.equal(64);
      expect(sample(text, 'ckc_written_bytes_total')).to.equal(64 * ENTRY_BYTES);
      expect(sample(text, 'ckc_write_batch_items_count')).to.equal(1);
      expect(sample(text, 'ckc_write_batch_items_sum')).to.equal(64);
      expect(sample(text, 'ckc_streams_in_flight{rpc="WriteBatch"}')).to.equal(0);
    });

    it('answers each item on its own: refused items beside stored ones', async function () {
      const cached = randomBytes(ENTRY_BYTES);
      await writeEntry(client, { key: 'hdfs://nn/cached', jobId: 'j' }, cached);
      const good = randomBytes(ENTRY_BYTES);
      const badCrc = randomBytes(ENTRY_BYTES);
      const results = await writeBatch(client, [
        item('hdfs://nn/good', good),
        item('hdfs://nn/bad-crc', badCrc, { crc32c: crc32c(badCrc) ^ 1 }),
        item('hdfs://nn/cached', randomBytes(ENTRY_BYTES)), // other bytes under a cached key
        item('hdfs://nn/cached', cached), // the same bytes again
        item('hdfs://nn/short', badCrc, { size: ENTRY_BYTES + 1 }),
        { data: good }, // no header
        item('', good), // an empty key
      ]);
      expect(results.map(codeName)).to.deep.equal([
        'OK',
        'FAILED_PRECONDITION',
        'ALREADY_EXISTS',
        'OK',
        'FAILED_PRECONDITION',
        'INVALID_ARGUMENT',
        'INVALID_ARGUMENT',
      ]);
      expect(results[0]!.created).to.equal(true);
      expect(results[1]!.message).to.match(/CRC32C .* but the header announced/);
      expect(results[2]!.message).to.match(/already cached with different content/);
      expect(results[3]!.created).to.equal(false);
      expect(results[5]!.message).to.match(/^items\[5\] has no header/);
      // Refused items left nothing; the cached entry is untouched.
      expect(agent.cache.usage()).to.deep.equal({ entries: 2, bytes: 2 * ENTRY_BYTES });
      expect((await readEntry(client, { key: 'hdfs://nn/cached' })).data.equals(cached)).to.equal(
        true,
      );
      expect((await readEntry(client, { key: 'hdfs://nn/good' })).data.equals(good)).to.equal(true);
      for (const key of ['hdfs://nn/bad-crc', 'hdfs://nn/short']) {
        const err = await rejection<grpc.ServiceError>(unary(client, 'stat', { key }));
        expect(err.code).to.equal(grpc.status.NOT_FOUND);
      }
      await expectTmpEmpty();
      const text = await scrape(agent.metricsAddress!);
      expect(sample(text, 'ckc_writes_total{outcome="created"}')).to.equal(2);
      expect(sample(text, 'ckc_writes_total{outcome="exists"}')).to.equal(1);
      expect(sample(text, 'ckc_writes_total{outcome="rejected"}')).to.equal(5);
    });

    it('stores items with the same key as concurrent Writes of it: one creates, the others find it', async function () {
      const same = randomBytes(ENTRY_BYTES);
      const data = [same, same, randomBytes(ENTRY_BYTES)];
      const results = await writeBatch(
        client,
        data.map((d) => item('hdfs://nn/twice', d)),
      );
      // Whichever item is committed first creates the entry; the others are answered as Writes
      // after it would be: created false for its bytes, ALREADY_EXISTS for other bytes.
      const creators = results.flatMap((r, i) =>
        r.code === grpc.status.OK && r.created ? [i] : [],
      );
      expect(creators).to.have.length(1);
      const stored = data[creators[0]!]!;
      results.forEach((r, i) => {
        if (i === creators[0]) return;
        expect(r.code === grpc.status.OK ? 'OK' : codeName(r), `item ${i}`).to.equal(
          data[i]!.equals(stored) ? 'OK' : 'ALREADY_EXISTS',
        );
      });
      expect((await readEntry(client, { key: 'hdfs://nn/twice' })).data.equals(stored)).to.equal(
        true,
      );
      expect(agent.cache.usage().entries).to.equal(1);
      await expectTmpEmpty();
    });

    it('refuses a call of no items or of more than 1,000, storing nothing', async function () {
      for (const n of [0, 1001]) {
        const items = Array.from({ length: n }, (_, i) =>
          item(`hdfs://nn/n/${i}`, Buffer.from('x')),
        );
        const err = await rejection<grpc.ServiceError>(writeBatch(client, items));
        expect(grpc.status[err.code], err.details).to.equal('INVALID_ARGUMENT');
        expect(err.details).to.match(new RegExp(`1 to 1000 items, not ${n}`));
      }
      const thousand = Array.from({ length: 1000 }, (_, i) =>
        item(`hdfs://nn/k/${i}`, Buffer.from([i % 256])),
      );
      const results = await writeBatch(client, thousand);
      expect(results.filter((r) => r.code === grpc.status.OK)).to.have.length(1000);
      expect(agent.cache.usage().entries).to.equal(1000);
    });

    it('refuses a request over 16 MiB with RESOURCE_EXHAUSTED', async function () {
      const mib = randomBytes(1024 * 1024);
      const items = Array.from({ length: 17 }, (_, i) => item(`hdfs://nn/big/${i}`, mib));
      const err = await rejection<grpc.ServiceError>(writeBatch(client, items));
      expect(grpc.status[err.code], err.details).to.equal('RESOURCE_EXHAUSTED');
      expect(agent.cache.usage().entries).to.equal(0);
    });

    it('answers every item UNAVAILABLE while Redis is down, storing none', async function () {
      await redis.kill();
      await waitUntil(() => !agent.cache.options.metadata.isAvailable(), {
        message: 'the agent did not notice that Redis is gone',
      });
      const results = await writeBatch(
        client,
        Array.from({ length: 8 }, (_, i) => item(`hdfs://nn/down/${i}`, randomBytes(ENTRY_BYTES))),
      );
      for (const r of results) {
        expect(codeName(r), r.message).to.equal('UNAVAILABLE');
        expect(r.message).to.match(/Redis is unreachable/);
      }
      expect(agent.cache.usage().entries).to.equal(0);
      await expectTmpEmpty();
      const text = await scrape(agent.metricsAddress!);
      expect(sample(text, 'ckc_writes_total{outcome="unavailable"}')).to.equal(8);
    });

    it('refuses a batch with RESOURCE_EXHAUSTED while the calls in progress hold their limit', async function () {
      // The agent's own service on a server of its own with a limit of 64 KiB held; Redis holding
      // every write command keeps the first batch (48 KiB) in progress.
      const server = new grpc.Server();
      let started!: () => void;
      const firstStarted = new Promise<void>((resolve) => (started = resolve));
      // Told only when a batch has taken its bytes (writeBatchStarted); every other event ignored.
      const observer = new Proxy(
        {},
        { get: (_, name) => (name === 'writeBatchStarted' ? () => started() : () => undefined) },
      ) as ServiceOptions['observer'];
      new CheckpointCacheService({
        cache: agent.cache,
        logger: testLogger(),
        accessPolicy: new AccessPolicy({ writeAccess: 'any' }),
        maxBatchBytesHeld: 64 * 1024,
        ...(observer ? { observer } : {}),
      }).addToServer(server);
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
          err ? reject(err) : resolve(p),
        ),
      );
      const limited = rawClient(`127.0.0.1:${port}`);
      const admin = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 0 });
      const batchOf = (name: string, n: number) =>
        Array.from({ length: n }, (_, i) => item(`hdfs://nn/held/${name}/${i}`, randomBytes(4096)));
      try {
        await admin.call('CLIENT', 'PAUSE', '30000', 'WRITE');
        const first = writeBatch(limited, batchOf('first', 12));
        await firstStarted;
        const err = await rejection<grpc.ServiceError>(writeBatch(limited, batchOf('second', 5)));
        expect(grpc.status[err.code], err.details).to.equal('RESOURCE_EXHAUSTED');
        expect(err.details).to.match(/were not stored: the agent already holds 49152 bytes/);
        await admin.call('CLIENT', 'UNPAUSE');
        expect((await first).map(codeName)).to.deep.equal(Array(12).fill('OK'));
        // Given back: a batch fits again.
        expect((await writeBatch(limited, batchOf('third', 5))).map(codeName)).to.deep.equal(
          Array(5).fill('OK'),
        );
        expect(agent.cache.usage().entries).to.equal(17);
      } finally {
        await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
        admin.disconnect();
        limited.close();
        server.forceShutdown();
      }
    });

    it('stores no item of a batch cancelled before its items were committed', async function () {
      // Items wait before their commit while the agent evicts to make room: with the cache full
      // and Redis holding every write command, the first eviction (which unregisters its victim
      // under the capacity lock) holds them all there.
      await agent.stop();
      agent = await startTestAgent({
        redisUrl: redis.url,
        metricsListen: '127.0.0.1:0',
        maxEntries: 2,
        packMaxBytes,
      });
      await agent.cache.whenIndexReady();
      client.close();
      client = rawClient(agent.address);
      for (const key of ['hdfs://nn/old/1', 'hdfs://nn/old/2']) {
        await writeEntry(client, { key, jobId: 'j' }, randomBytes(ENTRY_BYTES));
      }
      const admin = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 0 });
      try {
        await admin.call('CLIENT', 'PAUSE', '30000', 'WRITE');
        let call: grpc.ClientUnaryCall | undefined;
        const answered = new Promise<grpc.ServiceError | null>((resolve) => {
          call = client.writeBatch(
            {
              items: [
                item('hdfs://nn/cancelled/1', randomBytes(ENTRY_BYTES)),
                item('hdfs://nn/cancelled/2', randomBytes(ENTRY_BYTES)),
              ],
            },
            (err) => resolve(err),
          );
        });
        // The first victim leaves the index before its unregistration blocks.
        await waitUntil(() => agent.cache.usage().entries === 1, {
          message: 'the batch did not start evicting',
        });
        call!.cancel();
        expect((await answered)?.code).to.equal(grpc.status.CANCELLED);
        // A call on the same connection after the cancel: once it is answered, the agent has
        // processed the cancel's RST_STREAM, which came before it.
        await rejection(unary(client, 'stat', { key: 'hdfs://nn/barrier', noTouch: true }));
        await admin.call('CLIENT', 'UNPAUSE');
        await waitUntil(
          async () =>
            sample(
              await scrape(agent.metricsAddress!),
              'ckc_streams_in_flight{rpc="WriteBatch"}',
            ) === 0,
          { message: 'the cancelled batch did not finish' },
        );
      } finally {
        await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
        admin.disconnect();
      }
      const text = await scrape(agent.metricsAddress!);
      expect(sample(text, 'ckc_writes_total{outcome="cancelled"}')).to.equal(2);
      for (const key of ['hdfs://nn/cancelled/1', 'hdfs://nn/cancelled/2']) {
        const err = await rejection<grpc.ServiceError>(unary(client, 'stat', { key }));
        expect(err.code).to.equal(grpc.status.NOT_FOUND);
      }
      await expectTmpEmpty();
    });

    describe("the client stub's writeBatch", function () {
      let stub: CheckpointCacheClient | undefined;
      afterEach(function () {
        stub?.close();
      });

      it('stores entries across several calls and gives each its result', async function () {
        stub = new CheckpointCacheClient({ agent: agent.address });
        // 1,500 small entries (two calls: at most 1,000 items each) and one over a batch's 8 MiB,
        // which goes alone as a Write.
        const entries = Array.from({ length: 1500 }, (_, i) => ({
          key: `hdfs://nn/stub/${i}`,
          data: randomBytes(64),
          jobId: 'j',
          checkpointId: 3,
        }));
        const large = { key: 'hdfs://nn/stub/large', data: randomBytes(9 * 1024 * 1024) };
        expect(await stub.writeBatch([])).to.deep.equal([]);
        const cached = randomBytes(100);
        await stub.write('hdfs://nn/stub/cached', cached);
        const results = await stub.writeBatch([
          ...entries,
          large,
          { key: 'hdfs://nn/stub/cached', data: randomBytes(100) },
          { key: 'hdfs://nn/stub/crc', data: Buffer.from('abc'), crc32c: 1 },
        ]);
        expect(results).to.have.length(1503);
        for (const [i, e] of entries.entries()) {
          const r = results[i]!;
          expect(r.ok, e.key).to.equal(true);
          if (r.ok) {
            expect(r.created).to.equal(true);
            expect(r.entry.key).to.equal(e.key);
            expect(r.entry.checkpointIds).to.deep.equal([3]);
          }
        }
        expect(results[1500]!.ok).to.equal(true);
        const errorOf = (r: BatchEntryResult) => (r.ok ? undefined : r.error);
        expect(errorOf(results[1501]!)?.codeName).to.equal('ALREADY_EXISTS');
        expect(errorOf(results[1501]!)?.rpc).to.equal('WriteBatch');
        expect(errorOf(results[1502]!)?.codeName).to.equal('FAILED_PRECONDITION');
        expect(agent.cache.usage().entries).to.equal(1502);
        const text = await scrape(agent.metricsAddress!);
        expect(sample(text, 'ckc_write_batch_items_count')).to.equal(2);
        expect(sample(text, 'ckc_write_batch_items_sum')).to.equal(1502);
        const read = stub.read('hdfs://nn/stub/large');
        const parts: Buffer[] = [];
        for await (const part of read) parts.push(part as Buffer);
        expect(Buffer.concat(parts).equals(large.data)).to.equal(true);
      });

      it('gives every entry PERMISSION_DENIED over TCP under the default write access', async function () {
        await agent.stop();
        agent = await startTestAgent({ redisUrl: redis.url, writeAccess: 'socket', packMaxBytes });
        stub = new CheckpointCacheClient({ agent: agent.address });
        const results = await stub.writeBatch([
          { key: 'hdfs://nn/tcp/1', data: Buffer.from('a') },
          { key: 'hdfs://nn/tcp/2', data: Buffer.from('b') },
        ]);
        for (const r of results) {
          expect(r.ok).to.equal(false);
          if (!r.ok) {
            expect(r.error.codeName).to.equal('PERMISSION_DENIED');
            expect(r.error.details).to.include(`unix:${agent.socketPath}`);
          }
        }
        expect(agent.cache.usage().entries).to.equal(0);
        // The same entries over the Unix socket are stored.
        const local = new CheckpointCacheClient({ agent: `unix:${agent.socketPath}` });
        try {
          const stored = await local.writeBatch([
            { key: 'hdfs://nn/tcp/1', data: Buffer.from('a') },
            { key: 'hdfs://nn/tcp/2', data: Buffer.from('b') },
          ]);
          expect(stored.map((r) => r.ok)).to.deep.equal([true, true]);
        } finally {
          local.close();
        }
      });

      it('sends single Writes to an agent without WriteBatch (UNIMPLEMENTED)', async function () {
        // The agent's own service on a server of its own, with WriteBatch left out: what an agent
        // from before the call answers.
        const older = new grpc.Server();
        const service = new CheckpointCacheService({
          cache: agent.cache,
          logger: testLogger(),
          accessPolicy: new AccessPolicy({ writeAccess: 'any' }),
        });
        const without = <T extends object>(o: T): T =>
          Object.fromEntries(Object.entries(o).filter(([name]) => name !== 'WriteBatch')) as T;
        service.addToServer({
          addService: (
            definition: grpc.ServiceDefinition,
            handlers: grpc.UntypedServiceImplementation,
          ) => older.addService(without(definition), without(handlers)),
        } as unknown as grpc.Server);
        const port = await new Promise<number>((resolve, reject) =>
          older.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
            err ? reject(err) : resolve(p),
          ),
        );
        try {
          const probe = rawClient(`127.0.0.1:${port}`);
          const refused = await rejection<grpc.ServiceError>(
            writeBatch(probe, [item('hdfs://nn/older/probe', Buffer.from('p'))]),
          ).finally(() => probe.close());
          expect(refused.code).to.equal(grpc.status.UNIMPLEMENTED);
          stub = new CheckpointCacheClient({ agent: `127.0.0.1:${port}` });
          const data = Array.from({ length: 40 }, () => randomBytes(200));
          const results = await stub.writeBatch(
            data.map((d, i) => ({ key: `hdfs://nn/older/${i}`, data: d })),
          );
          expect(results.map((r) => r.ok)).to.deep.equal(data.map(() => true));
          for (const [i, d] of data.entries()) {
            expect(
              (await readEntry(client, { key: `hdfs://nn/older/${i}` })).data.equals(d),
            ).to.equal(true);
          }
          // Within BATCH_RETRY_MS the next batch goes straight to Write.
          const again = await stub.writeBatch([
            { key: 'hdfs://nn/older/again', data: Buffer.from('x') },
          ]);
          expect(again[0]!.ok).to.equal(true);
        } finally {
          older.forceShutdown();
        }
      });
    });
  });
