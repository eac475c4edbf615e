/**
 * RedisMetadataStore against a real redis-server: the Lua scripts' accounting, TTL and LRU
 * updates, entry states, claiming expired entries against racing touches, scanning ids, Unix
 * sockets, credentials kept out of logs, and failing fast (Unavailable) while Redis is down or
 * hung, then recovering by itself. Each test has its own prefix and node id and
 * deletes its own keys.
 */
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { entryIdOf, type EntryMetadata } from '@checkpoint-cache/cache';
import { CacheError, ErrorCode, hasErrorCode } from '@checkpoint-cache/errors';
import type { LogMeta, Logger } from '@checkpoint-cache/logger';
import {
  KeyBuilder,
  RedisMetadataStore,
  createRedisConnection,
  type EntryRecord,
  type RedisConnection,
  type RedisConnectionOptions,
} from '@checkpoint-cache/redis';
import { freePort } from '../helpers/free-port';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';
import { waitUntil } from '../helpers/wait-until';
import { rejection } from '../helpers/rejection';

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;

let seq = 0;

function entry(name: string, overrides: Partial<EntryMetadata> = {}): EntryMetadata {
  const key = `hdfs://nn/flink/ckpt/job-1/chk-1/${name}`;
  return {
    key,
    id: entryIdOf(key),
    jobId: 'job-1',
    checkpointIds: [1, 2],
    size: 1000,
    crc32c: 0xdeadbeef,
    createdAtMs: T0,
    lastAccessMs: T0,
    ttlMs: MINUTE,
    ...overrides,
  };
}

/** What Redis keeps of `e` (the rest is in the entry's sidecar on the node's disk). */
function recordOf(e: EntryMetadata, expiring = false): EntryRecord {
  return { id: e.id, size: e.size, lastAccessMs: e.lastAccessMs, expiring };
}

function expectUnavailable(err: unknown): void {
  expect(err, String(err)).to.be.instanceOf(CacheError);
  expect((err as CacheError).code, (err as Error).message).to.equal(ErrorCode.Unavailable);
}

/** A Logger that keeps every record, for checks on what reaches the log. */
class RecordingLogger implements Logger {
  constructor(
    readonly records: { level: string; message: string; meta: LogMeta }[] = [],
    private readonly context: LogMeta = {},
  ) {}
  error(message: string, meta?: LogMeta): void {
    this.records.push({ level: 'error', message, meta: { ...this.context, ...meta } });
  }
  warn(message: string, meta?: LogMeta): void {
    this.records.push({ level: 'warn', message, meta: { ...this.context, ...meta } });
  }
  info(message: string, meta?: LogMeta): void {
    this.records.push({ level: 'info', message, meta: { ...this.context, ...meta } });
  }
  debug(message: string, meta?: LogMeta): void {
    this.records.push({ level: 'debug', message, meta: { ...this.context, ...meta } });
  }
  child(meta: LogMeta): Logger {
    return new RecordingLogger(this.records, { ...this.context, ...meta });
  }
  /** Everything logged, errors included, as one string. */
  text(): string {
    return JSON.stringify(this.records, (_, v: unknown) =>
      v instanceof Error ? `${v.name}: ${v.message}` : v,
    );
  }
}

/** A store on its own prefix and node id; `cleanup()` deletes its keys and closes it. */
interface TestStore {
  store: RedisMetadataStore;
  connection: RedisConnection;
  keys: KeyBuilder;
  cleanup(): Promise<void>;
}

async function openStore(url: string, options: RedisConnectionOptions = {}): Promise<TestStore> {
  const n = ++seq;
  const keys = new KeyBuilder(`ckc-test-${process.pid}-${n}`, `node-${n}`);
  const connection = createRedisConnection(url, { connectionName: `test-${n}`, ...options });
  const store = new RedisMetadataStore(connection, keys);
  await store.ready();
  let cleanedUp = false;
  return {
    store,
    connection,
    keys,
    async cleanup() {
      if (cleanedUp) return;
      cleanedUp = true;
      if (connection.status === 'ready') {
        const found = await connection.keys(`${keys.prefix}:*`);
        if (found.length > 0) await connection.del(...found);
      }
      await store.close();
    },
  };
}

