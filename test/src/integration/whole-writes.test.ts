/**
 * WriteBatch's fast road for small new entries (whole-writes.ts, issue #16), called on a real
 * NodeCache that packs, with a real redis-server: it stores the entries it may take and leaves
 * every other one (undefined) to the usual write path, which gives the errors (write-batch.test.ts
 * checks those through the RPC, packed and not). Also: a refusal stores nothing, a batch that does
 * not fit at once is left whole to the usual path and reserves nothing, and an entry a concurrent
 * Write created first is left to the usual path.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { NodeCache, entryIdOf, type WholeEntry } from '@checkpoint-cache/cache';
import { crc32c } from '@checkpoint-cache/checksum';
import { KeyBuilder, RedisMetadataStore, createRedisConnection } from '@checkpoint-cache/redis';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';

const KiB = 1024;
const PACK_MAX = 64 * KiB;

function whole(key: string, data: Buffer, spec: Partial<WholeEntry['spec']> = {}): WholeEntry {
  return {
    spec: { key, jobId: 'job', checkpointId: 1, size: data.length, crc32c: crc32c(data), ...spec },
    data,
  };
}

async function readWhole(cache: NodeCache, key: string): Promise<Buffer> {
  const reader = await cache.openRead(key, { offset: 0 });
  const parts: Buffer[] = [];
  for await (const chunk of reader.chunks(65_536)) parts.push(chunk.data);
  await reader.close();
  return Buffer.concat(parts);
}

describe('the fast road of WriteBatch (NodeCache.writeWhole)', function () {
  this.timeout(60_000);
  let redis: RedisServerHandle;
  let root: string;
  let cache: NodeCache;
  let metadata: RedisMetadataStore;

  async function open(extra: Partial<Parameters<typeof NodeCache.open>[0]> = {}): Promise<void> {
    metadata = new RedisMetadataStore(
      createRedisConnection(redis.url),
      new KeyBuilder(`whole${process.pid}`, 'whole-node'),
    );
    await metadata.ready();
    cache = await NodeCache.open({
      root,
      nodeId: 'whole-node',
      metadata,
      defaultTtlMs: 60_000,
      packMaxBytes: PACK_MAX,
      ...extra,
    });
    await cache.whenIndexReady();
  }

  before(async function () {
    redis = await startRedisServer();
  });
  after(async function () {
    await redis?.stop();
  });
  beforeEach(async function () {
    root = await makeTempDir('ckc-whole-');
  });
  afterEach(async function () {
    await cache?.close();
    await metadata?.close();
    await removeTempDir(root);
  });

  async function expectTmpEmpty(): Promise<void> {
    expect(await fs.readdir(path.join(root, 'tmp'))).to.deep.equal([]);
  }

  it('packs small new entries, readable and registered, with their checksums', async function () {
    await open();
    const data = [randomBytes(4 * KiB), randomBytes(0), randomBytes(PACK_MAX)];
    const outcomes = await cache.writeWhole(
      data.map((d, i) => whole(`hdfs://nn/w/${i}`, d, i === 1 ? { crc32c: undefined } : {})),
      () => undefined,
    );
    outcomes.forEach((o, i) => {
      expect(o && 'entry' in o, `entry ${i}`).to.equal(true);
      if (!o || !('entry' in o)) return;
      expect(o.created).to.equal(true);
      expect(o.entry.size).to.equal(data[i]!.length);
      expect(o.entry.crc32c).to.equal(crc32c(data[i]!));
    });
    for (const [i, d] of data.entries()) {
      expect((await readWhole(cache, `hdfs://nn/w/${i}`)).equals(d)).to.equal(true);
    }
    // One pack, and Redis knows each entry.
    expect(await fs.readdir(path.join(root, 'packs'))).to.have.length(1);
    const states = await metadata.ttlStates(data.map((_, i) => entryIdOf(`hdfs://nn/w/${i}`)));
    expect(states.map((s) => s.state)).to.deep.equal(['alive', 'alive', 'alive']);
    expect(cache.usage()).to.deep.equal({ entries: 3, bytes: 4 * KiB + PACK_MAX });
    await expectTmpEmpty();
  });

  it('leaves to the usual path every entry it may not take', async function () {
    await open();
    const cached = randomBytes(KiB);
    const [first] = await cache.writeWhole([whole('hdfs://nn/cached', cached)], () => undefined);
    expect(first && 'entry' in first).to.equal(true);
    const good = randomBytes(KiB);
    const other = randomBytes(KiB);
    const outcomes = await cache.writeWhole(
      [
        whole('hdfs://nn/good', good),
        whole('hdfs://nn/cached', cached), // cached already
        whole('hdfs://nn/twice', other), // twice in the batch
        whole('hdfs://nn/twice', other),
        whole('hdfs://nn/bad-crc', other, { crc32c: crc32c(other) ^ 1 }),
        whole('hdfs://nn/short', other, { size: KiB + 1 }),
        whole('hdfs://nn/big', randomBytes(PACK_MAX + 1)),
        whole('', other), // an empty key
        whole('hdfs://nn/bad-checkpoint', other, { checkpointId: -1 }),
      ],
      () => undefined,
    );
    expect(
      outcomes.map((o) => (o === undefined ? 'usual' : 'entry' in o ? 'stored' : 'failed')),
    ).to.deep.equal(['stored', ...Array(8).fill('usual')]);
    expect(cache.usage().entries).to.equal(2);
    expect((await readWhole(cache, 'hdfs://nn/good')).equals(good)).to.equal(true);
    await expectTmpEmpty();
  });

  it('stores nothing when refused, before the room is made or once the locks are held', async function () {
    await open();
    const refused = new CacheError(ErrorCode.Cancelled, 'cancelled by the test');
    const entries = (name: string) => [
      whole(`hdfs://nn/${name}/1`, randomBytes(KiB)),
      whole(`hdfs://nn/${name}/2`, randomBytes(KiB)),
    ];
    // Refused from the start, and refused only when asked the second time (under the locks).
    let asked = 0;
    const refusals = [() => refused, () => (++asked > 1 ? refused : undefined)];
    for (const [i, refusal] of refusals.entries()) {
      const outcomes = await cache.writeWhole(entries(`r${i}`), refusal);
      expect(outcomes).to.deep.equal([{ error: refused }, { error: refused }]);
    }
    expect(asked).to.equal(2);
    expect(cache.usage()).to.deep.equal({ entries: 0, bytes: 0 });
    expect(await fs.readdir(path.join(root, 'packs')).catch(() => [])).to.deep.equal([]);
    await expectTmpEmpty();
  });

  it('leaves a batch that does not fit at once to the usual path, reserving nothing', async function () {
    await open({ limits: { maxEntries: 3 } });
    const outcomes = await cache.writeWhole(
      Array.from({ length: 4 }, (_, i) => whole(`hdfs://nn/full/${i}`, randomBytes(KiB))),
      () => undefined,
    );
    expect(outcomes).to.deep.equal([undefined, undefined, undefined, undefined]);
    expect(cache.usage().entries).to.equal(0);
    // Nothing stays reserved: three fit at once afterwards.
    const three = await cache.writeWhole(
      Array.from({ length: 3 }, (_, i) => whole(`hdfs://nn/fits/${i}`, randomBytes(KiB))),
      () => undefined,
    );
    expect(three.every((o) => o && 'entry' in o)).to.equal(true);
    expect(cache.usage().entries).to.equal(3);
    await expectTmpEmpty();
  });

  it('gives an entry a concurrent Write created first to the usual path', async function () {
    await open();
    const data = randomBytes(KiB);
    const writer = await cache.beginWrite(whole('hdfs://nn/race', data).spec);
    await writer.append(0, data);
    // The Write's commit takes the entry's lock first; the fast road waits for it, then finds
    // the entry there.
    const committed = writer.commit();
    const outcomes = cache.writeWhole(
      [whole('hdfs://nn/race', data), whole('hdfs://nn/beside', data)],
      () => undefined,
    );
    expect((await committed).created).to.equal(true);
    await writer.abort();
    const [race, beside] = await outcomes;
    expect(race).to.equal(undefined);
    expect(beside && 'entry' in beside).to.equal(true);
    expect(cache.usage().entries).to.equal(2);
    await expectTmpEmpty();
  });
});
