/**
 * Reconcile on a real agent and Redis whose keyspace notifications never arrive (CONFIG is
 * renamed away, so the agent cannot turn them on): every expiry is a missed one, and only
 * reconcile can catch it. Interval passes check only the entries that are due, so their Redis
 * cost grows with what changed, not with what the node holds (issue #16).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import Redis from 'ioredis';
import { entryIdOf } from '@checkpoint-cache/cache';
import { KeyBuilder } from '@checkpoint-cache/redis';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { rawClient, unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { waitUntil } from '../helpers/wait-until';

const INTERVAL_MS = 200;
const HELD = 30;

describe('reconcile', function () {
  this.timeout(60_000);
  let redis: RedisServerHandle;
  let admin: Redis;
  let agent: TestAgent | undefined;
  let client: RawClient | undefined;

  before(async function () {
    redis = await startRedisServer({ args: ['--rename-command', 'CONFIG', ''] });
  });
  beforeEach(function () {
    admin = new Redis(redis.port, '127.0.0.1');
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

  async function start(sweepMs?: number): Promise<RawClient> {
    agent = await startTestAgent({
      redisUrl: redis.url,
      reconcileInterval: INTERVAL_MS,
      ...(sweepMs === undefined ? {} : { reconcileSweep: sweepMs }),
    });
    await agent.cache.whenIndexReady();
    client = rawClient(agent.address);
    return client;
  }

  function keys(): KeyBuilder {
    return new KeyBuilder(agent!.config.redisPrefix, agent!.nodeId);
  }

  async function gone(key: string): Promise<boolean> {
    const id = entryIdOf(key);
    const file = path.join(agent!.cacheDir, 'entries', id.slice(0, 2), id);
    const onDisk = await fs.access(file).then(
      () => true,
      () => false,
    );
    return !onDisk && (await agent!.metadata.getRecord(id)) === undefined;
  }

  /** Calls of the commands reconcile checks entries with, server-wide. */
  async function checkCommands(): Promise<number> {
    const stats = await admin.info('commandstats');
    let calls = 0;
    for (const cmd of ['pttl', 'exists']) {
      const match = new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(stats);
      calls += match ? Number(match[1]) : 0;
    }
    return calls;
  }

  it('catches a missed expiry within an interval while checking only the entries that are due', async function () {
    const c = await start();
    for (let i = 0; i < HELD; i++) {
      await writeEntry(c, { key: `held/${i}`, jobId: 'j', ttlMs: 600_000 }, randomBytes(64));
    }
    await writeEntry(c, { key: 'short', jobId: 'j', ttlMs: 800 }, randomBytes(64));
    await waitUntil(() => gone('short'), {
      timeoutMs: 15_000,
      message: 'the missed expiry was not caught by reconcile',
    });
    // Nothing is due now, and the sweep (6 h by default) owes these 30 entries no check for
    // minutes: passes that checked every entry would send 30 or more commands each.
    const before = await checkCommands();
    await new Promise((resolve) => setTimeout(resolve, 10 * INTERVAL_MS));
    const calls = (await checkCommands()) - before;
    expect(calls, `${calls} checks in about 10 passes`).to.be.below(HELD);
    expect(agent!.cache.usage().entries).to.equal(HELD);
  });

  it('catches a TTL shortened by a touch although Redis said the old one had long to run', async function () {
    await writeEntry(
      await start(),
      { key: 'shortened', jobId: 'j', ttlMs: 600_000 },
      randomBytes(64),
    );
    // The full pass at start-up asks Redis for its PTTL (10 min).
    client?.close();
    const before = await checkCommands();
    await agent!.restart();
    await waitUntil(async () => (await checkCommands()) > before, { message: 'no check ran' });
    client = rawClient(agent!.address);
    await unary(client, 'touch', { key: 'shortened', ttlMs: 500 });
    await waitUntil(() => gone('shortened'), {
      timeoutMs: 15_000,
      message: 'the expiry of the shortened TTL was not caught',
    });
  });

  it('restores a TTL key deleted outside the agent within one sweep', async function () {
    const c = await start(2_000);
    for (let i = 0; i < HELD; i++) {
      await writeEntry(c, { key: `held/${i}`, jobId: 'j', ttlMs: 600_000 }, randomBytes(64));
    }
    const id = entryIdOf('held/7');
    // Redis said 10 min at the last check; nothing but the sweep will look at it again soon.
    await new Promise((resolve) => setTimeout(resolve, 3 * INTERVAL_MS));
    await admin.del(keys().ttl(id));
    // The entry was written within its TTL, so the agent keeps it and registers it again
    // (NodeCache.expire: 'revived'), as for a touch that never reached Redis.
    await waitUntil(async () => ((await agent!.metadata.ttlRemainingMs(id)) ?? 0) > 0, {
      timeoutMs: 15_000,
      message: 'the sweep did not notice the deleted TTL key',
    });
    expect(agent!.cache.usage().entries).to.equal(HELD);
  });

  it('removes a record whose file is gone within one sweep', async function () {
    const c = await start(2_000);
    await writeEntry(c, { key: 'orphan', jobId: 'j', ttlMs: 600_000 }, randomBytes(64));
    const id = entryIdOf('orphan');
    // Another record of this node that no file backs (a crash between file and record removal).
    const ghost = keys().recordId('0'.repeat(64));
    await admin.hset(keys().entries(), ghost, '1k.0');
    await waitUntil(async () => (await admin.hexists(keys().entries(), ghost)) === 0, {
      timeoutMs: 15_000,
      message: 'the record without a file was not removed',
    });
    expect(await agent!.metadata.getRecord(id)).to.not.equal(undefined);
  });
});
