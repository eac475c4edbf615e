/**
 * The same-node short circuit: a client that sees the cache volume leases an entry and reads its
 * file directly, verifying every block; anything unusual goes back to streaming (and from there
 * to the remote store), and a leased entry is not evicted.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { entryIdOf } from '@checkpoint-cache/cache';
import { CheckpointCacheClient } from '@checkpoint-cache/client';
import type { LeaseResponse__Output } from '@checkpoint-cache/proto';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { rawClient, unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';

const KiB = 1024;
/** What one disk read of the agent covers (READ_SPAN); the short circuit reads up to 1 MiB at once. */
const BLOCK = 256 * KiB;

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

// 64 KiB: the default; 256 KiB: entries written before it changed; 4 KiB: many blocks per read.
for (const blockSize of [64 * KiB, 256 * KiB, 4 * KiB])
  describe(`same-node short circuit, ${blockSize / KiB} KiB blocks`, function () {
    this.timeout(60_000);
    let redis: RedisServerHandle;
    let agent: TestAgent;
    let raw: RawClient;
    const data = randomBytes(3 * BLOCK + 777);

    before(async function () {
      redis = await startRedisServer();
      agent = await startTestAgent({
        redisUrl: redis.url,
        maxBytes: 4 * 1024 * 1024,
        minFreePercent: 0,
        blockSize,
      });
      raw = rawClient(agent.address);
      await writeEntry(raw, { key: 'sc/a', jobId: 'j' }, data);
    });
    after(async function () {
      raw?.close();
      await agent?.stop();
      await redis?.stop();
    });

    function client(shortCircuit: boolean | { cacheRoot?: string }): CheckpointCacheClient {
      return new CheckpointCacheClient({ agent: `unix:${agent.socketPath}`, shortCircuit });
    }

    it('reads the file directly and verifies it', async function () {
      const c = client(true);
      try {
        expect((await readAll(c.read('sc/a'))).equals(data)).to.equal(true);
        expect(
          (await readAll(c.read('sc/a', { offset: BLOCK - 5, length: BLOCK + 10 }))).equals(
            data.subarray(BLOCK - 5, 2 * BLOCK + 5),
          ),
        ).to.equal(true);
        const s = c.stats();
        expect(s.bytesShortCircuit).to.equal(data.length + BLOCK + 10);
        expect(s.bytesFromCache).to.equal(s.bytesShortCircuit);
        expect(s.shortCircuitMisses).to.equal(0);
      } finally {
        c.close();
      }
    });

    it('uses the volume where this process mounts it', async function () {
      const mount = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'ckc-mount-')), 'cache');
      await fs.symlink(agent.cacheDir, mount);
      const c = client({ cacheRoot: mount });
      try {
        expect((await readAll(c.read('sc/a'))).equals(data)).to.equal(true);
        expect(c.stats().bytesShortCircuit).to.equal(data.length);
      } finally {
        c.close();
        await fs.rm(path.dirname(mount), { recursive: true, force: true });
      }
    });

    it('streams from the agent when the volume is not visible here', async function () {
      const c = client({ cacheRoot: '/nonexistent/checkpoint-cache' });
      try {
        expect((await readAll(c.read('sc/a'))).equals(data)).to.equal(true);
        const s = c.stats();
        expect(s.bytesShortCircuit).to.equal(0);
        expect(s.bytesFromCache).to.equal(data.length);
        expect(s.shortCircuitMisses).to.equal(1);
      } finally {
        c.close();
      }
    });

    it('goes straight to the remote store when the lease says the entry is not cached', async function () {
      const remoteDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckc-remote-'));
      const remote = path.join(remoteDir, 'file');
      const bytes = randomBytes(1000);
      await fs.writeFile(remote, bytes);
      const c = client(true);
      try {
        expect(
          (await readAll(c.read('sc/not-cached', { remote: `file://${remote}` }))).equals(bytes),
        ).to.equal(true);
        const s = c.stats();
        expect(s.fallbacks).to.deep.equal({ NOT_FOUND: 1 });
        expect(s.bytesFromRemote).to.equal(1000);
        expect(s.shortCircuitMisses).to.equal(1);
      } finally {
        c.close();
        await fs.rm(remoteDir, { recursive: true, force: true });
      }
    });

    it('leaves the short circuit on a corrupt block and ends up with the right bytes', async function () {
      const key = 'sc/corrupt';
      const bytes = randomBytes(3 * BLOCK);
      await writeEntry(raw, { key, jobId: 'j' }, bytes);
      const remoteDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckc-remote-'));
      const remote = path.join(remoteDir, 'file');
      await fs.writeFile(remote, bytes);
      const id = entryIdOf(key);
      const file = path.join(agent.cacheDir, 'entries', id.slice(0, 2), id);
      const handle = await fs.open(file, 'r+');
      await handle.write(Buffer.from([bytes[BLOCK + 1]! ^ 0xff]), 0, 1, BLOCK + 1);
      await handle.close();
      const c = client(true);
      try {
        const stream = c.read(key, { remote: `file://${remote}` });
        let headers = 0;
        stream.on('header', () => headers++);
        expect((await readAll(stream)).equals(bytes)).to.equal(true);
        expect(headers, 'header events').to.equal(1);
        expect(stream.bytesFromCache).to.equal(BLOCK);
        expect(stream.bytesFromRemote).to.equal(2 * BLOCK);
        expect(c.stats().fallbacks).to.deep.equal({ DATA_LOSS: 1 });
      } finally {
        c.close();
        await fs.rm(remoteDir, { recursive: true, force: true });
      }
    });

    it('hands out leases with the block checksums, and validates them', async function () {
      const lease = await unary<unknown, LeaseResponse__Output>(raw, 'lease', { key: 'sc/a' });
      expect(lease.entry?.size).to.equal(data.length);
      expect(lease.cacheRoot).to.equal(agent.cacheDir);
      expect(lease.blockSize).to.equal(blockSize);
      expect(lease.blockCrc32c.length).to.equal(4 * Math.ceil(data.length / blockSize));
      expect(lease.expiresAtMs).to.be.above(Date.now());
      const missing = await unary(raw, 'lease', { key: 'sc/none' }).catch(
        (e: grpc.ServiceError) => e,
      );
      expect((missing as grpc.ServiceError).code).to.equal(grpc.status.NOT_FOUND);
      const long = await unary(raw, 'lease', { key: 'sc/a', durationMs: 7_200_000 }).catch(
        (e: grpc.ServiceError) => e,
      );
      expect((long as grpc.ServiceError).code).to.equal(grpc.status.INVALID_ARGUMENT);
    });

    it('does not evict a leased entry to make room', async function () {
      await unary(raw, 'delete', { key: 'sc/corrupt' });
      // sc/a is the least recently used entry; lease it, then need room for almost everything.
      await writeEntry(raw, { key: 'sc/b', jobId: 'j' }, randomBytes(BLOCK));
      await unary(raw, 'lease', { key: 'sc/a', durationMs: 60_000 });
      await unary(raw, 'stat', { key: 'sc/b' });
      // Fits beside sc/a (4 MiB limit) only if sc/b goes, although sc/a is older.
      await writeEntry(raw, { key: 'sc/c', jobId: 'j' }, randomBytes(3_300_000));
      const left = await unary<unknown, { entries: { key: string }[] }>(raw, 'list', {});
      expect(left.entries.map((e) => e.key)).to.deep.equal(['sc/a', 'sc/c']);
    });
  });
