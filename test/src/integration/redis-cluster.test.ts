/**
 * The Redis side of checkpoint-cache on a real 3-master Redis Cluster: cluster URLs, the metadata
 * store's scripts and pipelines for nodes whose hash tags land on different masters, and the
 * expiry watcher subscribing on every master (flags on, each node hearing only its own keys,
 * following masters that join, take slots and leave).
 */
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { entryIdOf, type EntryMetadata } from '@checkpoint-cache/cache';
import { ErrorCode, hasErrorCode } from '@checkpoint-cache/errors';
import { createLogger } from '@checkpoint-cache/logger';
import {
  KeyBuilder,
  RedisExpiryWatcher,
  RedisMetadataStore,
  createRedisConnection,
  describeRedisConnection,
  isRedisCluster,
  parseRedisUrl,
  type RedisConnection,
} from '@checkpoint-cache/redis';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster';
import { waitUntil } from '../helpers/wait-until';

const MINUTE = 60_000;
const SHORT_TTL_MS = 200;
const PREFIX = `ckc-cluster-${process.pid}`;

function entry(name: string, ttlMs = MINUTE): EntryMetadata {
  const key = `hdfs://nn/flink/ckpt/job-1/chk-1/${name}`;
  return {
    key,
    id: entryIdOf(key),
    jobId: 'job-1',
    checkpointIds: [1],
    size: 100,
    crc32c: 7,
    createdAtMs: 1_700_000_000_000,
    lastAccessMs: 1_700_000_000_000,
    ttlMs,
  };
}

/** A plain connection to one node: no redirections, so a key found there lives there. */
async function onNode<T>(port: number, fn: (node: Redis) => Promise<T>): Promise<T> {
  const node = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  node.on('error', () => undefined);
  try {
    await node.connect();
    return await fn(node);
  } finally {
    node.disconnect();
  }
}

async function notifyFlags(port: number): Promise<string> {
  const reply = (await onNode(port, (n) =>
    n.call('CONFIG', 'GET', 'notify-keyspace-events'),
  )) as string[];
  return reply[1] ?? '';
}

/** Records what a watcher reports. */
class Recorder {
  readonly expired: string[] = [];
  readonly resyncs: string[] = [];
  readonly handlers = {
    expired: (id: string): void => {
      this.expired.push(id);
    },
    resync: (reason: string): void => {
      this.resyncs.push(reason);
    },
  };
}

describe('parseRedisUrl with Redis Cluster URLs', function () {
  it('reads seeds, credentials and TLS', function () {
    expect(parseRedisUrl('redis+cluster://u:p%40ss@10.0.0.1:7000,node-b:7001,[::1]')).to.deep.equal(
      {
        username: 'u',
        password: 'p@ss',
        cluster: [
          { host: '10.0.0.1', port: 7000 },
          { host: 'node-b', port: 7001 },
          { host: '::1', port: 6379 },
        ],
        description: 'redis+cluster://10.0.0.1:7000,node-b:7001,[::1]:6379',
      },
    );
    expect(parseRedisUrl('rediss+cluster://:secret@h:1/')).to.deep.equal({
      password: 'secret',
      tls: {},
      cluster: [{ host: 'h', port: 1 }],
      description: 'rediss+cluster://h:1',
    });
    expect(parseRedisUrl('REDIS+CLUSTER://h:1/0').cluster).to.deep.equal([{ host: 'h', port: 1 }]);
  });

  it('rejects what a cluster cannot use, without echoing credentials', function () {
    const cases: [string, RegExp][] = [
      ['redis+cluster://h:1/2', /only database 0/],
      ['redis+cluster://h:1?db=1', /unsupported parameter "db"/],
      ['redis+cluster://', /empty host/],
      ['redis+cluster://h:1,,h:2', /empty host/],
      ['redis+cluster://h:99999', /not host\[:port\]/],
      ['redis+cluster://u:topsecret@x@h:1', /percent-encode/],
    ];
    for (const [url, pattern] of cases) {
      let message = '';
      try {
        parseRedisUrl(url);
      } catch (err) {
        expect(hasErrorCode(err, ErrorCode.InvalidArgument), url).to.equal(true);
        message = (err as Error).message;
      }
      expect(message, url).to.match(pattern);
      expect(message, url).not.to.include('topsecret');
    }
  });
});

