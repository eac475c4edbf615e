/**
 * The location index (issue 13 item 1): Redis knows, for each entry, which nodes hold a verified
 * copy (`<prefix>:l:{<rid>}`, a set of node numbers), kept in step with register, remove, expiry and eviction, repaired
 * by reconcile, and each agent advertises its peer address. Real redis-server, real agents sharing
 * one key prefix as a DaemonSet's agents do. Also the upgrade from key layout 1 (issue 16): its
 * location sets are still read, and an agent finding its node's layout-1 records replaces them.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { entryIdOf, type EntryMetadata } from '@checkpoint-cache/cache';
import {
  KeyBuilder,
  LegacyKeys,
  RedisMetadataStore,
  createRedisConnection,
} from '@checkpoint-cache/redis';
import type { TestAgent } from '../helpers/agent';
import { unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { useSharedRedis } from '../helpers/shared-redis';
import { waitUntil } from '../helpers/wait-until';

function entry(key: string): EntryMetadata {
  return {
    key,
    id: entryIdOf(key),
    jobId: 'job-1',
    checkpointIds: [1],
    size: 10,
    crc32c: 1,
    createdAtMs: Date.now(),
    lastAccessMs: Date.now(),
    ttlMs: 60_000,
  };
}

describe('location index', function () {
  this.timeout(30_000);
  const shared = useSharedRedis('ckc-loc', ['--notify-keyspace-events', 'Ex']);

  async function store(nodeId: string): Promise<RedisMetadataStore> {
    const s = new RedisMetadataStore(
      createRedisConnection(shared.redis.url),
      new KeyBuilder(shared.prefix, nodeId),
    );
    shared.onCleanup(() => s.close());
    await s.ready();
    return s;
  }

  const agent = (overrides?: Record<string, unknown>): Promise<TestAgent> =>
    shared.agent(overrides);
  const client = (a: TestAgent): RawClient => shared.client(a);

  it('lists every node that registered an entry, and drops a node when it removes or expires it', async function () {
    const a = await store('node-a');
    const b = await store('node-b');
    const e = entry('hdfs://nn/ckpt/job-1/chk-1/f1');
    await a.register(e);
    await b.register(e);
    expect((await a.holders(e.id)).sort()).to.deep.equal(['node-a', 'node-b']);
    // Each node's own keys are in its slot; the index is hashed by the entry.
    expect(await shared.admin.exists(a.keys.locations(e.id))).to.equal(1);
    // Node numbers, not names: Redis keeps the set as an intset (16 bytes for one holder).
    expect(await shared.admin.object('ENCODING', a.keys.locations(e.id))).to.equal('intset');
    expect(await shared.admin.hget(a.keys.nodes(), String(b.keys.nodeNumber))).to.equal('node-b');
    await a.remove(e.id);
    expect(await b.holders(e.id)).to.deep.equal(['node-b']);
    // Expiry: the TTL key goes, the node claims it and removes the record (NodeCache.expire).
    await shared.admin.del(b.keys.ttl(e.id));
    expect(await b.claimExpired(e.id)).to.equal(true);
    await b.remove(e.id);
    expect(await a.holders(e.id)).to.deep.equal([]);
    // Nothing is left behind for an entry no node holds.
    expect(await shared.admin.exists(a.keys.locations(e.id))).to.equal(0);
  });

  it('follows an agent: written, evicted to make room, deleted', async function () {
    const a = await agent({ maxBytes: 1500 });
    const c = client(a);
    const keys = ['hdfs://nn/ckpt/j/chk-1/x', 'hdfs://nn/ckpt/j/chk-1/y'];
    await writeEntry(c, { key: keys[0]!, jobId: 'j', checkpointId: 1 }, randomBytes(1000));
    expect(await a.metadata.holders(entryIdOf(keys[0]!))).to.deep.equal([a.nodeId]);
    // The second entry does not fit beside the first: the first is evicted.
    await writeEntry(c, { key: keys[1]!, jobId: 'j', checkpointId: 1 }, randomBytes(1000));
    expect(await a.metadata.holders(entryIdOf(keys[0]!))).to.deep.equal([]);
    expect(await a.metadata.holders(entryIdOf(keys[1]!))).to.deep.equal([a.nodeId]);
    await unary(c, 'delete', { key: keys[1]! });
    expect(await a.metadata.holders(entryIdOf(keys[1]!))).to.deep.equal([]);
  });

  it('is repaired by the next full reconcile pass (after a reconnect) when Redis lost it', async function () {
    // Interval passes check only entries that are due (issue 16: Redis cost grows with what
    // changed); a Redis that lost data is one the agent reconnects to, and a reconnect of the
    // expiry watcher's subscriber makes the next pass a full one, which lists every live entry.
    const a = await agent({ reconcileInterval: 200 });
    const c = client(a);
    const key = 'hdfs://nn/ckpt/j/chk-2/z';
    await writeEntry(c, { key, jobId: 'j', checkpointId: 2 }, randomBytes(100));
    const id = entryIdOf(key);
    const reader = await store('reader-after-loss');
    // Lost: the entry's set and the node-number names (read back by other nodes).
    await shared.admin.del(a.metadata.keys.locations(id), a.metadata.keys.nodes());
    await shared.admin.client('KILL', 'TYPE', 'normal');
    await shared.admin.client('KILL', 'TYPE', 'pubsub');
    await waitUntil(
      async () => (await reader.holders(id).catch((): string[] => [])).includes(a.nodeId),
      {
        timeoutMs: 10_000,
        message: 'reconcile did not list the node again under its name',
      },
    );
  });

  it('also reads the location sets of key layout 1 (agents not yet updated in a rolling update)', async function () {
    const a = await store('node-new');
    const e = entry('hdfs://nn/ckpt/job-1/chk-1/mixed');
    await a.register(e);
    // An agent of layout 1 lists itself by name under the hex id.
    const legacy = new LegacyKeys(a.keys).locations(e.id);
    await shared.admin.sadd(legacy, 'node-old');
    expect((await a.holders(e.id)).sort()).to.deep.equal(['node-new', 'node-old']);
    // A delete noticed to both takes both out of the index, in either layout.
    await a.forgetHolders(e.id, ['node-old', 'node-new']);
    expect(await a.holders(e.id)).to.deep.equal([]);
    expect(await shared.admin.exists(legacy, a.keys.locations(e.id))).to.equal(0);
  });

  it("upgrade: an agent replaces its node's layout-1 records with layout-2 ones and keeps its entries", async function () {
    const a = await agent({ reconcileInterval: 200 });
    const c = client(a);
    const key = 'hdfs://nn/ckpt/j/chk-3/upgraded';
    const data = randomBytes(300);
    await writeEntry(c, { key, jobId: 'j', checkpointId: 3, ttlMs: 600_000 }, data);
    const id = entryIdOf(key);
    const keys = a.metadata.keys;
    const old = new LegacyKeys(keys);
    // What an agent before issue 16 left for this entry, in place of the layout-2 record.
    await shared.admin.del(keys.entries(), keys.ttl(id), keys.bytes(), keys.count());
    await shared.admin.srem(keys.locations(id), keys.nodeNumber);
    await shared.admin.hset(old.entry(id), 'key', key, 'size', '300', 'ttlMs', '600000');
    await shared.admin.set(old.ttl(id), '1', 'PX', 600_000);
    await shared.admin.zadd(old.lru(), Date.now(), id);
    await shared.admin.set(old.bytes(), '300');
    await shared.admin.set(old.count(), '1');
    await shared.admin.sadd(old.locations(id), a.nodeId);
    // The agent reconnects (as after its restart on the new version): it drops layout 1 and its
    // full reconcile pass registers the entry again from its sidecar.
    await shared.admin.client('KILL', 'TYPE', 'normal');
    await shared.admin.client('KILL', 'TYPE', 'pubsub');
    await waitUntil(async () => (await shared.admin.exists(old.lru())) === 0, {
      timeoutMs: 10_000,
      message: 'the layout-1 records were not removed',
    });
    await waitUntil(
      async () => (await a.metadata.getRecord(id).catch(() => undefined)) !== undefined,
      {
        timeoutMs: 10_000,
        message: 'reconcile did not register the entry in layout 2',
      },
    );
    const left = [old.entry(id), old.ttl(id), old.bytes(), old.count(), old.locations(id)];
    expect(await shared.admin.exists(...left)).to.equal(0);
    expect(await a.metadata.holders(id)).to.deep.equal([a.nodeId]);
    expect(await a.metadata.usage()).to.deep.equal({ bytes: 300, entries: 1 });
    expect((await a.cache.stat(key, { touch: false })).size).to.equal(300);
  });

  it('holds the peer address each agent advertises (--peer-address)', async function () {
    const a = await agent({ peerAddress: '10.1.2.3:7878' });
    const b = await agent();
    const reader = await store('reader');
    expect(await reader.peerAddress(a.nodeId)).to.equal('10.1.2.3:7878');
    // Unset: not advertised.
    expect(await reader.peerAddress(b.nodeId)).to.equal(undefined);
  });
});
