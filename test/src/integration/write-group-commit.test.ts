/**
 * Small writes published in groups (issue #16): many concurrent 4 KiB writes share directory
 * fsyncs and one Redis transaction of registrations, and each caller is answered only once its
 * group is durable and registered. Against real agents (a child process killed with SIGKILL in
 * the middle of a burst) and a real redis-server (killed while a group waits for its registration).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import Redis from 'ioredis';
import { decodeSidecar, entryIdOf } from '@checkpoint-cache/cache';
import type { WriteBatchResponse__Output } from '@checkpoint-cache/proto';
import { KeyBuilder } from '@checkpoint-cache/redis';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { startAgentProcess, type AgentProcess } from '../helpers/agent-process';
import { rawClient, readEntry, unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';
import { waitUntil } from '../helpers/wait-until';

const ENTRY_BYTES = 4096;
const CONCURRENCY = 48;
/** WriteBatch calls in flight, and items in each, for the batch variant of the kill test. */
const BATCHES_IN_FLIGHT = 4;
const BATCH_ITEMS = 16;

/** Entry files in a cache dir: sidecars by id, and data files that have none. */
async function filesOnDisk(cacheDir: string): Promise<{ sidecars: string[]; orphans: string[] }> {
  const sidecars: string[] = [];
  const orphans: string[] = [];
  const entries = path.join(cacheDir, 'entries');
  for (const shard of await fs.readdir(entries).catch(() => [] as string[])) {
    const names = await fs.readdir(path.join(entries, shard));
    for (const name of names) {
      if (name.endsWith('.meta')) sidecars.push(path.join(entries, shard, name));
      else if (!names.includes(`${name}.meta`)) orphans.push(path.join(entries, shard, name));
    }
  }
  return { sidecars, orphans };
}

