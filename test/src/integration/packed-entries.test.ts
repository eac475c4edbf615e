/**
 * Small entries packed several to a file (--pack-max-bytes, issue #16): written in groups into one
 * pack, read back byte for byte (whole and ranges), found again after a restart with what was
 * changed and removed since, leased only to clients that read from the entry's offset, a damaged
 * byte failing only its own entry, the pack removed with its last entry, and a kill -9 in the
 * middle of a burst losing nothing acknowledged. Real agents (in-process and a child killed with
 * SIGKILL) and a real redis-server.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import {
  NodeCache,
  PackStore,
  SIDECAR_VERSION,
  encodeSidecar,
  entryIdOf,
  type Sidecar,
} from '@checkpoint-cache/cache';
import { crc32c } from '@checkpoint-cache/checksum';
import { CheckpointCacheClient } from '@checkpoint-cache/client';
import { KeyBuilder, RedisMetadataStore, createRedisConnection } from '@checkpoint-cache/redis';
import type { LeaseResponse__Output } from '@checkpoint-cache/proto';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { startAgentProcess, type AgentProcess } from '../helpers/agent-process';
import { rawClient, readEntry, unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';
import { waitUntil } from '../helpers/wait-until';

const KiB = 1024;
const PACK_MAX = 64 * KiB;

async function packFiles(cacheDir: string): Promise<string[]> {
  return (await fs.readdir(path.join(cacheDir, 'packs')).catch(() => [] as string[])).sort();
}

async function sidecarFiles(cacheDir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = path.join(cacheDir, 'entries');
  for (const shard of await fs.readdir(entries).catch(() => [] as string[])) {
    for (const name of await fs.readdir(path.join(entries, shard))) {
      if (name.endsWith('.meta')) out.push(name);
    }
  }
  return out;
}

/** The sidecar of a one-block entry of `data` (as a pack written by hand holds it). */
function sidecarOf(key: string, data: Buffer): Sidecar {
  const crc = crc32c(data);
  return {
    version: SIDECAR_VERSION,
    key,
    jobId: 'job',
    checkpointIds: [1],
    size: data.length,
    crc32c: crc,
    createdAtMs: Date.now(),
    ttlMs: 3_600_000,
    blockSize: 65_536,
    blockCrcs: Uint32Array.of(crc),
  };
}

/** A NodeCache on `root` that packs, with its own metadata connection; close() closes both. */
async function openCache(
  redisUrl: string,
  root: string,
  nodeId: string,
  extra: Partial<Parameters<typeof NodeCache.open>[0]> = {},
): Promise<{ cache: NodeCache; close: () => Promise<void> }> {
  const metadata = new RedisMetadataStore(
    createRedisConnection(redisUrl),
    new KeyBuilder(`${nodeId}${process.pid}`, nodeId),
  );
  await metadata.ready();
  const cache = await NodeCache.open({
    root,
    nodeId,
    metadata,
    defaultTtlMs: 60_000,
    packMaxBytes: PACK_MAX,
    ...extra,
  });
  return {
    cache,
    close: async () => {
      await cache.close();
      await metadata.close();
    },
  };
}

/** All of `key`'s bytes, read through `cache`. */
async function readWhole(cache: NodeCache, key: string): Promise<Buffer> {
  const reader = await cache.openRead(key, { offset: 0 });
  const parts: Buffer[] = [];
  for await (const chunk of reader.chunks(65_536)) parts.push(chunk.data);
  await reader.close();
  return Buffer.concat(parts);
}

function statusOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'OK',
    (err: grpc.ServiceError) => `${grpc.status[err.code]}: ${err.details}`,
  );
}

