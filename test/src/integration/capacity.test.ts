/**
 * Capacity limits on a real agent: least recently used entries make room, writes that cannot fit
 * fail with RESOURCE_EXHAUSTED without harming anything, and accounting matches the disk.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { entryIdOf } from '@checkpoint-cache/cache';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { rawClient, readEntry, unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { waitUntil } from '../helpers/wait-until';

describe('capacity', function () {
  let redis: RedisServerHandle;
  let agent: TestAgent | undefined;
  let client: RawClient | undefined;

  before(async function () {
    redis = await startRedisServer();
  });
  after(async function () {
    await redis?.stop();
  });
  afterEach(async function () {
    client?.close();
    await agent?.stop();
    agent = undefined;
  });

  async function start(overrides: Parameters<typeof startTestAgent>[0]): Promise<RawClient> {
    agent = await startTestAgent(overrides);
    await agent.cache.whenIndexReady();
    client = rawClient(agent.address);
    return client;
  }

  /** Each access gets its own millisecond, so LRU order is unambiguous. */
  async function tick(): Promise<void> {
    const now = Date.now();
    await waitUntil(() => Date.now() > now, { intervalMs: 1 });
  }

  async function keys(c: RawClient): Promise<string[]> {
    const page = await unary<unknown, { entries: { key: string }[] }>(c, 'list', {});
    return page.entries.map((e) => e.key);
  }

  it('evicts the least recently used entries to make room', async function () {
    const c = await start({ redisUrl: redis.url, maxBytes: 1000, minFreePercent: 0 });
    await writeEntry(c, { key: 'a', jobId: 'j' }, randomBytes(400));
    await tick();
    await writeEntry(c, { key: 'b', jobId: 'j' }, randomBytes(400));
    await tick();
    await readEntry(c, { key: 'a' }); // a is now more recent than b
    await tick();
    await writeEntry(c, { key: 'c', jobId: 'j' }, randomBytes(400));
    expect(await keys(c)).to.deep.equal(['a', 'c']);
    expect(agent!.cache.usage()).to.deep.equal({ entries: 2, bytes: 800 });
    expect(await agent!.metadata.getRecord(entryIdOf('b'))).to.equal(undefined);
  });

  it('refuses what cannot fit even empty, and keeps everything else', async function () {
    const c = await start({ redisUrl: redis.url, maxBytes: 1000, minFreePercent: 0 });
    const a = randomBytes(300);
    await writeEntry(c, { key: 'a', jobId: 'j' }, a);
    const err = await writeEntry(c, { key: 'big', jobId: 'j', size: 1001 }, randomBytes(1001)).then(
      () => expect.fail('the write should not fit'),
      (e: grpc.ServiceError) => e,
    );
    expect(err.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).to.match(/does not fit/);
    // Without an announced size the limit is found while the bytes arrive.
    const err2 = await writeEntry(c, { key: 'big2', jobId: 'j' }, randomBytes(1500)).then(
      () => expect.fail('the write should not fit'),
      (e: grpc.ServiceError) => e,
    );
    expect(err2.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect((await readEntry(c, { key: 'a' })).data.equals(a)).to.equal(true);
    expect(agent!.cache.usage()).to.deep.equal({ entries: 1, bytes: 300 });
  });

  it('limits the number of entries', async function () {
    const c = await start({ redisUrl: redis.url, maxEntries: 2, minFreePercent: 0 });
    for (const k of ['x', 'y', 'z']) {
      await writeEntry(c, { key: k, jobId: 'j' }, randomBytes(10));
      await tick();
    }
    expect(await keys(c)).to.deep.equal(['y', 'z']);
  });

  it('evicts nothing while Redis is unreachable', async function () {
    const own = await startRedisServer();
    try {
      agent = await startTestAgent({ redisUrl: own.url, maxBytes: 1000, minFreePercent: 0 });
      await agent.cache.whenIndexReady();
      const c = rawClient(agent.address);
      client = c;
      const a = randomBytes(600);
      await writeEntry(c, { key: 'a', jobId: 'j' }, a);
      await own.kill();
      const err = await writeEntry(c, { key: 'b', jobId: 'j' }, randomBytes(600)).then(
        () => expect.fail('the write should fail'),
        (e: grpc.ServiceError) => e,
      );
      expect(err.code).to.equal(grpc.status.UNAVAILABLE);
      expect((await readEntry(c, { key: 'a' })).data.equals(a)).to.equal(true);
      expect(agent.cache.usage()).to.deep.equal({ entries: 1, bytes: 600 });
    } finally {
      await own.stop();
    }
  });

  it('counts the entries on disk again after a restart', async function () {
    const c = await start({ redisUrl: redis.url, maxBytes: 10_000, minFreePercent: 0 });
    await writeEntry(c, { key: 'p', jobId: 'j' }, randomBytes(1234));
    await writeEntry(c, { key: 'q', jobId: 'j' }, randomBytes(766));
    c.close();
    await agent!.restart();
    await agent!.cache.whenIndexReady();
    expect(agent!.cache.usage()).to.deep.equal({ entries: 2, bytes: 2000 });
    client = rawClient(agent!.address);
  });
});