describe('small writes committed in groups', function () {
  this.timeout(120_000);
  let redis: RedisServerHandle;
  let admin: Redis;

  beforeEach(async function () {
    redis = await startRedisServer();
    admin = new Redis(redis.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
    admin.on('error', () => undefined); // the test kills this server on purpose
  });
  afterEach(async function () {
    admin.disconnect();
    await redis?.stop();
  });

  describe('an agent killed (SIGKILL) during a burst of concurrent writes', function () {
    let cacheDir: string;
    let agent: AgentProcess | undefined;
    let client: RawClient | undefined;

    beforeEach(async function () {
      cacheDir = await makeTempDir('ckc-group-commit');
    });
    afterEach(async function () {
      client?.close();
      await agent?.stop();
      await removeTempDir(cacheDir);
    });

    const prefix = `gc${process.pid}`;
    const start = (): Promise<AgentProcess> =>
      startAgentProcess({
        nodeId: 'gc-node',
        redisUrl: redis.url,
        redisPrefix: prefix,
        listen: '127.0.0.1:0',
        cacheDir,
      });

    it('loses nothing acknowledged and leaves every entry whole, verified and registered', async function () {
      agent = await start();
      // Writes are taken over the Unix socket only (the default --write-access).
      client = rawClient(`unix:${agent.socketPath}`);
      const sent = new Map<string, Buffer>();
      const acked = new Set<string>();
      const refused: string[] = [];
      let next = 0;
      let killed = false;
      let failure: string | undefined;
      const worker = async (c: RawClient): Promise<void> => {
        while (!killed) {
          const key = `hdfs://nn/group-commit/${next++}`;
          const data = randomBytes(ENTRY_BYTES);
          sent.set(key, data);
          try {
            await writeEntry(c, { key, jobId: 'j', checkpointId: 1, size: ENTRY_BYTES }, data);
            acked.add(key);
          } catch (err) {
            const refusal = `${key}: ${(err as grpc.ServiceError).details}`;
            // Only writes cut short by the kill may fail; anything else ends the burst and the test.
            if (!killed) failure ??= refusal;
            refused.push(refusal);
            if (failure) return;
          }
        }
      };
      const c = client;
      const burst = Array.from({ length: CONCURRENCY }, () => worker(c));
      // Killed while the burst goes on: with this many writes in flight, groups are being
      // published and registered at any moment.
      await waitUntil(() => acked.size >= 300 || failure !== undefined, {
        timeoutMs: 60_000,
        message: 'the burst did not get 300 writes acknowledged',
      });
      expect(failure, 'a write failed before the kill').to.equal(undefined);
      await agent.kill();
      killed = true;
      await Promise.all(burst);
      client.close();
      expect(refused.length, 'writes in flight at the kill').to.be.greaterThan(0);

      await expectWholeAfterRestart(sent, acked);
    });

    it('loses no acknowledged item of WriteBatch calls and leaves every entry whole', async function () {
      agent = await start();
      client = rawClient(`unix:${agent.socketPath}`);
      const sent = new Map<string, Buffer>();
      const acked = new Set<string>();
      let failedCalls = 0;
      let next = 0;
      let killed = false;
      let failure: string | undefined;
      const worker = async (c: RawClient): Promise<void> => {
        while (!killed) {
          const items = Array.from({ length: BATCH_ITEMS }, () => {
            const key = `hdfs://nn/group-commit/batch/${next++}`;
            const data = randomBytes(ENTRY_BYTES);
            sent.set(key, data);
            return { header: { key, jobId: 'j', checkpointId: 1, size: ENTRY_BYTES }, data };
          });
          try {
            const { results } = await unary<object, WriteBatchResponse__Output>(c, 'writeBatch', {
              items,
            });
            results.forEach((r, i) => {
              const key = items[i]!.header.key;
              if (r.code === grpc.status.OK) acked.add(key);
              else failure ??= `${key}: ${r.message}`;
            });
          } catch (err) {
            failedCalls++;
            if (!killed) failure ??= `a batch failed: ${(err as grpc.ServiceError).details}`;
            return;
          }
        }
      };
      const c = client;
      const burst = Array.from({ length: BATCHES_IN_FLIGHT }, () => worker(c));
      await waitUntil(() => acked.size >= 300 || failure !== undefined, {
        timeoutMs: 60_000,
        message: 'the batches did not get 300 items acknowledged',
      });
      expect(failure, 'an item failed before the kill').to.equal(undefined);
      await agent.kill();
      killed = true;
      await Promise.all(burst);
      client.close();
      expect(failedCalls, 'batches in flight at the kill').to.be.greaterThan(0);
      await expectWholeAfterRestart(sent, acked);
    });

    /**
     * Restarts the agent and checks that every acknowledged write is there, byte for byte, and
     * that whatever else reached the disk is whole and gets registered: nothing is half there.
     */
    async function expectWholeAfterRestart(
      sent: Map<string, Buffer>,
      acked: Set<string>,
    ): Promise<void> {
      agent = await start();
      client = rawClient(`unix:${agent.socketPath}`);
      // Every acknowledged write is there, byte for byte, read through the agent (block CRCs).
      for (const key of acked) {
        const { data } = await readEntry(client, { key });
        expect(data.equals(sent.get(key)!), key).to.equal(true);
      }
      // Whatever else made it to disk is whole: a sidecar that names a key this test sent, and
      // data that are exactly those bytes. Nothing is half there.
      const { sidecars, orphans } = await filesOnDisk(cacheDir);
      expect(orphans, 'data files without a sidecar').to.deep.equal([]);
      expect(await fs.readdir(path.join(cacheDir, 'tmp'))).to.deep.equal([]);
      const onDisk: string[] = [];
      for (const file of sidecars) {
        const sidecar = decodeSidecar(await fs.readFile(file), file);
        const data = await fs.readFile(file.slice(0, -'.meta'.length));
        expect(data.equals(sent.get(sidecar.key)!), sidecar.key).to.equal(true);
        onDisk.push(sidecar.key);
      }
      for (const key of acked) expect(onDisk).to.include(key);
      // ... and registered in Redis once the restarted agent's first reconcile pass has run.
      await admin.connect();
      const keys = new KeyBuilder(prefix, 'gc-node');
      await waitUntil(
        async () => {
          for (const key of onDisk) {
            const id = entryIdOf(key);
            if (!(await admin.hexists(keys.entries(), keys.recordId(id)))) return false;
            if ((await admin.exists(keys.ttl(id))) !== 1) return false;
          }
          return true;
        },
        { timeoutMs: 30_000, message: 'entries on disk were not all registered after restart' },
      );
      expect(await admin.hlen(keys.entries())).to.equal(onDisk.length);
    }
  });

  describe('Redis failing while a group waits for its registration', function () {
    let agent: TestAgent | undefined;
    let client: RawClient | undefined;

    afterEach(async function () {
      client?.close();
      await agent?.stop();
    });

    it("fails exactly that group's writes with UNAVAILABLE and keeps none of them", async function () {
      agent = await startTestAgent({ redisUrl: redis.url });
      await agent.cache.whenIndexReady();
      client = rawClient(agent.address);
      const before = randomBytes(ENTRY_BYTES);
      await writeEntry(client, { key: 'hdfs://nn/before', jobId: 'j', size: ENTRY_BYTES }, before);

      // Redis holds every write command (the group's SADDs and MULTI) without answering; the
      // agent's connection stays up, so the writes are taken and published on disk first.
      await admin.connect();
      await admin.call('CLIENT', 'PAUSE', '60000', 'WRITE');
      const c = client;
      const group = Array.from({ length: 16 }, (_, i) =>
        writeEntry(
          c,
          { key: `hdfs://nn/group/${i}`, jobId: 'j', size: ENTRY_BYTES },
          randomBytes(ENTRY_BYTES),
        ).then(
          () => 'acknowledged',
          (err: grpc.ServiceError) => `${grpc.status[err.code]}: ${err.details}`,
        ),
      );
      await waitUntil(async () => (await filesOnDisk(agent!.cacheDir)).sidecars.length > 1, {
        message: 'no write of the group was published on disk',
      });
      await redis.kill();
      const outcomes = await Promise.all(group);
      for (const outcome of outcomes) expect(outcome).to.match(/^UNAVAILABLE: .*Redis/);

      // None of them is on disk, in tmp/ or in the index; the write before them is untouched.
      const { sidecars, orphans } = await filesOnDisk(agent.cacheDir);
      expect(sidecars.map((f) => path.basename(f, '.meta'))).to.deep.equal([
        entryIdOf('hdfs://nn/before'),
      ]);
      expect(orphans).to.deep.equal([]);
      expect(await fs.readdir(path.join(agent.cacheDir, 'tmp'))).to.deep.equal([]);
      expect(agent.cache.usage()).to.deep.equal({ entries: 1, bytes: ENTRY_BYTES });
      expect((await readEntry(client, { key: 'hdfs://nn/before' })).data.equals(before)).to.equal(
        true,
      );
    });

    it('fails every item of a WriteBatch in that group with UNAVAILABLE and keeps none', async function () {
      agent = await startTestAgent({ redisUrl: redis.url });
      await agent.cache.whenIndexReady();
      client = rawClient(agent.address);
      await admin.connect();
      await admin.call('CLIENT', 'PAUSE', '60000', 'WRITE');
      const items = Array.from({ length: 16 }, (_, i) => ({
        header: { key: `hdfs://nn/batch-group/${i}`, jobId: 'j', size: ENTRY_BYTES },
        data: randomBytes(ENTRY_BYTES),
      }));
      const answered = unary<object, WriteBatchResponse__Output>(client, 'writeBatch', { items });
      await waitUntil(async () => (await filesOnDisk(agent!.cacheDir)).sidecars.length > 0, {
        message: 'no item of the batch was published on disk',
      });
      await redis.kill();
      const { results } = await answered;
      for (const r of results) {
        expect(`${grpc.status[r.code]}: ${r.message}`).to.match(/^UNAVAILABLE: .*Redis/);
      }
      const { sidecars, orphans } = await filesOnDisk(agent.cacheDir);
      expect(sidecars).to.deep.equal([]);
      expect(orphans).to.deep.equal([]);
      expect(await fs.readdir(path.join(agent.cacheDir, 'tmp'))).to.deep.equal([]);
      expect(agent.cache.usage()).to.deep.equal({ entries: 0, bytes: 0 });
    });
  });
});