describe('packed small entries (--pack-max-bytes)', function () {
  this.timeout(120_000);
  let redis: RedisServerHandle;

  before(async function () {
    redis = await startRedisServer();
  });
  after(async function () {
    await redis?.stop();
  });

  describe('on one agent', function () {
    let agent: TestAgent;
    let client: RawClient;

    beforeEach(async function () {
      agent = await startTestAgent({ redisUrl: redis.url, packMaxBytes: PACK_MAX });
      await agent.cache.whenIndexReady();
      client = rawClient(agent.address);
    });
    afterEach(async function () {
      client?.close();
      await agent?.stop();
    });

    /** Writes `sizes` concurrently (so that they share groups); returns the bytes by key. */
    async function writeAll(prefix: string, sizes: number[]): Promise<Map<string, Buffer>> {
      const sent = new Map<string, Buffer>();
      await Promise.all(
        sizes.map((size, i) => {
          const key = `hdfs://nn/${prefix}/${i}`;
          const data = randomBytes(size);
          sent.set(key, data);
          return writeEntry(client, { key, jobId: 'job', checkpointId: 1, size }, data, {
            chunkSize: 16 * KiB,
          });
        }),
      );
      return sent;
    }

    it('writes entries up to the limit into packs and the larger ones into files of their own', async function () {
      const sizes = [0, 1, 4 * KiB, 4 * KiB, 10_000, PACK_MAX, PACK_MAX + 1, 300 * KiB];
      const sent = await writeAll('mixed', [...sizes, ...Array(24).fill(4 * KiB)]);
      const packs = await packFiles(agent.cacheDir);
      expect(packs.length, 'packs').to.be.greaterThan(0);
      expect(
        packs.every((name) => /^[1-9][0-9]*$/.test(name)),
        packs.join(),
      ).to.equal(true);
      // Only the two entries over the limit have sidecars (and data files) of their own.
      expect((await sidecarFiles(agent.cacheDir)).length).to.equal(2);
      for (const [key, data] of sent) {
        const { data: read } = await readEntry(client, { key });
        expect(read.equals(data), key).to.equal(true);
      }
      // A range inside a packed entry, and one at its end.
      const key = 'hdfs://nn/mixed/4';
      const whole = sent.get(key)!;
      const middle = await readEntry(client, { key, offset: 1234, length: 5000 });
      expect(middle.data.equals(whole.subarray(1234, 6234))).to.equal(true);
      const tail = await readEntry(client, { key, offset: whole.length - 7 });
      expect(tail.data.equals(whole.subarray(whole.length - 7))).to.equal(true);
    });

    it('leases a packed entry only with accept_offset, at its offset in the pack', async function () {
      const sent = await writeAll('lease', Array(8).fill(4 * KiB));
      const key = 'hdfs://nn/lease/5';
      const refused = await statusOf(unary(client, 'lease', { key }));
      expect(refused).to.match(/^FAILED_PRECONDITION: .*accept_offset/);
      const lease = await unary<object, LeaseResponse__Output>(client, 'lease', {
        key,
        acceptOffset: true,
      });
      expect(lease.relativePath).to.match(/^packs\/[1-9][0-9]*$/);
      const offset = Number(lease.dataOffset);
      expect(offset).to.be.greaterThan(0);
      const file = await fs.readFile(path.join(lease.cacheRoot, lease.relativePath));
      expect(file.subarray(offset, offset + 4 * KiB).equals(sent.get(key)!)).to.equal(true);
      // An entry with a file of its own is leased as before, at offset 0, with or without it.
      await writeEntry(
        client,
        { key: 'hdfs://nn/lease/big', jobId: 'job' },
        randomBytes(PACK_MAX + 1),
      );
      const own = await unary<object, LeaseResponse__Output>(client, 'lease', {
        key: 'hdfs://nn/lease/big',
      });
      expect(own.relativePath).to.match(/^entries\//);
      expect(Number(own.dataOffset)).to.equal(0);
    });

    it("is read directly from its pack by the TypeScript client's short circuit", async function () {
      const sent = await writeAll('short-circuit', Array(8).fill(10_000));
      const c = new CheckpointCacheClient({
        agent: `unix:${agent.socketPath}`,
        shortCircuit: true,
      });
      try {
        for (const [key, data] of sent) {
          const parts: Buffer[] = [];
          for await (const part of c.read(key)) parts.push(part as Buffer);
          expect(Buffer.concat(parts).equals(data), key).to.equal(true);
        }
        const s = c.stats();
        expect(s.bytesShortCircuit).to.equal(8 * 10_000);
        expect(s.shortCircuitMisses).to.equal(0);
      } finally {
        c.close();
      }
    });

    it('fails only the damaged entry of a pack with DATA_LOSS, and deletes only it', async function () {
      const sent = await writeAll('damage', Array(8).fill(4 * KiB));
      const bad = 'hdfs://nn/damage/3';
      const lease = await unary<object, LeaseResponse__Output>(client, 'lease', {
        key: bad,
        acceptOffset: true,
      });
      const file = path.join(lease.cacheRoot, lease.relativePath);
      const bytes = await fs.readFile(file);
      const at = Number(lease.dataOffset) + 100;
      bytes[at] = bytes[at]! ^ 0xff;
      await fs.writeFile(file, bytes);
      expect(await statusOf(readEntry(client, { key: bad }))).to.match(/^DATA_LOSS: /);
      expect(await statusOf(readEntry(client, { key: bad }))).to.match(/^NOT_FOUND: /);
      for (const [key, data] of sent) {
        if (key === bad) continue;
        const { data: read } = await readEntry(client, { key });
        expect(read.equals(data), key).to.equal(true);
      }
    });

    it('finds packed entries again after a restart, with references added and removals kept', async function () {
      // One entry over the limit: it has files of its own, and comes back from the index snapshot.
      const sent = await writeAll('restart', [...Array(12).fill(4 * KiB), PACK_MAX + 1]);
      await unary(client, 'touch', { key: 'hdfs://nn/restart/2', checkpointId: 7 });
      await unary(client, 'delete', { key: 'hdfs://nn/restart/3' });
      client.close();
      await agent.restart();
      await agent.cache.whenIndexReady();
      client = rawClient(agent.address);
      for (const [key, data] of sent) {
        if (key.endsWith('/3')) {
          expect(await statusOf(readEntry(client, { key }))).to.match(/^NOT_FOUND: /);
          continue;
        }
        const { data: read } = await readEntry(client, { key });
        expect(read.equals(data), key).to.equal(true);
      }
      expect(agent.cache.usage().entries).to.equal(12);
      // Found again by the scan: the eleven packed entries left, in files of their actual size.
      const packed = agent.cache.packUsage();
      expect(packed.liveBytes).to.equal(11 * 4 * KiB);
      let onDisk = 0;
      for (const name of await packFiles(agent.cacheDir)) {
        if (!name.endsWith('.log'))
          onDisk += (await fs.stat(path.join(agent.cacheDir, 'packs', name))).size;
      }
      expect(packed.fileBytes).to.equal(onDisk);
      const { entries } = await agent.cache.list({ jobId: 'job', checkpointId: 7 });
      expect(entries.map((e) => e.key)).to.deep.equal(['hdfs://nn/restart/2']);
      expect(entries[0]!.checkpointIds).to.deep.equal([1, 7]);
    });

    it('removes a pack and its log with its last entry', async function () {
      await writeAll('gone', Array(6).fill(4 * KiB));
      expect((await packFiles(agent.cacheDir)).length).to.be.greaterThan(0);
      const full = agent.cache.packUsage();
      expect(full.liveBytes).to.equal(6 * 4 * KiB);
      expect(full.fileBytes).to.be.greaterThan(full.liveBytes);
      for (let i = 0; i < 5; i++) await unary(client, 'delete', { key: `hdfs://nn/gone/${i}` });
      expect((await packFiles(agent.cacheDir)).some((n) => n.endsWith('.log'))).to.equal(true);
      // The removed entries' bytes stay on disk with the pack of the one left.
      const one = agent.cache.packUsage();
      expect(one).to.include({ packs: 1, liveBytes: 4 * KiB });
      await unary(client, 'delete', { key: 'hdfs://nn/gone/5' });
      expect(await packFiles(agent.cacheDir)).to.deep.equal([]);
      expect(agent.cache.packUsage()).to.deep.equal({ packs: 0, fileBytes: 0, liveBytes: 0 });
    });

    it('cuts a log record torn by a crash off, and goes on logging after it', async function () {
      const sent = await writeAll('torn', Array(12).fill(4 * KiB));
      // Two entries of the largest pack go, one before the crash and one after; the rest stays.
      const byPack = new Map<string, string[]>();
      for (const key of sent.keys()) {
        const lease = await unary<object, LeaseResponse__Output>(client, 'lease', {
          key,
          acceptOffset: true,
        });
        byPack.set(lease.relativePath, [...(byPack.get(lease.relativePath) ?? []), key]);
      }
      const [pack, keys] = [...byPack].sort((a, b) => b[1].length - a[1].length)[0]!;
      expect(keys.length, 'entries in the largest pack').to.be.greaterThan(2);
      const [first, second] = keys as [string, string];
      await unary(client, 'delete', { key: first });
      const logPath = path.join(agent.cacheDir, `${pack}.log`);
      const good = (await fs.stat(logPath)).size;
      // Half a record, as a crash in the middle of an append leaves it.
      await fs.appendFile(logPath, Buffer.from([200, 0, 0, 0, 1, 2, 3]));
      client.close();
      await agent.restart();
      await agent.cache.whenIndexReady();
      client = rawClient(agent.address);
      expect((await fs.stat(logPath)).size).to.equal(good);
      await unary(client, 'delete', { key: second });
      client.close();
      await agent.restart();
      await agent.cache.whenIndexReady();
      client = rawClient(agent.address);
      for (const [key, data] of sent) {
        if (key === first || key === second) {
          expect(await statusOf(readEntry(client, { key })), key).to.match(/^NOT_FOUND: /);
          continue;
        }
        const { data: read } = await readEntry(client, { key });
        expect(read.equals(data), key).to.equal(true);
      }
    });
  });

  describe('at start-up, while the packs are being scanned', function () {
    let root: string;

    beforeEach(async function () {
      root = await makeTempDir('ckc-pack-scan');
      // Enough packs that the scan takes several of its 10 ms slices.
      const store = new PackStore(root, path.join(root, 'tmp'));
      await fs.mkdir(path.join(root, 'tmp'), { recursive: true });
      store.init();
      const data = Buffer.from('packed bytes');
      for (let p = 0; p < 600; p++) {
        await store.write(
          Array.from({ length: 4 }, (_, i) => ({
            sidecar: sidecarOf(`hdfs://nn/scan/${p}/${i}`, data),
            data: [data],
          })),
        );
      }
    });
    afterEach(async function () {
      await removeTempDir(root);
    });

    const open = () => openCache(redis.url, root, 'scan-node');

    it('finds a packed entry for a read, and a delete of it stays deleted', async function () {
      let { cache, close } = await open();
      try {
        expect(cache.indexStatus).to.equal('loading');
        // In the last pack scanned: the scan has not reached it yet.
        expect(await cache.delete('hdfs://nn/scan/599/3')).to.equal(true);
        expect((await readWhole(cache, 'hdfs://nn/scan/599/2')).toString()).to.equal(
          'packed bytes',
        );
        await cache.whenIndexReady();
        expect(cache.usage().entries).to.equal(2399);
      } finally {
        await close();
      }
      ({ cache, close } = await open());
      try {
        await cache.whenIndexReady();
        expect(cache.usage().entries).to.equal(2399);
        const gone = await cache.stat('hdfs://nn/scan/599/3', { touch: false }).then(
          () => 'found',
          (err: { code?: string }) => err.code,
        );
        expect(gone).to.equal('NOT_FOUND');
      } finally {
        await close();
      }
    });
  });

  describe('an entry both in a pack and in files of its own', function () {
    it('keeps the packed copy and removes the other at start-up', async function () {
      const root = await makeTempDir('ckc-pack-dup');
      try {
        const key = 'hdfs://nn/dup/0';
        const data = Buffer.from('the same bytes either way');
        const sidecar = sidecarOf(key, data);
        await fs.mkdir(path.join(root, 'tmp'), { recursive: true });
        const store = new PackStore(root, path.join(root, 'tmp'));
        store.init();
        await store.write([{ sidecar, data: [data] }]);
        // As a lost removal record and a later write with files of its own leave it.
        const id = entryIdOf(key);
        const dir = path.join(root, 'entries', id.slice(0, 2));
        await fs.mkdir(dir, { recursive: true });
        await fs.writeFile(path.join(dir, id), data);
        await fs.writeFile(path.join(dir, `${id}.meta`), encodeSidecar(sidecar));
        const { cache, close } = await openCache(redis.url, root, 'dup-node');
        try {
          await cache.whenIndexReady();
          expect(cache.usage().entries).to.equal(1);
          expect(await fs.readdir(dir)).to.deep.equal([]);
          expect((await readWhole(cache, key)).equals(data)).to.equal(true);
        } finally {
          await close();
        }
      } finally {
        await removeTempDir(root);
      }
    });
  });

  describe('the capacity limits', function () {
    it('count what a pack keeps of removed entries, and eviction frees the whole pack', async function () {
      const root = await makeTempDir('ckc-pack-capacity');
      // Eight entries of 4 KiB in one pack, then seven of them deleted: 4 KiB live, the pack's
      // file still ~32 KiB on disk, all of which --max-bytes counts.
      const { cache, close } = await openCache(redis.url, root, 'capacity-node', {
        limits: { maxBytes: 40 * KiB },
      });
      try {
        await cache.whenIndexReady();
        const data = Array.from({ length: 8 }, () => randomBytes(4 * KiB));
        const outcomes = await cache.writeWhole(
          data.map((d, i) => ({
            spec: { key: `hdfs://nn/cap/${i}`, jobId: 'job', checkpointId: 1, size: d.length },
            data: d,
          })),
          () => undefined,
        );
        expect(outcomes.every((o) => o && 'entry' in o)).to.equal(true);
        for (let i = 1; i < 8; i++) expect(await cache.delete(`hdfs://nn/cap/${i}`)).to.equal(true);
        const pack = cache.packUsage();
        expect(pack.liveBytes).to.equal(4 * KiB);
        expect(pack.fileBytes).to.be.greaterThan(32 * KiB);
        expect(cache.usage().bytes).to.equal(4 * KiB);
        expect(cache.heldUsage().bytes).to.equal(pack.fileBytes);

        // 12 KiB more does not fit beside the pack: the pack's last entry is evicted, and with it
        // the whole file.
        const big = randomBytes(12 * KiB);
        const writer = await cache.beginWrite({
          key: 'hdfs://nn/cap/big',
          jobId: 'job',
          checkpointId: 2,
          size: big.length,
        });
        await writer.append(0, big);
        await writer.commit();
        await writer.abort();
        expect(await packFiles(root)).to.have.length(1); // the new entry's pack only
        expect(cache.usage()).to.deep.equal({ entries: 1, bytes: 12 * KiB });
        expect(cache.heldUsage().bytes).to.be.at.most(40 * KiB);
        expect((await readWhole(cache, 'hdfs://nn/cap/big')).equals(big)).to.equal(true);
      } finally {
        await close();
        await removeTempDir(root);
      }
    });
  });

  describe('an agent killed (SIGKILL) during a burst of packed writes', function () {
    let cacheDir: string;
    let agent: AgentProcess | undefined;
    let client: RawClient | undefined;

    beforeEach(async function () {
      cacheDir = await makeTempDir('ckc-packed');
    });
    afterEach(async function () {
      client?.close();
      await agent?.stop();
      await removeTempDir(cacheDir);
    });

    const start = (): Promise<AgentProcess> =>
      startAgentProcess({
        nodeId: 'packed-node',
        redisUrl: redis.url,
        redisPrefix: `packed${process.pid}`,
        listen: '127.0.0.1:0',
        cacheDir,
        extraArgs: ['--pack-max-bytes', '64KiB'],
      });

    // Single Writes (each through EntryWrites' steps), and WriteBatch calls of small new entries
    // (the fast road of whole-writes.ts).
    for (const batched of [false, true])
      it(`loses nothing acknowledged, and every entry found afterwards is whole (${batched ? 'WriteBatch calls of 32' : 'single Writes'})`, async function () {
        agent = await start();
        client = rawClient(`unix:${agent.socketPath}`);
        const sent = new Map<string, Buffer>();
        const acked = new Set<string>();
        let next = 0;
        let killed = false;
        let failure: string | undefined;
        const c = client;
        const writeOne = async (): Promise<void> => {
          const key = `hdfs://nn/packed-burst/${next++}`;
          const data = randomBytes(4 * KiB);
          sent.set(key, data);
          try {
            await writeEntry(c, { key, jobId: 'j', checkpointId: 1, size: data.length }, data);
            acked.add(key);
          } catch (err) {
            if (!killed) failure ??= `${key}: ${(err as grpc.ServiceError).details}`;
          }
        };
        const writeBatch = async (): Promise<void> => {
          const items = Array.from({ length: 32 }, () => {
            const key = `hdfs://nn/packed-burst/${next++}`;
            const data = randomBytes(4 * KiB);
            sent.set(key, data);
            return { header: { key, jobId: 'j', checkpointId: 1, size: data.length }, data };
          });
          try {
            const { results } = await unary<
              object,
              { results: { code: number; message: string }[] }
            >(c, 'writeBatch', { items });
            results.forEach((r, i) => {
              if (r.code === grpc.status.OK) acked.add(items[i]!.header.key);
              else if (!killed) failure ??= `${items[i]!.header.key}: ${r.message}`;
            });
          } catch (err) {
            if (!killed) failure ??= `WriteBatch: ${(err as grpc.ServiceError).details}`;
          }
        };
        const worker = async (): Promise<void> => {
          while (!killed && !failure) await (batched ? writeBatch() : writeOne());
        };
        const burst = Array.from({ length: batched ? 4 : 48 }, worker);
        await waitUntil(() => acked.size >= 300 || failure !== undefined, {
          timeoutMs: 60_000,
          message: 'the burst did not get 300 writes acknowledged',
        });
        expect(failure, 'a write failed before the kill').to.equal(undefined);
        await agent.kill();
        killed = true;
        await Promise.all(burst);
        // The kill came in the middle of the burst: writes were in flight, never answered.
        expect(sent.size).to.be.greaterThan(acked.size);
        client.close();

        agent = await start();
        client = rawClient(`unix:${agent.socketPath}`);
        for (const key of acked) {
          const { data } = await readEntry(client, { key });
          expect(data.equals(sent.get(key)!), key).to.equal(true);
        }
        // Whatever else the agent finds is whole: every entry it lists reads back as sent.
        const found: string[] = [];
        let pageToken = '';
        do {
          const page = await unary<object, { entries: { key: string }[]; nextPageToken: string }>(
            client,
            'list',
            { pageSize: 1000, pageToken },
          );
          found.push(...page.entries.map((e) => e.key));
          pageToken = page.nextPageToken;
        } while (pageToken);
        for (const key of found) {
          const { data } = await readEntry(client, { key });
          expect(data.equals(sent.get(key)!), key).to.equal(true);
        }
        for (const key of acked) expect(found).to.include(key);
        expect(await fs.readdir(path.join(cacheDir, 'tmp'))).to.deep.equal([]);
        expect((await packFiles(cacheDir)).length).to.be.greaterThan(0);
      });
  });
});
