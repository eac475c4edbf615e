/**
 * RedisExpiryWatcher against a real redis-server: expired TTL keys of this node arrive as entry
 * ids and nothing else does; notify-keyspace-events is turned on (only adding flags) and turned
 * on again after a restart; a refused CONFIG is one warning, not a failure; a killed subscriber
 * or restarted Redis means resync('reconnect') and events keep coming. Also measures the
 * notification lag (TTL deadline to event received) and prints it.
 */
import { Writable } from 'node:stream';
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { entryIdOf, type EntryMetadata } from '@checkpoint-cache/cache';
import { createLogger, type Logger } from '@checkpoint-cache/logger';
import {
  KeyBuilder,
  LegacyKeys,
  RedisExpiryWatcher,
  RedisMetadataStore,
  createRedisConnection,
  notifyFlagsToSet,
  waitForRedis,
  type RedisConnectionOptions,
  type RedisExpiryWatcherOptions,
} from '@checkpoint-cache/redis';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { waitUntil } from '../helpers/wait-until';

const SHORT_TTL_MS = 200;

let seq = 0;

function uniqueKeys(node?: string): KeyBuilder {
  const n = ++seq;
  return new KeyBuilder(`ckc-watch-${process.pid}-${n}`, node ?? `node-${n}`);
}

function entry(name: string, ttlMs: number): EntryMetadata {
  const key = `hdfs://nn/flink/ckpt/job-1/chk-1/${name}`;
  return {
    key,
    id: entryIdOf(key),
    jobId: 'job-1',
    checkpointIds: [1],
    size: 10,
    crc32c: 1,
    createdAtMs: Date.now(),
    lastAccessMs: Date.now(),
    ttlMs,
  };
}

interface LogRecord {
  level: string;
  message: string;
  [key: string]: unknown;
}

/** The project's logger writing JSON lines into memory, for checks on what gets logged. */
function collectingLogger(): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') records.push(JSON.parse(line) as LogRecord);
      }
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', format: 'json', stream }), records };
}

/** What a watcher reported. */
class Recorder {
  readonly expired: { id: string; atMs: number }[] = [];
  readonly resyncs: string[] = [];
  readonly handlers = {
    expired: (id: string): void => {
      this.expired.push({ id, atMs: Date.now() });
    },
    resync: (reason: string): void => {
      this.resyncs.push(reason);
    },
  };
  ids(): string[] {
    return this.expired.map((e) => e.id);
  }
  has(id: string): boolean {
    return this.expired.some((e) => e.id === id);
  }
}

interface RunningWatcher {
  watcher: RedisExpiryWatcher;
  recorder: Recorder;
  keys: KeyBuilder;
  records: LogRecord[];
}

const watchers: RedisExpiryWatcher[] = [];

async function startWatcher(
  url: string,
  keys: KeyBuilder = uniqueKeys(),
  options: RedisExpiryWatcherOptions = {},
): Promise<RunningWatcher> {
  const { logger, records } = collectingLogger();
  const watcher = new RedisExpiryWatcher(url, keys, logger, {
    ...options,
    connection: { reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 200, ...options.connection },
  });
  watchers.push(watcher);
  const recorder = new Recorder();
  await watcher.start(recorder.handlers);
  return { watcher, recorder, keys, records };
}

/** A plain command connection for the test itself, ready to use. */
async function connect(url: string, options: RedisConnectionOptions = {}): Promise<Redis> {
  const connection = createRedisConnection(url, options) as Redis;
  await waitForRedis(connection);
  return connection;
}

async function notifyFlags(redis: Redis): Promise<string> {
  const reply = (await redis.call('CONFIG', 'GET', 'notify-keyspace-events')) as string[];
  return reply[1] ?? '';
}

function hasExpiryFlags(flags: string): boolean {
  return flags.includes('K') && (flags.includes('x') || flags.includes('A'));
}

