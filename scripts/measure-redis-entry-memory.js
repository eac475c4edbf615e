#!/usr/bin/env node
/**
 * Redis memory per cache entry, measured (docs/operations.md, "Redis memory per entry"): starts a
 * private redis-server on a free port (no persistence), registers N entries of one node through
 * RedisMetadataStore (which also lists the node in each entry's location index), and reports the
 * difference of INFO memory used_memory per entry: all of it, the location index's share (the same
 * figure after deleting the index sets), the TTL keys' share (likewise), the record's (the rest),
 * and what a second holder adds to an entry's index set.
 * Usage: npm run build && node scripts/measure-redis-entry-memory.js [entries=10000] [redis-server args...]
 * e.g. `node scripts/measure-redis-entry-memory.js 10000 --hash-max-listpack-value 1100`.
 * Never: used by the agent or the tests; it only measures.
 */
'use strict';
const { spawn } = require('node:child_process');
const net = require('node:net');
const { createHash } = require('node:crypto');
const Redis = require('ioredis');
const {
  KeyBuilder,
  RedisMetadataStore,
  createRedisConnection,
} = require('@checkpoint-cache/redis');

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function usedMemory(redis) {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)[1]);
}

async function main() {
  const entries = Number(process.argv[2] ?? 10_000);
  const extra = process.argv.slice(3);
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--save', '', '--appendonly', 'no', ...extra],
    { stdio: 'ignore' },
  );
  // Retries until the server listens; the offline queue holds the first command meanwhile.
  const admin = new Redis({ port, retryStrategy: () => 100 });
  admin.on('error', () => undefined);
  try {
    await admin.ping();
    const nodeId = 'ip-10-0-12-34.eu-west-1.compute.internal';
    const store = new RedisMetadataStore(
      createRedisConnection(`redis://127.0.0.1:${port}`),
      new KeyBuilder('ckc', nodeId),
    );
    await store.ready();
    const job = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const make = (i) => {
      const key = `hdfs://namenode:8020/flink/checkpoints/${job}/chk-${Math.abs(i) % 50}/${createHash(
        'md5',
      )
        .update(String(i))
        .digest('hex')}-0000-4000-8000-${String(i).padStart(12, '0')}`;
      const now = Date.now();
      return {
        key,
        id: createHash('sha256').update(key).digest('hex'),
        jobId: job,
        checkpointIds: [Math.abs(i) % 50],
        size: 64 * 1024 * 1024,
        crc32c: 0xdeadbeef,
        createdAtMs: now,
        lastAccessMs: now,
        ttlMs: 86_400_000,
      };
    };
    // The first entry creates the node's LRU set and counters.
    await store.register(make(-1));
    const all = Array.from({ length: entries }, (_, i) => make(i));
    const before = await usedMemory(admin);
    for (let i = 0; i < all.length; i += 500) {
      await Promise.all(all.slice(i, i + 500).map((e) => store.register(e)));
    }
    const registered = await usedMemory(admin);
    const sample = store.keys.locations(all[0].id);
    const sampleUsage = await admin.memory('USAGE', sample);
    // Index sets hold node numbers (KeyBuilder.nodeNumber), not names.
    const second = store.keys.forNode('ip-10-0-56-78.eu-west-1.compute.internal').nodeNumber;
    for (let i = 0; i < all.length; i += 500) {
      const p = admin.pipeline();
      for (const e of all.slice(i, i + 500)) p.sadd(store.keys.locations(e.id), second);
      await p.exec();
    }
    const twoHolders = await usedMemory(admin);
    for (let i = 0; i < all.length; i += 500) {
      await admin.del(...all.slice(i, i + 500).map((e) => store.keys.locations(e.id)));
    }
    const withoutIndex = await usedMemory(admin);
    for (let i = 0; i < all.length; i += 500) {
      await admin.del(...all.slice(i, i + 500).map((e) => store.keys.ttl(e.id)));
    }
    const withoutTtl = await usedMemory(admin);
    const per = (bytes) => Math.round(bytes / entries);
    console.log(
      JSON.stringify({
        redis: (await admin.info('server')).match(/redis_version:(\S+)/)[1],
        args: extra.join(' ') || '(defaults)',
        entries,
        keyBytes: all[0].key.length,
        perEntryWithIndexB: per(registered - before),
        perEntryIndexOneHolderB: per(registered - withoutIndex),
        perEntryWithoutIndexB: per(withoutIndex - before),
        perEntryTtlKeyB: per(withoutIndex - withoutTtl),
        perEntryRecordB: per(withoutTtl - before),
        perExtraHolderB: per(twoHolders - registered),
        memoryUsageOfOneIndexSetB: sampleUsage,
      }),
    );
    await store.close();
  } finally {
    admin.disconnect();
    child.kill('SIGKILL');
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
