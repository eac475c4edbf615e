/**
 * The sliding TTL end to end on a real agent and Redis: expiry deletes files and metadata,
 * touches extend, races are won by the touch, and outages or missed notifications never lose a
 * healthy entry nor keep an expired one forever.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import Redis from 'ioredis';
import { entryIdOf } from '@checkpoint-cache/cache';
import { KeyBuilder } from '@checkpoint-cache/redis';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { rawClient, readEntry, unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { waitUntil } from '../helpers/wait-until';

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

describe('expiry', function () {
  this.timeout(60_000);
  let redis: RedisServerHandle;
  let admin: Redis;
  let agent: TestAgent | undefined;
  let client: RawClient | undefined;

  before(async function () {
    redis = await startRedisServer();
  });
  beforeEach(function () {
    admin = new Redis(redis.port, '127.0.0.1', { lazyConnect: false });
    admin.on('error', () => undefined); // Redis is killed on purpose in some tests
  });
  afterEach(async function () {
    client?.close();
    client = undefined;
    await agent?.stop();
    agent = undefined;
    admin.disconnect();
  });
  after(async function () {
    await redis?.stop();
  });

  async function start(
    overrides: Partial<Parameters<typeof startTestAgent>[0]> = {},
  ): Promise<RawClient> {
    agent = await startTestAgent({
      redisUrl: redis.url,
      reconcileInterval: 3_600_000,
      ...overrides,
    });
    await agent.cache.whenIndexReady();
    client = rawClient(agent.address);
    return client;
  }

  function dataFile(key: string): string {
    const id = entryIdOf(key);
    return path.join(agent!.cacheDir, 'entries', id.slice(0, 2), id);
  }

  function keys(): KeyBuilder {
    return new KeyBuilder(agent!.config.redisPrefix, agent!.nodeId);
  }

  async function gone(key: string): Promise<boolean> {
    const id = entryIdOf(key);
    return !(await exists(dataFile(key))) && (await agent!.metadata.getRecord(id)) === undefined;
  }

  it('deletes the file and the metadata when the TTL key expires', async function () {
    const c = await start();
    await writeEntry(c, { key: 'e/1', jobId: 'j', ttlMs: 300 }, randomBytes(1000));
    expect(await exists(dataFile('e/1'))).to.equal(true);
    await waitUntil(() => gone('e/1'), { timeoutMs: 15_000, message: 'entry was not expired' });
    const err = await readEntry(c, { key: 'e/1' }).catch((e: grpc.ServiceError) => e);
    expect((err as grpc.ServiceError).code).to.equal(grpc.status.NOT_FOUND);
    expect(agent!.cache.usage().entries).to.equal(0);
  });

  it('slides the TTL on read, stat and touch', async function () {
    const c = await start();
    const ttlMs = 1500;
    await writeEntry(c, { key: 'e/slide', jobId: 'j', ttlMs }, randomBytes(100));
    const until = Date.now() + 2 * ttlMs;
    const touches = [
      () => readEntry(c, { key: 'e/slide' }),
      () => unary(c, 'stat', { key: 'e/slide' }),
      () => unary(c, 'touch', { key: 'e/slide' }),
    ];
    for (let i = 0; Date.now() < until; i++) {
      await touches[i % touches.length]!();
      const started = Date.now();
      await waitUntil(() => Date.now() - started >= ttlMs / 4, { intervalMs: 20 });
    }
    expect(await exists(dataFile('e/slide')), 'expired although touched').to.equal(true);
    // A stat with no_touch does not slide it.
    await unary(c, 'stat', { key: 'e/slide', noTouch: true });
    await waitUntil(() => gone('e/slide'), { timeoutMs: 15_000, message: 'entry was not expired' });
  });

  it('lets a touch that races the expiry win', async function () {
    const c = await start();
    await writeEntry(c, { key: 'e/race', jobId: 'j' }, randomBytes(10));
    const id = entryIdOf('e/race');
    // The TTL key vanishes (as at expiry), then a touch arrives before the agent handles it.
    await admin.del(keys().ttl(id));
    await unary(c, 'touch', { key: 'e/race' });
    // 'kept' when the claim sees the TTL key the touch set again; 'revived' when the agent's own
    // record of the touch decides first. Either way the entry stays.
    expect(await agent!.cache.expire(id)).to.be.oneOf(['kept', 'revived']);
    expect(await exists(dataFile('e/race'))).to.equal(true);
    expect(await agent!.metadata.ttlRemainingMs(id)).to.be.above(0);
  });

  it('keeps an entry read within its TTL even if its touch never reached Redis', async function () {
    const c = await start();
    await writeEntry(c, { key: 'e/dropped-touch', jobId: 'j', ttlMs: 60_000 }, randomBytes(10));
    const id = entryIdOf('e/dropped-touch');
    await admin.del(keys().ttl(id)); // as if the TTL key had expired while touches were dropped
    await readEntry(c, { key: 'e/dropped-touch' });
    expect(await agent!.cache.expire(id)).to.equal('revived');
    expect(await agent!.metadata.ttlRemainingMs(id)).to.be.above(0);
  });

  it('deletes entries that expired while the agent was down, at restart', async function () {
    const c = await start();
    await writeEntry(c, { key: 'e/while-down', jobId: 'j', ttlMs: 200 }, randomBytes(10));
    await writeEntry(c, { key: 'e/alive', jobId: 'j', ttlMs: 600_000 }, randomBytes(10));
    c.close();
    await agent!.shutdown();
    const id = entryIdOf('e/while-down');
    await waitUntil(async () => (await agent!.metadata.ttlRemainingMs(id)) === undefined, {
      message: 'TTL key did not expire',
    });
    expect(await exists(dataFile('e/while-down'))).to.equal(true);
    await agent!.restart();
    await waitUntil(() => gone('e/while-down'), { message: 'reconcile did not delete it' });
    expect(await exists(dataFile('e/alive'))).to.equal(true);
    client = rawClient(agent!.address);
  });

  it('recovers when its subscriber connection is killed', async function () {
    const c = await start();
    await admin.client('KILL', 'TYPE', 'pubsub');
    await writeEntry(c, { key: 'e/after-kill', jobId: 'j', ttlMs: 300 }, randomBytes(10));
    await waitUntil(() => gone('e/after-kill'), {
      timeoutMs: 20_000,
      message: 'not expired after CLIENT KILL',
    });
  });

  it('loses nothing healthy when Redis restarts empty', async function () {
    const c = await start();
    const data = randomBytes(5000);
    await writeEntry(c, { key: 'e/survivor', jobId: 'j', ttlMs: 600_000 }, data);
    await redis.restart();
    const id = entryIdOf('e/survivor');
    await waitUntil(
      async () => (await agent!.metadata.getRecord(id).catch(() => undefined)) !== undefined,
      {
        timeoutMs: 20_000,
        message: 'entry was not registered again after the Redis restart',
      },
    );
    expect(await agent!.metadata.ttlRemainingMs(id)).to.be.above(0);
    expect((await readEntry(c, { key: 'e/survivor' })).data.equals(data)).to.equal(true);
  });

  it('serves hits and deletes nothing while Redis is down', async function () {
    const c = await start();
    const data = randomBytes(3000);
    await writeEntry(c, { key: 'e/outage', jobId: 'j', ttlMs: 2000 }, data);
    await redis.kill();
    try {
      // Far past the TTL: nothing may be deleted while Redis cannot say what expired.
      const started = Date.now();
      while (Date.now() - started < 2500) {
        expect((await readEntry(c, { key: 'e/outage' })).data.equals(data)).to.equal(true);
      }
      const err = await writeEntry(c, { key: 'e/new', jobId: 'j' }, randomBytes(10)).catch(
        (e: grpc.ServiceError) => e,
      );
      expect((err as grpc.ServiceError).code).to.equal(grpc.status.UNAVAILABLE);
      expect(await exists(dataFile('e/outage'))).to.equal(true);
      expect(await fs.readdir(path.join(agent!.cacheDir, 'tmp'))).to.deep.equal([]);
    } finally {
      await redis.restart();
    }
    // Back with an empty Redis: the entry is registered again (it was read within its TTL).
    const id = entryIdOf('e/outage');
    await waitUntil(
      async () => (await agent!.metadata.getRecord(id).catch(() => undefined)) !== undefined,
      {
        timeoutMs: 20_000,
        intervalMs: 10,
        message: 'entry was not registered again after the outage',
      },
    );
  });
});
