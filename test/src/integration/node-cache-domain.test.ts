/**
 * The cache domain's rules on an in-memory metadata store (no Redis): LRU eviction and leases,
 * writes refused while the store is down, release keeping shared entries, expiry of an entry read
 * within its TTL. Real files in a temp dir; the Redis-backed behaviour has its own tests.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { entryIdOf, NodeCache, type CapacityLimits } from '@checkpoint-cache/cache';
import { crc32c } from '@checkpoint-cache/checksum';
import { MemoryMetadataStore } from '../helpers/memory-metadata-store';
import { putEntry, readEntryBytes } from '../helpers/node-cache';
import { rejection } from '../helpers/rejection';
import { waitUntil } from '../helpers/wait-until';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';

describe('NodeCache on an in-memory metadata store', function () {
  let root: string;
  let store: MemoryMetadataStore;
  let cache: NodeCache;

  async function open(limits?: CapacityLimits): Promise<void> {
    root = await makeTempDir('ckc-domain-');
    store = new MemoryMetadataStore();
    cache = await NodeCache.open({
      root,
      nodeId: 'domain-node',
      metadata: store,
      defaultTtlMs: 60_000,
      ...(limits ? { limits } : {}),
    });
    await cache.whenIndexReady();
  }

  afterEach(async function () {
    await cache?.close();
    if (root) await removeTempDir(root);
  });

  const keys = (): string[] => cache.entryIds().sort();

  it('evicts the least recently read entry to make room, and spares a leased one', async function () {
    await open({ maxEntries: 2 });
    const data = randomBytes(1000);
    await putEntry(cache, 'a', data);
    await putEntry(cache, 'b', data);
    await readEntryBytes(cache, 'a'); // b is now the least recently read
    await putEntry(cache, 'c', data);
    expect(keys()).to.deep.equal([entryIdOf('a'), entryIdOf('c')].sort());
    expect(store.records.has(entryIdOf('b'))).to.equal(false);

    await cache.lease('a', 60_000); // a is the oldest, but leased
    await putEntry(cache, 'd', data); // c is the only entry that may go

    expect(keys()).to.deep.equal([entryIdOf('a'), entryIdOf('d')].sort());
  });

  it('refuses a write at its start while the store is down, and keeps serving reads', async function () {
    await open();
    const data = randomBytes(5000);
    await putEntry(cache, 'kept', data);
    store.available = false;
    const err = await rejection<{ code: string; message: string }>(putEntry(cache, 'new', data));
    expect(err.message).to.match(/Redis is unreachable/);
    expect(store.calls.filter((c) => c.startsWith('register')).length).to.equal(1);
    expect((await readEntryBytes(cache, 'kept')).equals(data)).to.equal(true);
    expect(keys()).to.deep.equal([entryIdOf('kept')]);
  });

  it('releases subsumed checkpoints but keeps an entry a retained checkpoint shares', async function () {
    await open();
    const shared = randomBytes(100);
    const old = randomBytes(100);
    for (const [key, data, checkpointId] of [
      ['shared', shared, 1],
      ['old', old, 1],
    ] as const) {
      const writer = await cache.beginWrite({ key, jobId: 'job', checkpointId });
      await writer.append(0, data, crc32c(data));
      await writer.commit();
    }
    await cache.touch('shared', { checkpointId: 2 });
    expect(await cache.release({ jobId: 'job', belowCheckpointId: 2 })).to.deep.equal({
      entries: 1,
      bytes: 100,
    });
    expect(keys()).to.deep.equal([entryIdOf('shared')]);
  });

  it('deletes an expired entry, but keeps one read within its TTL', async function () {
    await open();
    await putEntry(cache, 'idle', randomBytes(10), 1);
    await putEntry(cache, 'read', randomBytes(10), 60_000);
    // The 1 ms TTL of 'idle' must have passed on the clock expire() reads.
    const written = Date.now();
    await waitUntil(() => Date.now() > written + 1);
    store.lapse(entryIdOf('idle'));
    store.lapse(entryIdOf('read'));
    await readEntryBytes(cache, 'read');
    expect(await cache.expire(entryIdOf('idle'))).to.equal('deleted');
    expect(await cache.expire(entryIdOf('read'))).to.equal('revived');
    expect(keys()).to.deep.equal([entryIdOf('read')]);
    expect(store.ttlKeys.has(entryIdOf('read'))).to.equal(true);
  });
});