describe('RedisMetadataStore', function () {
  let server: RedisServerHandle;
  let t: TestStore;

  before(async function () {
    server = await startRedisServer();
  });
  after(async function () {
    await server?.stop();
  });
  beforeEach(async function () {
    t = await openStore(server.url);
  });
  afterEach(async function () {
    await t?.cleanup();
  });

  it('registers an entry and reads it back', async function () {
    const e = entry('a');
    await t.store.register(e);

    expect(await t.store.getRecord(e.id)).to.deep.equal(recordOf(e));
    expect(await t.store.usage()).to.deep.equal({ bytes: 1000, entries: 1 });
    expect(await t.store.lastAccessMs(e.id)).to.equal(T0);
    const ttl = await t.store.ttlRemainingMs(e.id);
    expect(ttl).to.be.within(MINUTE - 5000, MINUTE);
    expect(await t.store.getRecord(entryIdOf('unknown'))).to.equal(undefined);
    expect(await t.store.ttlRemainingMs(entryIdOf('unknown'))).to.equal(undefined);
  });

  it('keeps of an entry one field: size and last access in base 36, nothing of the key', async function () {
    const e = entry('fields', { size: 0 });
    const big = entry('big', { size: 2 ** 40, lastAccessMs: T0 + 1 });
    await t.store.register(e);
    await t.store.register(big);
    expect(await t.connection.hgetall(t.keys.entries())).to.deep.equal({
      [t.keys.recordId(e.id)]: `0.${T0.toString(36)}`,
      [t.keys.recordId(big.id)]: `${(2 ** 40).toString(36)}.${(T0 + 1).toString(36)}`,
    });
    expect(await t.connection.get(t.keys.ttl(e.id))).to.equal('1');
    expect(await t.store.getRecord(big.id)).to.deep.equal(recordOf(big));
    expect(await t.store.usage()).to.deep.equal({ bytes: 2 ** 40, entries: 2 });
  });

  it('counts an entry once when it is registered again, and follows a size change', async function () {
    const a = entry('a');
    const b = entry('b', { size: 500 });
    await t.store.register(a);
    await t.store.register(b);
    await t.store.register(a);
    expect(await t.store.usage()).to.deep.equal({ bytes: 1500, entries: 2 });

    const changed = { ...a, checkpointIds: [1, 2, 3], size: 1200, lastAccessMs: T0 + 5 };
    await t.store.register(changed);
    expect(await t.store.usage()).to.deep.equal({ bytes: 1700, entries: 2 });
    expect(await t.store.getRecord(a.id)).to.deep.equal(recordOf(changed));
    expect(await t.store.lastAccessMs(a.id)).to.equal(T0 + 5);
  });

  it('extends the TTL on touch and moves last access forward', async function () {
    const e = entry('a');
    await t.store.register(e);
    // Age the TTL key instead of sleeping: 100 ms left.
    await t.connection.pexpire(t.keys.ttl(e.id), 100);

    await t.store.touch([{ id: e.id, ttlMs: MINUTE, atMs: T0 + 1000 }]);
    expect(await t.store.ttlRemainingMs(e.id)).to.be.above(MINUTE - 5000);
    expect(await t.store.lastAccessMs(e.id)).to.equal(T0 + 1000);
    expect((await t.store.getRecord(e.id))?.lastAccessMs).to.equal(T0 + 1000);

    // A touch may apply a longer TTL than the one registered.
    await t.store.touch([{ id: e.id, ttlMs: 10 * MINUTE, atMs: T0 + 2000 }]);
    expect(await t.store.ttlRemainingMs(e.id)).to.be.above(9 * MINUTE);
  });

  it('touches many entries in one call and never moves last access back', async function () {
    const a = entry('a');
    const b = entry('b');
    const c = entry('c');
    for (const e of [a, b, c]) await t.store.register(e);
    await t.store.touch([
      { id: a.id, ttlMs: MINUTE, atMs: T0 + 30 },
      { id: entryIdOf('not registered'), ttlMs: MINUTE, atMs: T0 + 30 },
      { id: b.id, ttlMs: MINUTE, atMs: T0 + 20 },
      { id: a.id, ttlMs: MINUTE, atMs: T0 + 10 },
    ]);
    expect(await t.store.lastAccessMs(a.id)).to.equal(T0 + 30);
    expect(await t.store.lastAccessMs(b.id)).to.equal(T0 + 20);
    expect(await t.store.lastAccessMs(c.id)).to.equal(T0);
  });

  it('recreates an expired TTL key on touch while the entry is still known', async function () {
    // The expiry watcher re-checks the TTL key before deleting: a touch that wins the race keeps
    // the entry.
    const e = entry('a');
    await t.store.register(e);
    await t.connection.del(t.keys.ttl(e.id));
    await t.store.touch([{ id: e.id, ttlMs: MINUTE, atMs: T0 + 1 }]);
    expect(await t.store.ttlRemainingMs(e.id)).to.be.above(MINUTE - 5000);
  });

  it('ignores a touch of an unknown entry and creates nothing', async function () {
    const id = entryIdOf('never registered');
    await t.store.touch([{ id, ttlMs: MINUTE, atMs: T0 }]);
    await t.store.touch([]);
    expect(await t.connection.keys(`${t.keys.prefix}:*`)).to.deep.equal([]);
  });

  it('removes an entry with its accounting, and removing again changes nothing', async function () {
    const a = entry('a');
    const b = entry('b', { size: 300 });
    await t.store.register(a);
    await t.store.register(b);

    await t.store.remove(a.id);
    expect(await t.store.usage()).to.deep.equal({ bytes: 300, entries: 1 });
    expect(await t.connection.exists(t.keys.ttl(a.id))).to.equal(0);
    expect(await t.store.getRecord(a.id)).to.equal(undefined);
    expect(await t.store.lastAccessMs(a.id)).to.equal(undefined);

    await t.store.remove(a.id);
    await t.store.remove(entryIdOf('never registered'));
    expect(await t.store.usage()).to.deep.equal({ bytes: 300, entries: 1 });

    await t.store.remove(b.id);
    expect(await t.store.usage()).to.deep.equal({ bytes: 0, entries: 0 });
    expect(await t.connection.hlen(t.keys.entries())).to.equal(0);
  });

  describe('states', function () {
    it('tells alive, expired and unknown entries apart, in the order asked', async function () {
      const alive = entry('alive');
      const expired = entry('expired');
      const unknown = entry('unknown');
      await t.store.register(alive);
      await t.store.register(expired);
      await t.connection.del(t.keys.ttl(expired.id));

      expect(await t.store.states([unknown.id, alive.id, expired.id, alive.id])).to.deep.equal([
        'unknown',
        'alive',
        'expired',
        'alive',
      ]);
      expect(await t.store.states([])).to.deep.equal([]);
    });

    it("answers for this node only: another node's entry is unknown here", async function () {
      const other = await openStore(server.url);
      try {
        const e = entry('theirs');
        await other.store.register(e);
        expect(await t.store.states([e.id])).to.deep.equal(['unknown']);
        expect(await other.store.states([e.id])).to.deep.equal(['alive']);
      } finally {
        await other.cleanup();
      }
    });

    it('answers many ids in one round trip', async function () {
      const entries = Array.from({ length: 600 }, (_, i) => entry(`many-${i}`));
      for (const e of entries) await t.store.register(e);
      for (const e of entries.filter((_, i) => i % 3 === 0)) {
        await t.connection.del(t.keys.ttl(e.id));
      }
      const ids = entries.map((e) => e.id);
      ids.push(entryIdOf('not registered'));
      const states = await t.store.states(ids);
      expect(states).to.have.length(601);
      expect(states.slice(0, 6)).to.deep.equal([
        'expired',
        'alive',
        'alive',
        'expired',
        'alive',
        'alive',
      ]);
      expect(states.filter((s) => s === 'expired')).to.have.length(200);
      expect(states[600]).to.equal('unknown');
    });
  });

  describe('claimExpired', function () {
    it('claims an entry whose TTL key is gone, and nothing else', async function () {
      const alive = entry('alive');
      const expired = entry('expired');
      await t.store.register(alive);
      await t.store.register(expired);
      await t.connection.del(t.keys.ttl(expired.id));

      expect(await t.store.claimExpired(alive.id)).to.equal(false);
      expect((await t.store.getRecord(alive.id))?.expiring).to.equal(false);
      expect(await t.store.claimExpired(entryIdOf('never registered'))).to.equal(false);
      expect(await t.store.claimExpired(expired.id)).to.equal(true);
      expect(await t.store.getRecord(expired.id)).to.deep.equal(recordOf(expired, true));
      // Nothing but the mark changes; remove() finishes the job.
      expect(await t.store.usage()).to.deep.equal({ bytes: 2000, entries: 2 });
      expect(await t.store.states([expired.id])).to.deep.equal(['expired']);
      await t.store.remove(expired.id);
      expect(await t.store.usage()).to.deep.equal({ bytes: 1000, entries: 1 });
      expect(await t.store.states([expired.id])).to.deep.equal(['unknown']);
      expect(await t.store.getRecord(expired.id)).to.equal(undefined);
    });

    it('creates nothing for an unknown entry', async function () {
      expect(await t.store.claimExpired(entryIdOf('nobody'))).to.equal(false);
      expect(await t.connection.keys(`${t.keys.prefix}:*`)).to.deep.equal([]);
    });

    it('loses to a touch that came first: the entry stays alive', async function () {
      const e = entry('raced');
      await t.store.register(e);
      await t.connection.del(t.keys.ttl(e.id));
      // The touch lands between the expiry and the claim.
      await t.store.touch([{ id: e.id, ttlMs: MINUTE, atMs: T0 + 1 }]);
      expect(await t.store.claimExpired(e.id)).to.equal(false);
      expect(await t.store.states([e.id])).to.deep.equal(['alive']);
      expect((await t.store.getRecord(e.id))?.expiring).to.equal(false);
    });

    it('wins against a touch that comes after it: a claimed entry is not revived', async function () {
      const e = entry('claimed');
      await t.store.register(e);
      await t.connection.del(t.keys.ttl(e.id));
      expect(await t.store.claimExpired(e.id)).to.equal(true);

      await t.store.touch([{ id: e.id, ttlMs: MINUTE, atMs: T0 + 5 }]);
      expect(await t.store.ttlRemainingMs(e.id)).to.equal(undefined);
      expect(await t.store.lastAccessMs(e.id)).to.equal(T0);
      expect(await t.store.getRecord(e.id)).to.deep.equal(recordOf(e, true));
      expect(await t.store.states([e.id])).to.deep.equal(['expired']);
    });

    it('can be claimed again, so a deletion cut short by a crash can be finished', async function () {
      const e = entry('crashed');
      await t.store.register(e);
      await t.connection.del(t.keys.ttl(e.id));
      expect(await t.store.claimExpired(e.id)).to.equal(true);
      expect(await t.store.claimExpired(e.id)).to.equal(true);
    });

    it('is undone by registering the entry again: a write after expiry is a fresh entry', async function () {
      const e = entry('rewritten');
      await t.store.register(e);
      await t.connection.del(t.keys.ttl(e.id));
      expect(await t.store.claimExpired(e.id)).to.equal(true);

      const again = { ...e, createdAtMs: T0 + 100, lastAccessMs: T0 + 100 };
      await t.store.register(again);
      expect(await t.store.getRecord(e.id)).to.deep.equal(recordOf(again));
      expect(await t.store.states([e.id])).to.deep.equal(['alive']);
      expect(await t.store.usage()).to.deep.equal({ bytes: 1000, entries: 1 });
      // Touches work again, and a claim loses to the fresh TTL key.
      await t.store.touch([{ id: e.id, ttlMs: MINUTE, atMs: T0 + 200 }]);
      expect(await t.store.lastAccessMs(e.id)).to.equal(T0 + 200);
      expect(await t.store.claimExpired(e.id)).to.equal(false);
    });
  });

  describe('scanIds', function () {
    async function scanAll(store: RedisMetadataStore, count: number): Promise<string[]> {
      const ids: string[] = [];
      let cursor = '0';
      let calls = 0;
      do {
        const page = await store.scanIds(cursor, count);
        ids.push(...page.ids);
        cursor = page.cursor;
        calls++;
        expect(calls, 'the scan does not end').to.be.below(10_000);
      } while (cursor !== '0');
      return ids;
    }

    it('pages through every id of the node and ends with cursor 0', async function () {
      // More than Redis keeps in a compact hash (512 fields), so the cursor really pages.
      const entries = Array.from({ length: 600 }, (_, i) =>
        entry(`scan-${i}`, { lastAccessMs: T0 + i }),
      );
      for (const e of entries) await t.store.register(e);
      const first = await t.store.scanIds('0', 20);
      expect(first.cursor).not.to.equal('0');
      expect(first.ids.length).to.be.above(0).and.below(600);

      const ids = await scanAll(t.store, 20);
      expect(new Set(ids)).to.deep.equal(new Set(entries.map((e) => e.id)));
    });

    it('includes expired and claimed records and drops removed ones', async function () {
      const [a, b, c] = [entry('a'), entry('b'), entry('c')];
      for (const e of [a, b, c]) await t.store.register(e);
      await t.connection.del(t.keys.ttl(b.id));
      await t.store.claimExpired(b.id);
      await t.store.remove(c.id);
      expect(new Set(await scanAll(t.store, 100))).to.deep.equal(new Set([a.id, b.id]));
    });

    it("finds nothing on an empty node, and never another node's ids", async function () {
      expect(await t.store.scanIds('0', 10)).to.deep.equal({ ids: [], cursor: '0' });
      const other = await openStore(server.url);
      try {
        await other.store.register(entry('theirs'));
        expect(await scanAll(t.store, 10)).to.deep.equal([]);
      } finally {
        await other.cleanup();
      }
    });

    it('rejects a cursor or count it cannot use', async function () {
      for (const [cursor, count] of [
        ['', 10],
        ['abc', 10],
        ['-1', 10],
        ['0', 0],
        ['0', 1.5],
      ] as const) {
        const err = await rejection(t.store.scanIds(cursor, count));
        expect(hasErrorCode(err, ErrorCode.InvalidArgument), `${cursor} ${count}`).to.equal(true);
      }
    });
  });

  it('keeps nodes and prefixes apart', async function () {
    const other = await openStore(server.url);
    try {
      const e = entry('shared name');
      await t.store.register(e);
      expect(await other.store.getRecord(e.id)).to.equal(undefined);
      await other.store.remove(e.id);
      expect(await other.store.usage()).to.deep.equal({ bytes: 0, entries: 0 });
      expect(await t.store.usage()).to.deep.equal({ bytes: 1000, entries: 1 });
    } finally {
      await other.cleanup();
    }
  });

  it('rejects metadata it cannot store faithfully', async function () {
    for (const bad of [{ ttlMs: 0 }, { size: -1 }, { size: 1.5 }, { checkpointIds: [NaN] }]) {
      const err = await rejection(t.store.register(entry('bad', bad)));
      expect(hasErrorCode(err, ErrorCode.InvalidArgument), JSON.stringify(bad)).to.equal(true);
    }
    expect(await t.store.usage()).to.deep.equal({ bytes: 0, entries: 0 });
  });

  for (const scheme of ['unix', 'redis+unix']) {
    it(`works over a Unix socket (${scheme}://)`, async function () {
      const s = await openStore(`${scheme}://${server.socketPath}`);
      try {
        expect((s.connection.options as { path?: string }).path).to.equal(server.socketPath);
        const e = entry('over the socket');
        await s.store.register(e);
        expect(await s.store.getRecord(e.id)).to.deep.equal(recordOf(e));
      } finally {
        await s.cleanup();
      }
    });
  }
});

