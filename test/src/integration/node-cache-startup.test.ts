/**
 * Start-up of a large cache: reads are served while the index is still being rebuilt from the
 * sidecars, and the rebuilt index matches the disk.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { NodeCache, entryIdOf } from '@checkpoint-cache/cache';
import { crc32c } from '@checkpoint-cache/checksum';
import { KeyBuilder, RedisMetadataStore, createRedisConnection } from '@checkpoint-cache/redis';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';

const ENTRIES = 10_000;

/**
 * Lays entries out as the agent stores them (docs/architecture.md: data file plus JSON sidecar),
 * without fsync, so that 10,000 of them take a second rather than a minute.
 */
async function layOut(root: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, count - i) }, async (_, j) => {
        const key = `hdfs://nn/ckpt/job/chk-1/file-${i + j}`;
        const id = entryIdOf(key);
        const data = Buffer.from(`bytes of ${key}`);
        const crc = crc32c(data);
        const blockCrc = Buffer.alloc(4);
        blockCrc.writeUInt32BE(crc);
        const dir = path.join(root, 'entries', id.slice(0, 2));
        await fs.mkdir(dir, { recursive: true });
        await fs.writeFile(path.join(dir, id), data);
        const sidecar = {
          version: 1,
          key,
          jobId: 'job',
          checkpointIds: [1],
          size: data.length,
          crc32c: crc,
          createdAtMs: Date.now(),
          ttlMs: 3_600_000,
          blockSize: 262_144,
          blockCrcs: blockCrc.toString('base64'),
        };
        await fs.writeFile(path.join(dir, `${id}.meta`), JSON.stringify(sidecar));
      }),
    );
  }
}

describe('node cache start-up', function () {
  this.timeout(120_000);
  let redis: RedisServerHandle;
  let root: string;

  before(async function () {
    redis = await startRedisServer();
    root = await makeTempDir('ckc-startup-');
    await layOut(root, ENTRIES);
  });
  after(async function () {
    await redis?.stop();
    if (root) await removeTempDir(root);
  });

  it(`serves reads of ${ENTRIES} entries before the index is complete`, async function () {
    const connection = createRedisConnection(redis.url);
    const metadata = new RedisMetadataStore(connection, new KeyBuilder('ckc', 'startup'));
    await metadata.ready();
    const cache = await NodeCache.open({ root, nodeId: 'startup', metadata, defaultTtlMs: 60_000 });
    try {
      expect(cache.indexStatus).to.equal('loading');
      const last = `hdfs://nn/ckpt/job/chk-1/file-${ENTRIES - 1}`;
      const reader = await cache.openRead(last, { offset: 0 });
      const parts: Buffer[] = [];
      for await (const chunk of reader.chunks(65536)) parts.push(chunk.data);
      await reader.close();
      expect(Buffer.concat(parts).toString()).to.equal(`bytes of ${last}`);
      expect(
        (await cache.stat('hdfs://nn/ckpt/job/chk-1/file-17', { touch: false })).size,
      ).to.be.above(0);
      await cache.whenIndexReady();
      expect(cache.indexStatus).to.equal('ready');
      expect(cache.usage().entries).to.equal(ENTRIES);
      const listed = await cache.list({ jobId: 'job', pageSize: 1000 });
      expect(listed.entries).to.have.length(1000);
    } finally {
      await cache.close();
      await metadata.close();
    }
  });

  it('sweeps interrupted writes and data files without a sidecar', async function () {
    const dir = await makeTempDir('ckc-sweep-');
    try {
      await layOut(dir, 3);
      await fs.mkdir(path.join(dir, 'tmp'), { recursive: true });
      await fs.writeFile(path.join(dir, 'tmp', 'half-written'), 'x');
      const orphanId = entryIdOf('orphan');
      await fs.mkdir(path.join(dir, 'entries', orphanId.slice(0, 2)), { recursive: true });
      await fs.writeFile(path.join(dir, 'entries', orphanId.slice(0, 2), orphanId), 'no sidecar');
      const connection = createRedisConnection(redis.url);
      const metadata = new RedisMetadataStore(connection, new KeyBuilder('ckc', 'sweep'));
      const cache = await NodeCache.open({
        root: dir,
        nodeId: 'sweep',
        metadata,
        defaultTtlMs: 60_000,
      });
      await cache.whenIndexReady();
      await cache.close();
      await metadata.close();
      expect(cache.usage().entries).to.equal(3);
      expect(await fs.readdir(path.join(dir, 'tmp'))).to.deep.equal([]);
      await fs.access(path.join(dir, 'entries', orphanId.slice(0, 2), orphanId)).then(
        () => expect.fail('orphan data file still there'),
        () => undefined,
      );
    } finally {
      await removeTempDir(dir);
    }
  });
});