/** `CLIENT KILL` every connection named `name`; returns how many. */
async function killClientsNamed(redis: Redis, name: string): Promise<number> {
  const list = (await redis.call('CLIENT', 'LIST')) as string;
  let killed = 0;
  for (const line of list.split('\n')) {
    const id = / id=(\d+) /.exec(` ${line}`)?.[1];
    if (id && line.includes(` name=${name} `)) {
      killed += Number(await redis.call('CLIENT', 'KILL', 'ID', id));
    }
  }
  return killed;
}

afterEach(async function () {
  for (const w of watchers.splice(0)) await w.stop();
});

describe('notifyFlagsToSet', function () {
  it('adds only the flags that are missing, and knows that A includes x', function () {
    expect(notifyFlagsToSet('')).to.equal('Kx');
    expect(notifyFlagsToSet('Ex')).to.equal('ExK');
    expect(notifyFlagsToSet('gE')).to.equal('gEKx');
    expect(notifyFlagsToSet('xK')).to.equal(undefined);
    expect(notifyFlagsToSet('AK')).to.equal(undefined);
    expect(notifyFlagsToSet('AE')).to.equal('AEK');
  });
});

describe('RedisExpiryWatcher', function () {
  let server: RedisServerHandle;
  let redis: Redis;

  before(async function () {
    server = await startRedisServer();
    redis = await connect(server.url);
  });
  after(async function () {
    redis?.disconnect();
    await server?.stop();
  });
  beforeEach(async function () {
    await redis.call('CONFIG', 'SET', 'notify-keyspace-events', '');
  });

  it('turns the flags on and reports expired entries of this node as ids', async function () {
    expect(await notifyFlags(redis)).to.equal('');
    const { watcher, recorder, keys, records } = await startWatcher(server.url);
    expect(hasExpiryFlags(await notifyFlags(redis))).to.equal(true);
    expect(watcher.status()).to.deep.equal({ servers: 1, subscribed: 1, notifications: 'on' });
    expect(records.map((r) => r.message)).to.include(
      'turned on Redis keyspace notifications for expired keys',
    );

    const store = new RedisMetadataStore(createRedisConnection(server.url), keys);
    await store.ready();
    try {
      const entries = ['a', 'b', 'c'].map((n) => entry(n, SHORT_TTL_MS));
      for (const e of entries) await store.register(e);
      await waitUntil(() => entries.every((e) => recorder.has(e.id)), {
        message: 'expiry notifications for a, b and c',
      });
      expect(recorder.ids().sort()).to.deep.equal(entries.map((e) => e.id).sort());
      expect(recorder.resyncs).to.deep.equal([]);
    } finally {
      await store.close();
    }
  });

  it("subscribes narrowly: other nodes', other prefixes' and other kinds of keys never arrive", async function () {
    const mine = uniqueKeys();
    const { watcher, recorder } = await startWatcher(server.url, mine);
    expect(watcher.pattern).to.equal(`__keyspace@0__:${mine.prefix}:{${mine.nodeId}}:t:*`);
    // The agent's only subscription is that one pattern.
    expect(await redis.call('PUBSUB', 'NUMPAT')).to.equal(1);

    const otherNode = new KeyBuilder(mine.prefix, `${mine.nodeId}-other`);
    const otherPrefix = new KeyBuilder(`${mine.prefix}-other`, mine.nodeId);
    const id = entryIdOf('x');
    await redis.set(otherNode.ttl(id), '1', 'PX', 50);
    await redis.set(otherPrefix.ttl(id), '1', 'PX', 50);
    // This node, but a TTL key of key layout 1 (an agent before issue 16): not this agent's.
    await redis.set(new LegacyKeys(mine).ttl(id), '1', 'PX', 50);
    // Expires after the others: once it arrives, the others had their chance.
    const sentinel = entryIdOf('sentinel');
    await redis.set(mine.ttl(sentinel), '1', 'PX', 300);
    await waitUntil(() => recorder.has(sentinel), { message: 'the sentinel expiry' });
    await waitUntil(
      async () => (await redis.exists(otherNode.ttl(id), new LegacyKeys(mine).ttl(id))) === 0,
      {
        message: 'the other keys to expire',
      },
    );
    expect(recorder.ids()).to.deep.equal([sentinel]);
  });

  it('reports expiries only, not deletions or overwrites of TTL keys', async function () {
    await redis.call('CONFIG', 'SET', 'notify-keyspace-events', 'KA');
    const { recorder, keys } = await startWatcher(server.url);
    const id = entryIdOf('deleted');
    await redis.set(keys.ttl(id), '1', 'PX', 60_000);
    await redis.set(keys.ttl(id), '1', 'PX', 60_000);
    await redis.del(keys.ttl(id));
    const sentinel = entryIdOf('sentinel');
    await redis.set(keys.ttl(sentinel), '1', 'PX', 50);
    await waitUntil(() => recorder.has(sentinel), { message: 'the sentinel expiry' });
    expect(recorder.ids()).to.deep.equal([sentinel]);
  });

  it('keeps the flags it finds and adds only what is missing', async function () {
    await redis.call('CONFIG', 'SET', 'notify-keyspace-events', 'Eg');
    await startWatcher(server.url);
    const flags = await notifyFlags(redis);
    for (const f of ['E', 'g', 'K', 'x']) expect(flags, flags).to.include(f);

    // Already enough: no CONFIG SET at all.
    await redis.call('CONFIG', 'SET', 'notify-keyspace-events', 'AK');
    const before = await notifyFlags(redis);
    const { records } = await startWatcher(server.url);
    expect(await notifyFlags(redis)).to.equal(before);
    expect(records.map((r) => r.message)).not.to.include(
      'turned on Redis keyspace notifications for expired keys',
    );
  });

  it('listens on the database the URL names', async function () {
    const { recorder, keys } = await startWatcher(`${server.url}/2`);
    const db2 = await connect(`${server.url}/2`);
    try {
      const inDb0 = entryIdOf('db0');
      const inDb2 = entryIdOf('db2');
      await redis.set(keys.ttl(inDb0), '1', 'PX', 50);
      await db2.set(keys.ttl(inDb2), '1', 'PX', 150);
      await waitUntil(() => recorder.has(inDb2), { message: 'the expiry in db 2' });
      expect(recorder.ids()).to.deep.equal([inDb2]);
    } finally {
      db2.disconnect();
    }
  });

  it('resyncs after its subscriber connection is killed, and events keep arriving', async function () {
    const { watcher, recorder, keys } = await startWatcher(server.url);
    expect(await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub')).to.equal(1);
    await waitUntil(() => recorder.resyncs.length === 1, { message: 'a resync after CLIENT KILL' });
    expect(recorder.resyncs).to.deep.equal(['reconnect']);
    expect(watcher.status().subscribed).to.equal(1);

    const first = entryIdOf('after first kill');
    await redis.set(keys.ttl(first), '1', 'PX', SHORT_TTL_MS);
    await waitUntil(() => recorder.has(first), { message: 'an expiry after the reconnect' });

    // By id this time, as an operator would.
    expect(await killClientsNamed(redis, `ckc-expiry:${keys.nodeId}`)).to.equal(1);
    await waitUntil(() => recorder.resyncs.length === 2, { message: 'a resync after KILL ID' });
    expect(recorder.resyncs).to.deep.equal(['reconnect', 'reconnect']);
    const second = entryIdOf('after second kill');
    await redis.set(keys.ttl(second), '1', 'PX', SHORT_TTL_MS);
    await waitUntil(() => recorder.has(second), { message: 'an expiry after the second kill' });
  });

  it('survives a handler that throws', async function () {
    const { logger, records } = collectingLogger();
    const keys = uniqueKeys();
    const watcher = new RedisExpiryWatcher(server.url, keys, logger);
    watchers.push(watcher);
    const seen: string[] = [];
    await watcher.start({
      expired(id) {
        seen.push(id);
        throw new Error('handler bug');
      },
      resync() {},
    });
    const [a, b] = [entryIdOf('a'), entryIdOf('b')];
    await redis.set(keys.ttl(a), '1', 'PX', 50);
    await redis.set(keys.ttl(b), '1', 'PX', 100);
    await waitUntil(() => seen.length === 2, { message: 'both expiries despite the throw' });
    expect(records.filter((r) => r.message === 'expiry handler failed')).to.have.length(2);
  });

  it('stops: its connection goes and no handler is called afterwards', async function () {
    const keys = uniqueKeys();
    const stopped = await startWatcher(server.url, keys);
    // Another watcher on the same keys tells when the expiry has been published.
    const witness = await startWatcher(server.url, keys);
    await stopped.watcher.stop();
    await stopped.watcher.stop();
    const id = entryIdOf('after stop');
    await redis.set(keys.ttl(id), '1', 'PX', 50);
    await waitUntil(() => witness.recorder.has(id), { message: 'the witness to see the expiry' });
    expect(stopped.recorder.expired).to.deep.equal([]);
    expect(await redis.call('PUBSUB', 'NUMPAT')).to.equal(1);
  });

  it('measures the notification lag (TTL deadline to event received)', async function () {
    this.timeout(120_000);
    const { recorder, keys } = await startWatcher(server.url);
    const lines: string[] = [];

    // One key at a time: what a single entry sees on an idle Redis.
    const single: number[] = [];
    for (let i = 0; i < 20; i++) {
      const id = entryIdOf(`single-${i}`);
      const deadline = Date.now() + 100;
      await redis.set(keys.ttl(id), '1', 'PXAT', deadline);
      await waitUntil(() => recorder.has(id), { intervalMs: 2, message: `expiry of ${i}` });
      single.push((recorder.expired.find((e) => e.id === id)?.atMs ?? 0) - deadline);
    }
    lines.push(`1 key at a time (20 runs): ${summary(single)}`);

    // Many keys with one deadline: how long until the last one is reported.
    for (const count of [1000, 10_000]) {
      const ids = Array.from({ length: count }, (_, i) => entryIdOf(`bulk-${count}-${i}`));
      const deadline = Date.now() + 500 + count / 10;
      for (let i = 0; i < ids.length; i += 1000) {
        const pipeline = redis.pipeline();
        for (const id of ids.slice(i, i + 1000)) pipeline.set(keys.ttl(id), '1', 'PXAT', deadline);
        await pipeline.exec();
      }
      // On a busy machine setting the keys can outlast the deadline: every expiry is still
      // awaited, but the lag is then not a lag of notifications and is not reported.
      const lateBy = Date.now() - deadline;
      const wanted = new Set(ids);
      const arrived = (): number[] =>
        recorder.expired.filter((e) => wanted.has(e.id)).map((e) => e.atMs - deadline);
      await waitUntil(() => arrived().length === count, {
        timeoutMs: 30_000,
        message: `all ${count} expiries`,
      });
      const lags = arrived();
      lines.push(
        lateBy >= 0
          ? `${count} keys, one deadline: not measured (setting them ended ${lateBy} ms after it)`
          : `${count} keys, one deadline: ${summary(lags)}`,
      );
      expect(Math.max(...lags)).to.be.below(10_000);
    }
    expect(Math.max(...single)).to.be.below(10_000);
    process.stdout.write(
      `      expiry notification lag (Redis ${await redisVersion(redis)}, hz ${await hz(redis)}):\n` +
        lines.map((l) => `        ${l}\n`).join(''),
    );
  });
});

function summary(lagsMs: number[]): string {
  const sorted = [...lagsMs].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return `min ${sorted[0]} ms, median ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${sorted[sorted.length - 1]} ms`;
}

async function redisVersion(redis: Redis): Promise<string> {
  const info = await redis.info('server');
  return /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
}

async function hz(redis: Redis): Promise<string> {
  const reply = (await redis.call('CONFIG', 'GET', 'hz')) as string[];
  return reply[1] ?? '?';
}

describe('RedisExpiryWatcher when CONFIG is refused', function () {
  let server: RedisServerHandle;

  before(async function () {
    // A managed Redis: CONFIG is not available, the operator set the flags.
    server = await startRedisServer({
      args: ['--notify-keyspace-events', 'Kx', '--rename-command', 'CONFIG', ''],
    });
  });
  after(async function () {
    await server?.stop();
  });

  it('warns once, starts anyway, and still reports what the server publishes', async function () {
    const { watcher, recorder, keys, records } = await startWatcher(server.url);
    const warnings = (): LogRecord[] =>
      records.filter((r) => r.level === 'warn' && /keyspace notifications/.test(r.message));
    expect(warnings()).to.have.length(1);
    expect(warnings()[0]?.message).to.match(/periodic reconcile/);
    expect(watcher.status()).to.deep.equal({
      servers: 1,
      subscribed: 1,
      notifications: 'unverified',
    });

    const redis = await connect(server.url);
    try {
      const id = entryIdOf('managed');
      await redis.set(keys.ttl(id), '1', 'PX', SHORT_TTL_MS);
      await waitUntil(() => recorder.has(id), { message: 'the expiry the server publishes' });

      // A reconnect checks again, and stays quiet about it.
      await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await waitUntil(() => recorder.resyncs.length === 1, { message: 'a resync' });
      expect(warnings()).to.have.length(1);
    } finally {
      redis.disconnect();
    }
  });
  it('warns once and starts when even the subscription is refused (ACL)', async function () {
    const redis = await connect(server.url);
    try {
      // A user that may not use CONFIG nor any pub/sub channel.
      await redis.call('ACL', 'SETUSER', 'limited', 'on', '>pw', '~*', 'resetchannels', '+@all');
      const { watcher, records } = await startWatcher(
        `redis://limited:pw@127.0.0.1:${server.port}`,
        undefined,
        { startTimeoutMs: 5000 },
      );
      expect(watcher.status()).to.deep.equal({ servers: 1, subscribed: 0, notifications: 'off' });
      const warnings = records.filter((r) => r.level === 'warn');
      expect(warnings, JSON.stringify(warnings)).to.have.length(1);
      expect(warnings[0]?.message).to.match(/refused CONFIG.*periodic reconcile/);
      expect(JSON.stringify(records)).not.to.include('limited:pw');
    } finally {
      await redis.call('ACL', 'DELUSER', 'limited');
      redis.disconnect();
    }
  });
});

describe('RedisExpiryWatcher across Redis restarts', function () {
  let server: RedisServerHandle;
  let redis: Redis;

  beforeEach(async function () {
    server = await startRedisServer();
    redis = await connect(server.url, { reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 200 });
  });
  afterEach(async function () {
    redis?.disconnect();
    await server?.stop();
  });

  it('resyncs and turns the flags on again after Redis restarts without its settings', async function () {
    const { watcher, recorder, keys } = await startWatcher(server.url);
    await server.restart();
    await waitUntil(() => recorder.resyncs.length === 1, { message: 'a resync after the restart' });
    expect(recorder.resyncs).to.deep.equal(['reconnect']);
    await waitUntil(() => redis.status === 'ready', { message: 'the test connection' });
    expect(hasExpiryFlags(await notifyFlags(redis))).to.equal(true);
    expect(watcher.status().subscribed).to.equal(1);

    const id = entryIdOf('after restart');
    await redis.set(keys.ttl(id), '1', 'PX', SHORT_TTL_MS);
    await waitUntil(() => recorder.has(id), { message: 'an expiry after the restart' });
  });

  it('starts while Redis is down, and resyncs once it has subscribed', async function () {
    await server.kill();
    const started = Date.now();
    const { watcher, recorder, keys, records } = await startWatcher(server.url, undefined, {
      startTimeoutMs: 300,
    });
    expect(Date.now() - started).to.be.below(5000);
    expect(watcher.status().subscribed).to.equal(0);
    expect(records.some((r) => r.level === 'warn' && /not subscribed/.test(r.message))).to.equal(
      true,
    );

    await server.restart();
    await waitUntil(() => recorder.resyncs.length === 1, { message: 'a resync once subscribed' });
    expect(recorder.resyncs).to.deep.equal(['reconnect']);
    await waitUntil(() => redis.status === 'ready', { message: 'the test connection' });
    const id = entryIdOf('late start');
    await redis.set(keys.ttl(id), '1', 'PX', SHORT_TTL_MS);
    await waitUntil(() => recorder.has(id), { message: 'an expiry after the late start' });
  });
});