describe('RedisMetadataStore with a password', function () {
  const password = 'p@ss w0rd:secret';
  let server: RedisServerHandle;

  before(async function () {
    server = await startRedisServer({ args: ['--requirepass', password] });
  });
  after(async function () {
    await server?.stop();
  });

  it('connects with the password from the URL and never logs it', async function () {
    const logger = new RecordingLogger();
    const url = `redis://:${encodeURIComponent(password)}@127.0.0.1:${server.port}`;
    const s = await openStore(url, { logger });
    try {
      const e = entry('a');
      await s.store.register(e);
      expect(await s.store.getRecord(e.id)).to.deep.equal(recordOf(e));
    } finally {
      await s.cleanup();
    }
    expect(logger.records.map((r) => r.message)).to.include('connected to Redis');
    expect(logger.text()).to.include(`redis://127.0.0.1:${server.port}`);
    expect(logger.text()).not.to.include('w0rd');
  });

  it('reports wrong credentials as Unavailable with what to fix, without logging them', async function () {
    const logger = new RecordingLogger();
    const url = `redis://:not-the-${encodeURIComponent(password)}@127.0.0.1:${server.port}`;
    const connection = createRedisConnection(url, { logger });
    const store = new RedisMetadataStore(connection, new KeyBuilder('ckc-test-auth', 'node'));
    try {
      await waitUntil(() => logger.records.some((r) => r.level === 'warn'), {
        message: 'a warning about the refused credentials',
      });
      const err = await rejection(store.register(entry('a')));
      expectUnavailable(err);
      expect((err as Error).message).to.match(
        /refused the credentials.*check the user and password/,
      );
      const notReady = await rejection(store.ready(200));
      expectUnavailable(notReady);
      expect((notReady as Error).message).to.match(/WRONGPASS/);
    } finally {
      await store.close();
    }
    expect(logger.text()).not.to.include('w0rd');
  });
});