describe('Redis Cluster (3 masters)', function () {
  this.timeout(60_000);
  let cluster: RedisClusterHandle;
  let connection: RedisConnection;
  /** Node ids whose keys live on three different masters, and those masters' ports. */
  const nodes: { nodeId: string; port: number; slot: number }[] = [];

  before(async function () {
    cluster = await startRedisCluster({ masters: 3 });
    connection = createRedisConnection(cluster.url, { connectionName: 'test-cluster' });
    const owners = new Set<number>();
    for (let i = 0; nodes.length < 3 && i < 1000; i++) {
      const nodeId = `node-${i}`;
      // Keys are `<prefix>:{<nodeId>}:...`: the hash tag alone decides the slot.
      const slot = await cluster.slotOf(`{${nodeId}}`);
      const port = await cluster.ownerOf(slot);
      if (owners.has(port)) continue;
      owners.add(port);
      nodes.push({ nodeId, port, slot });
    }
    expect(nodes).to.have.length(3);
  });
  after(async function () {
    connection?.disconnect();
    await cluster?.stop();
  });
  afterEach(async function () {
    // Each node deletes only this file's keys, one by one (they are in different slots).
    for (const port of cluster.ports) {
      await onNode(port, async (n) => {
        for (const key of await n.keys(`${PREFIX}:*`)) await n.del(key);
      }).catch(() => undefined); // a node removed by a test
    }
  });

  it('connects to the cluster from a redis+cluster:// URL', async function () {
    expect(isRedisCluster(connection)).to.equal(true);
    expect(describeRedisConnection(connection)).to.equal(cluster.url);
    const store = new RedisMetadataStore(connection, new KeyBuilder(PREFIX, 'ready'), undefined, {
      ownsConnection: false,
    });
    await store.ready();
    await store.close();
  });

  it('runs the metadata store round trip for nodes on different masters', async function () {
    for (const { nodeId, port } of nodes) {
      const keys = new KeyBuilder(PREFIX, nodeId);
      const store = new RedisMetadataStore(connection, keys, undefined, { ownsConnection: false });
      try {
        await store.ready();
        const [a, b, c] = [entry(`${nodeId}-a`), entry(`${nodeId}-b`), entry(`${nodeId}-c`)];
        for (const e of [a, b, c]) await store.register(e);
        expect(await store.getRecord(a.id)).to.deep.equal({
          id: a.id,
          size: a.size,
          lastAccessMs: a.lastAccessMs,
          expiring: false,
        });
        expect(await store.usage()).to.deep.equal({ bytes: 300, entries: 3 });

        // Every key of the node lives on the master its hash tag chose.
        const onMaster = await onNode(port, (n) =>
          n.exists(keys.entries(), keys.ttl(a.id), keys.bytes(), keys.count()),
        );
        expect(onMaster, `keys of ${nodeId} on port ${port}`).to.equal(4);

        await store.touch([
          { id: a.id, ttlMs: MINUTE, atMs: a.lastAccessMs + 10 },
          { id: b.id, ttlMs: MINUTE, atMs: b.lastAccessMs + 20 },
        ]);
        expect(await store.lastAccessMs(b.id)).to.equal(b.lastAccessMs + 20);

        await connection.del(keys.ttl(b.id));
        const unknown = entryIdOf(`${nodeId}-unknown`);
        expect(await store.states([a.id, b.id, unknown])).to.deep.equal([
          'alive',
          'expired',
          'unknown',
        ]);

        expect(await store.claimExpired(a.id)).to.equal(false);
        expect(await store.claimExpired(b.id)).to.equal(true);
        await store.touch([{ id: b.id, ttlMs: MINUTE, atMs: b.lastAccessMs + 30 }]);
        expect(await store.states([b.id])).to.deep.equal(['expired']);

        const ids: string[] = [];
        let cursor = '0';
        do {
          const page = await store.scanIds(cursor, 1);
          ids.push(...page.ids);
          cursor = page.cursor;
        } while (cursor !== '0');
        expect(new Set(ids)).to.deep.equal(new Set([a.id, b.id, c.id]));

        await store.remove(b.id);
        await store.remove(c.id);
        expect(await store.usage()).to.deep.equal({ bytes: 100, entries: 1 });
        expect(await store.states([b.id, c.id])).to.deep.equal(['unknown', 'unknown']);
      } finally {
        await store.close();
      }
    }
    expect(new Set(nodes.map((n) => n.port)).size).to.equal(3);
  });

  describe('expiry watcher', function () {
    const watchers: RedisExpiryWatcher[] = [];

    async function watch(nodeId: string): Promise<{ watcher: RedisExpiryWatcher; rec: Recorder }> {
      const logger = createLogger({
        level: 'debug',
        stream: new Writable({ write: (_c, _e, done) => done() }),
      });
      const watcher = new RedisExpiryWatcher(cluster.url, new KeyBuilder(PREFIX, nodeId), logger, {
        topologyRefreshMs: 200,
        connection: { reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 200 },
      });
      watchers.push(watcher);
      const rec = new Recorder();
      await watcher.start(rec.handlers);
      return { watcher, rec };
    }

    afterEach(async function () {
      for (const w of watchers.splice(0)) await w.stop();
    });

    it('subscribes on every master, turns the flags on there, and hears only its own node', async function () {
      for (const port of cluster.ports) {
        await onNode(port, (n) => n.call('CONFIG', 'SET', 'notify-keyspace-events', ''));
      }
      const watched = await Promise.all(nodes.map((n) => watch(n.nodeId)));
      for (const { watcher } of watched) {
        expect(watcher.status()).to.deep.equal({ servers: 3, subscribed: 3, notifications: 'on' });
      }
      for (const port of cluster.ports) {
        const flags = await notifyFlags(port);
        expect(flags, `port ${port}`).to.include('K').and.include('x');
      }

      const expected = new Map<string, string[]>();
      for (const { nodeId } of nodes) {
        const store = new RedisMetadataStore(
          connection,
          new KeyBuilder(PREFIX, nodeId),
          undefined,
          {
            ownsConnection: false,
          },
        );
        const entries = [entry(`${nodeId}-x`, SHORT_TTL_MS), entry(`${nodeId}-y`, SHORT_TTL_MS)];
        for (const e of entries) await store.register(e);
        expected.set(
          nodeId,
          entries.map((e) => e.id),
        );
        await store.close();
      }
      await waitUntil(() => watched.every(({ rec }) => rec.expired.length >= 2), {
        message: 'two expiries for every node',
      });
      // Every node heard its own expiries, from its own master, and nothing of the others.
      nodes.forEach(({ nodeId }, i) => {
        expect([...(watched[i]?.rec.expired ?? [])].sort(), nodeId).to.deep.equal(
          [...(expected.get(nodeId) ?? [])].sort(),
        );
        expect(watched[i]?.rec.resyncs, nodeId).to.deep.equal([]);
      });
    });

    it('follows masters that join, take slots and leave, and resyncs', async function () {
      const [target] = nodes;
      if (!target) throw new Error('no node');
      const { watcher, rec } = await watch(target.nodeId);
      const keys = new KeyBuilder(PREFIX, target.nodeId);
      const store = new RedisMetadataStore(connection, keys, undefined, { ownsConnection: false });
      try {
        // A new master: no slots, nothing to subscribe to yet.
        const newPort = await cluster.addMaster();
        // The node's slot moves to the new master: its keys expire there from now on.
        await cluster.moveSlot(target.slot, newPort);
        await waitUntil(() => watcher.status().servers === 4 && watcher.status().subscribed === 4, {
          message: 'a subscription on the new master',
        });
        await waitUntil(() => rec.resyncs.includes('topology'), { message: 'a topology resync' });
        expect(await notifyFlags(newPort))
          .to.include('K')
          .and.include('x');

        const moved = entry(`${target.nodeId}-moved`, SHORT_TTL_MS);
        await store.register(moved);
        expect(await onNode(newPort, (n) => n.exists(keys.ttl(moved.id)))).to.equal(1);
        await waitUntil(() => rec.expired.includes(moved.id), {
          message: 'the expiry published by the new master',
        });

        // The slot goes back and the new master leaves: its subscription goes too.
        const resyncsBefore = rec.resyncs.length;
        await cluster.moveSlot(target.slot, target.port);
        await cluster.removeMaster(newPort);
        await waitUntil(() => watcher.status().servers === 3, {
          message: 'the subscription on the removed master to go',
        });
        await waitUntil(() => rec.resyncs.length > resyncsBefore, {
          message: 'a topology resync after the master left',
        });
        const back = entry(`${target.nodeId}-back`, SHORT_TTL_MS);
        await store.register(back);
        await waitUntil(() => rec.expired.includes(back.id), {
          message: 'the expiry published by the original master',
        });
      } finally {
        await store.close();
      }
    });
  });
});
