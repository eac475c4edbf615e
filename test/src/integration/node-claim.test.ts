/**
 * One agent per node id: a second agent configured with the same node id (another cache
 * directory, same Redis and prefix) is refused at start-up, an agent restarted on its own disk
 * takes over at once, and the hold lapses when its agent is gone. Real agents and a real Redis.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { createLogger } from '@checkpoint-cache/logger';
import {
  AGENT_TOKEN_FILE,
  NodeClaim,
  agentToken,
  startNodeAgent,
} from '@checkpoint-cache/node-agent';
import { KeyBuilder, RedisMetadataStore, createRedisConnection } from '@checkpoint-cache/redis';
import { startTestAgent, testAgentConfig, testLogger, type TestAgent } from '../helpers/agent';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';
import { waitUntil } from '../helpers/wait-until';
import { rejection } from '../helpers/rejection';

describe('one agent per node id', function () {
  this.timeout(60_000);
  let redis: RedisServerHandle;
  let admin: Redis;
  const agents: TestAgent[] = [];
  let seq = 0;

  before(async function () {
    redis = await startRedisServer();
    admin = new Redis(redis.port, '127.0.0.1');
  });
  after(async function () {
    admin?.disconnect();
    await redis?.stop();
  });
  afterEach(async function () {
    for (const a of agents.splice(0)) await a.stop();
  });

  function names(): { nodeId: string; redisPrefix: string } {
    seq++;
    return { nodeId: `claimed-${seq}`, redisPrefix: `ckc-claim-${seq}` };
  }

  async function start(overrides: { nodeId: string; redisPrefix: string; cacheDir?: string }) {
    const agent = await startTestAgent({ redisUrl: redis.url, ...overrides });
    agents.push(agent);
    return agent;
  }

  it('refuses a second agent with the same node id and another cache directory', async function () {
    const n = names();
    const first = await start(n);
    const err = await rejection<CacheError>(start(n));
    expect(err).to.be.instanceOf(CacheError);
    expect(err.code).to.equal(ErrorCode.FailedPrecondition);
    expect(err.message).to.match(new RegExp(`node id "${n.nodeId}" is in use by another agent`));
    expect(err.message).to.match(/--node-id \(CKC_NODE_ID\)/);
    // The first agent still holds it, under the token in its cache directory.
    const token = (await fs.readFile(path.join(first.cacheDir, AGENT_TOKEN_FILE), 'utf8')).trim();
    const owner = new KeyBuilder(n.redisPrefix, n.nodeId).owner();
    expect(await admin.get(owner)).to.equal(token);
    expect(await admin.pttl(owner)).to.be.within(1, 30_000);
  });

  it('gives the node id up on shutdown, so another agent may take it', async function () {
    const n = names();
    const first = await start(n);
    await first.stop();
    expect(await admin.exists(new KeyBuilder(n.redisPrefix, n.nodeId).owner())).to.equal(0);
    await start(n);
  });

  it('lets an agent restarted on the same cache directory take over at once, also after a crash', async function () {
    const n = names();
    const cacheDir = await makeTempDir('ckc-claim-');
    try {
      const first = await start({ ...n, cacheDir });
      await first.stop();
      // As if it had been killed: its hold is still there.
      const token = (await fs.readFile(path.join(cacheDir, AGENT_TOKEN_FILE), 'utf8')).trim();
      const owner = new KeyBuilder(n.redisPrefix, n.nodeId).owner();
      await admin.set(owner, token, 'PX', 30_000);
      await start({ ...n, cacheDir });
      expect(await admin.get(owner)).to.equal(token);
    } finally {
      for (const a of agents.splice(0)) await a.stop();
      await removeTempDir(cacheDir);
    }
  });

  it('starts once the hold of an agent that is gone has lapsed', async function () {
    const n = names();
    const owner = new KeyBuilder(n.redisPrefix, n.nodeId).owner();
    await admin.set(owner, 'f'.repeat(32), 'PX', 500);
    await rejection<CacheError>(start(n));
    await waitUntil(async () => (await admin.exists(owner)) === 0, { message: 'hold lapsed' });
    await start(n);
  });

  it('shuts down, and says why, when it finds its node id taken while running', async function () {
    const n = names();
    const cacheDir = await makeTempDir('ckc-claim-');
    const fatal: Error[] = [];
    const agent = await startNodeAgent(testAgentConfig(cacheDir, { redisUrl: redis.url, ...n }), {
      logger: testLogger(),
      nodeIdHoldMs: 300,
      onFatal: (e) => fatal.push(e),
    });
    try {
      // As if this agent had started while Redis was down and another one had claimed the id.
      await admin.set(
        new KeyBuilder(n.redisPrefix, n.nodeId).owner(),
        'c'.repeat(32),
        'PX',
        60_000,
      );
      await waitUntil(() => fatal.length === 1, { message: 'agent stopped' });
      expect(fatal[0]!.message).to.match(/is in use by another agent/);
      // Shut down: the socket is gone.
      await fs.access(agent.socketPath!).then(
        () => expect.fail('socket still there'),
        () => undefined,
      );
    } finally {
      await agent.shutdown(0);
      await removeTempDir(cacheDir);
    }
  });

  describe('NodeClaim', function () {
    let store: RedisMetadataStore;
    let dir: string;
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (b: Buffer) => lines.push(...b.toString().split('\n').filter(Boolean)));
    const log = createLogger({ level: 'info', format: 'json', stream });

    beforeEach(async function () {
      lines.length = 0;
      const n = names();
      store = new RedisMetadataStore(
        createRedisConnection(redis.url),
        new KeyBuilder(n.redisPrefix, n.nodeId),
      );
      await store.ready();
      dir = await makeTempDir('ckc-claim-');
    });
    afterEach(async function () {
      await store.close();
      await removeTempDir(dir);
    });

    it('keeps one token per cache directory', async function () {
      const token = await agentToken(dir);
      expect(token).to.match(/^[0-9a-f]{32}$/);
      expect(await agentToken(dir)).to.equal(token);
      expect((await fs.stat(path.join(dir, AGENT_TOKEN_FILE))).mode & 0o777).to.equal(0o600);
      // Damaged (e.g. empty after a crash on an old kernel): replaced, never a crash loop.
      for (const damaged of ['', 'not a token\n']) {
        await fs.writeFile(path.join(dir, AGENT_TOKEN_FILE), damaged);
        const renewed = await agentToken(dir);
        expect(renewed)
          .to.match(/^[0-9a-f]{32}$/)
          .and.not.equal(token);
        expect(await agentToken(dir)).to.equal(renewed);
      }
      expect((await fs.readdir(dir)).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);
    });

    it('refreshes its hold, and on finding the node id taken logs an error and gives up', async function () {
      const clashes: Error[] = [];
      const claim = new NodeClaim(store, 'a'.repeat(32), log, 300, (e) => clashes.push(e));
      await claim.claim();
      claim.start();
      try {
        const owner = store.keys.owner();
        // Held past its first 300 ms: refreshed.
        await new Promise((resolve) => setTimeout(resolve, 700));
        expect(await admin.get(owner)).to.equal('a'.repeat(32));
        // Redis lost the key and another agent took it.
        await admin.set(owner, 'b'.repeat(32), 'PX', 60_000);
        await waitUntil(() => clashes.length > 0, { message: 'clash reported' });
        expect(clashes[0]!.message).to.match(/is in use by another agent/);
        const record = JSON.parse(lines.find((l) => /in use/.test(l))!) as { level: string };
        expect(record.level).to.equal('error');
        // Reported once; no more refreshes; the other agent's hold is left alone.
        await new Promise((resolve) => setTimeout(resolve, 400));
        expect(clashes).to.have.length(1);
        await claim.release();
        expect(await admin.get(owner)).to.equal('b'.repeat(32));
      } finally {
        await claim.release();
      }
    });
  });
});