describe('RedisMetadataStore over TLS (rediss://)', function () {
  let server: RedisServerHandle | undefined;
  let certDir: string | undefined;
  let tlsPort: number;
  let ca: Buffer;

  before(async function () {
    certDir = await makeTempDir('ckc-tls');
    const cert = path.join(certDir, 'cert.pem');
    const key = path.join(certDir, 'key.pem');
    // A throw-away self-signed certificate for 127.0.0.1; Node cannot make one without openssl.
    const made = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
      { stdio: 'pipe' },
    ); // prettier-ignore
    if (made.error || made.status !== 0) {
      // Without openssl there is no certificate to test with; parseRedisUrl is unit-tested.
      this.skip();
    }
    ca = await fs.readFile(cert);
    tlsPort = await freePort();
    const args = ['--tls-port', String(tlsPort), '--tls-cert-file', cert, '--tls-key-file', key,
      '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no']; // prettier-ignore
    server = await startRedisServer({ args });
  });
  after(async function () {
    await server?.stop();
    if (certDir) await removeTempDir(certDir);
  });

  it('registers and reads back over TLS, checking the server certificate', async function () {
    const s = await openStore(`rediss://127.0.0.1:${tlsPort}`, { tls: { ca } });
    try {
      const e = entry('over tls');
      await s.store.register(e);
      expect(await s.store.getRecord(e.id)).to.deep.equal(recordOf(e));
    } finally {
      await s.cleanup();
    }
  });

  it('does not become ready with a certificate it cannot verify', async function () {
    const logger = new RecordingLogger();
    const connection = createRedisConnection(`rediss://127.0.0.1:${tlsPort}`, { logger });
    const store = new RedisMetadataStore(connection, new KeyBuilder('ckc-test-tls', 'node'));
    try {
      await waitUntil(() => logger.records.some((r) => r.level === 'warn'), {
        message: 'a warning about the TLS handshake',
      });
      const err = await rejection(store.ready(100));
      expectUnavailable(err);
      expect((err as Error).message).to.match(/certificate/);
    } finally {
      await store.close();
    }
  });
});

describe('RedisMetadataStore while Redis is down', function () {
  let server: RedisServerHandle;
  let t: TestStore;
  let logger: RecordingLogger;

  before(async function () {
    server = await startRedisServer();
  });
  after(async function () {
    await server?.stop();
  });
  beforeEach(async function () {
    logger = new RecordingLogger();
    t = await openStore(server.url, { logger, commandTimeoutMs: 300 });
  });
  afterEach(async function () {
    await t?.cleanup();
  });

  it('fails fast with Unavailable while Redis is stopped, and recovers after a restart', async function () {
    const e = entry('a');
    await t.store.register(e);
    await server.kill();

    // Right after the kill, before and after the client has noticed.
    for (let round = 0; round < 2; round++) {
      for (const call of [
        () => t.store.register(e),
        () => t.store.touch([{ id: e.id, ttlMs: MINUTE, atMs: T0 + 1 }]),
        () => t.store.remove(e.id),
        () => t.store.getRecord(e.id),
        () => t.store.states([e.id]),
        () => t.store.claimExpired(e.id),
        () => t.store.scanIds('0', 10),
      ]) {
        const started = Date.now();
        const err = await rejection(call());
        expectUnavailable(err);
        expect((err as Error).message).to.match(/unreachable.*check that Redis is running/);
        expect(Date.now() - started, 'failing took too long').to.be.below(1000);
      }
      await waitUntil(() => t.connection.status !== 'ready', {
        message: 'the client to notice that Redis is gone',
      });
    }
    expect(logger.records.some((r) => r.level === 'warn')).to.equal(true);

    await server.restart();
    await t.store.ready();
    // The restarted server has no data; the store works again and counts from zero.
    expect(await t.store.getRecord(e.id)).to.equal(undefined);
    await t.store.register(e);
    expect(await t.store.usage()).to.deep.equal({ bytes: 1000, entries: 1 });
    await t.store.touch([{ id: e.id, ttlMs: MINUTE, atMs: T0 + 1 }]);
    expect(await t.store.lastAccessMs(e.id)).to.equal(T0 + 1);
    expect(logger.records.map((r) => r.message)).to.include('reconnected to Redis');
  });

  it('times commands out with Unavailable while Redis hangs', async function () {
    const e = entry('a');
    await t.store.register(e);
    await server.pause();
    try {
      const started = Date.now();
      const errors = await Promise.all([
        rejection(t.store.register(e)),
        rejection(t.store.touch([{ id: e.id, ttlMs: MINUTE, atMs: T0 + 1 }])),
      ]);
      for (const err of errors) {
        expectUnavailable(err);
        expect((err as Error).message).to.match(/timed out/);
      }
      expect(Date.now() - started).to.be.below(3000);
    } finally {
      await server.resume();
    }
    await t.store.touch([{ id: e.id, ttlMs: MINUTE, atMs: T0 + 2 }]);
    expect(await t.store.lastAccessMs(e.id)).to.equal(T0 + 2);
  });

  it('reports a closed store as Unavailable', async function () {
    await t.cleanup();
    await t.store.close();
    expectUnavailable(await rejection(t.store.register(entry('late'))));
    expectUnavailable(await rejection(t.store.ready(100)));
  });
});
