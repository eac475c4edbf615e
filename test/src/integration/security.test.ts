/**
 * Security of the node agent: TLS and mutual TLS on the TCP listener (certificates from files,
 * reloaded on change and on SIGHUP), Unix socket mode and group, the write access policy, Redis
 * with a password, an ACL user and TLS, and no secret in any log record. Real servers throughout:
 * the agent, redis-server with --tls-port, certificates made by openssl.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { crc32c } from '@checkpoint-cache/checksum';
import type { AgentConfig } from '@checkpoint-cache/config';
import { createLogger } from '@checkpoint-cache/logger';
import { startNodeAgent, type RunningAgent } from '@checkpoint-cache/node-agent';
import { checkpointCacheClientConstructor } from '@checkpoint-cache/proto';
import {
  startTestAgent,
  testAgentConfig,
  testLogger,
  type TestAgent,
  type TestAgentOverrides,
} from '../helpers/agent';
import { freePort } from '../helpers/free-port';
import {
  rawClient,
  readEntry,
  unary,
  writeEntry,
  type RawClient,
  type ReadResult,
} from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';
import { makeTestPki, type CertFiles, type TestPki } from '../helpers/test-pki';
import { waitUntil } from '../helpers/wait-until';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const AGENT_BIN = path.join(REPO_ROOT, 'agents', 'node-agent', 'bin', 'ckc-agent.js');

/** What the agent needs from Redis, and nothing else (docs/security.md shows the same list). */
const AGENT_ACL = [
  '-@all',
  '+info',
  '+client|setname',
  '+evalsha',
  '+eval',
  '+multi',
  '+exec',
  '+exists',
  '+hscan',
  '+pttl',
  '+zscore',
  '+mget',
  '+hget',
  '+hsetnx',
  '+hmget',
  '+hvals',
  '+get',
  '+hset',
  '+hdel',
  '+hexists',
  '+set',
  '+del',
  '+zadd',
  '+zrem',
  '+incr',
  '+decr',
  '+incrby',
  '+decrby',
  '+sadd',
  '+srem',
  '+smembers',
  '+zrange',
  '+pexpire',
  '+publish',
  '+subscribe',
  '+psubscribe',
];
const REDIS_USER = 'ckcagent';
const PREFIX = 'ckcsec';

// ---- clients -------------------------------------------------------------------------------

const clients: grpc.Client[] = [];

/** A client of the agent over TLS trusting `ca`, presenting `identity` if given. */
function tlsClient(
  address: string,
  ca: Buffer,
  identity?: { cert: Buffer; key: Buffer },
): RawClient {
  const Client = checkpointCacheClientConstructor();
  const client = new Client(
    address,
    grpc.credentials.createSsl(ca, identity?.key ?? null, identity?.cert ?? null),
    // The address is 127.0.0.1; the certificate also names localhost, which SNI may carry.
    { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' },
  );
  clients.push(client);
  return client;
}

function plainClient(address: string): RawClient {
  const client = rawClient(address);
  clients.push(client);
  return client;
}

async function pem(files: CertFiles): Promise<{ cert: Buffer; key: Buffer }> {
  return { cert: await fs.readFile(files.cert), key: await fs.readFile(files.key) };
}

let seq = 0;
function newEntry(): { key: string; data: Buffer; header: Parameters<typeof writeEntry>[1] } {
  const key = `hdfs://nn/flink/ckpt/sec/${++seq}-${randomBytes(4).toString('hex')}`;
  const data = randomBytes(64 * 1024);
  return {
    key,
    data,
    header: { key, jobId: 'job-sec', checkpointId: 1, size: data.length, crc32c: crc32c(data) },
  };
}

/** The status code a call ends with; 0 for OK. */
async function codeOf(call: Promise<unknown>): Promise<number> {
  return call.then(
    () => grpc.status.OK,
    (err: grpc.ServiceError) => err.code,
  );
}

/** A read that must fail before any byte: rejects on success, resolves with the error. */
async function expectNoData(client: RawClient, key: string): Promise<grpc.ServiceError> {
  const err = await readEntry(client, { key }).then(
    () => {
      throw new Error('the read succeeded');
    },
    (e: grpc.ServiceError & { partial?: ReadResult }) => e,
  );
  expect(err.partial?.header, 'header received').to.equal(undefined);
  expect(err.partial?.data.length ?? 0, 'bytes received').to.equal(0);
  return err;
}

/** The certificate the TLS listener at `address` presents to a new connection. */
function servedCertificate(
  address: string,
  options: { ca: Buffer; cert?: Buffer; key?: Buffer },
): Promise<tls.PeerCertificate> {
  const colon = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: address.slice(0, colon),
      port: Number(address.slice(colon + 1)),
      servername: 'localhost',
      ALPNProtocols: ['h2'],
      ...options,
    });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      socket.destroy();
      resolve(peer);
    });
    socket.once('error', reject);
  });
}

/**
 * What becomes of a raw TLS connection to `address`: 'open' if the server keeps it for a moment,
 * else why it ended. (With TLS 1.3 the server checks the client's certificate after the client
 * considers the handshake done, so a refusal arrives as an alert just after it.)
 */
function tlsFate(
  address: string,
  options: { ca: Buffer; cert?: Buffer; key?: Buffer },
): Promise<string> {
  const colon = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: address.slice(0, colon),
      port: Number(address.slice(colon + 1)),
      servername: 'localhost',
      ALPNProtocols: ['h2'],
      ...options,
    });
    const done = (fate: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(fate);
    };
    const timer = setTimeout(() => done('open'), 1000);
    socket.once('error', (err) => done(err.message));
    socket.once('close', () => done('closed'));
  });
}

async function fingerprintOf(certFile: string): Promise<string> {
  return new (await import('node:crypto')).X509Certificate(await fs.readFile(certFile))
    .fingerprint256;
}

// ---- the executable ------------------------------------------------------------------------

interface AgentProcess {
  child: ChildProcess;
  output: () => string;
  records: () => Record<string, unknown>[];
  exited: Promise<number | null>;
}

function runAgent(args: string[], env: Record<string, string>): AgentProcess {
  const child = spawn(process.execPath, [AGENT_BIN, ...args], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => resolve(code)),
  );
  const records = (): Record<string, unknown>[] =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, output: () => out, records, exited };
}

async function record(
  p: AgentProcess,
  match: (r: Record<string, unknown>) => boolean,
  what: string,
): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await waitUntil(
    () => {
      found = p.records().find(match);
      if (!found && p.child.exitCode !== null) throw new Error(`agent exited:\n${p.output()}`);
      return found !== undefined;
    },
    { timeoutMs: 20_000, message: what },
  );
  return found as Record<string, unknown>;
}

/** Lines of a PEM body long enough to be recognised if any part of a key leaked. */
async function pemBodyLines(file: string): Promise<string[]> {
  return (await fs.readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l.length >= 16 && !l.startsWith('-----'));
}

function expectNoSecrets(logs: string, secrets: string[]): void {
  expect(logs.length, 'log output captured').to.be.greaterThan(0);
  for (const s of secrets)
    expect(logs.includes(s), `log output contains ${s.slice(0, 8)}...`).to.equal(false);
  expect(logs).not.to.include('PRIVATE KEY');
}

// ---------------------------------------------------------------------------------------------

describe('security', function () {
  this.timeout(60_000);
  let redis: RedisServerHandle;
  let pki: TestPki;
  let caPem: Buffer;
  const agents: TestAgent[] = [];
  const running: RunningAgent[] = [];
  const dirs: string[] = [];
  const processes: AgentProcess[] = [];

  async function agent(overrides: Partial<TestAgentOverrides> = {}): Promise<TestAgent> {
    const a = await startTestAgent({ redisUrl: redis.url, ...overrides });
    agents.push(a);
    return a;
  }
  async function tempDir(prefix = 'ckc-sec'): Promise<string> {
    const dir = await makeTempDir(prefix);
    dirs.push(dir);
    return dir;
  }
  /** Copies the server certificate and key into a folder of their own, as the agent's files. */
  async function serverFiles(source: CertFiles = pki.server): Promise<CertFiles> {
    const dir = await tempDir('ckc-tls');
    const files = { cert: path.join(dir, 'tls.crt'), key: path.join(dir, 'tls.key') };
    await fs.copyFile(source.cert, files.cert);
    await fs.copyFile(source.key, files.key);
    return files;
  }

  before(async function () {
    [redis, pki] = await Promise.all([startRedisServer(), makeTestPki()]);
    caPem = await fs.readFile(pki.caCert);
  });
  after(async function () {
    await redis?.stop();
    await pki?.remove();
  });
  afterEach(async function () {
    for (const c of clients.splice(0)) c.close();
    for (const p of processes.splice(0)) {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
    await Promise.all(agents.splice(0).map((a) => a.stop(0)));
    await Promise.all(running.splice(0).map((a) => a.shutdown(0)));
    await Promise.all(dirs.splice(0).map((d) => removeTempDir(d)));
  });

  describe('TLS on the TCP listener', function () {
    it('serves a client that trusts the CA; a plaintext or untrusting client gets no data', async function () {
      const files = await serverFiles();
      const a = await agent({ tlsCert: files.cert, tlsKey: files.key });
      const e = newEntry();
      // The Unix socket stays plaintext.
      await writeEntry(plainClient(`unix:${a.socketPath}`), e.header, e.data);

      const got = await readEntry(tlsClient(a.address, caPem), { key: e.key });
      expect(got.data.equals(e.data)).to.equal(true);

      const plain = await expectNoData(plainClient(a.address), e.key);
      expect(plain.code).to.equal(grpc.status.UNAVAILABLE);
      const untrusting = await expectNoData(
        tlsClient(a.address, await fs.readFile(pki.otherCaCert)),
        e.key,
      );
      expect(untrusting.code).to.equal(grpc.status.UNAVAILABLE);
    });

    it('with a client CA, serves only clients with a certificate it signed', async function () {
      const files = await serverFiles();
      const a = await agent({ tlsCert: files.cert, tlsKey: files.key, tlsClientCa: pki.caCert });
      const e = newEntry();
      await writeEntry(plainClient(`unix:${a.socketPath}`), e.header, e.data);

      const none = await expectNoData(tlsClient(a.address, caPem), e.key);
      expect(none.code).to.equal(grpc.status.UNAVAILABLE);
      const foreign = await expectNoData(
        tlsClient(a.address, caPem, await pem(pki.otherClient)),
        e.key,
      );
      expect(foreign.code).to.equal(grpc.status.UNAVAILABLE);
      // At the TLS level: the server ends the connection of a client without a certificate.
      expect(await tlsFate(a.address, { ca: caPem })).to.match(/certificate required/);
      expect(await tlsFate(a.address, { ca: caPem, ...(await pem(pki.client)) })).to.equal('open');

      const got = await readEntry(tlsClient(a.address, caPem, await pem(pki.client)), {
        key: e.key,
      });
      expect(got.data.equals(e.data)).to.equal(true);
    });

    it('refuses to start on a bad file, naming the option', async function () {
      const dir = await tempDir();
      const cases: [Partial<AgentConfig>, RegExp][] = [
        [
          { tlsCert: path.join(dir, 'missing.crt'), tlsKey: pki.server.key },
          /^--tls-cert \(CKC_TLS_CERT\) .*missing\.crt: cannot read the file \(ENOENT\)/,
        ],
        [
          { tlsCert: pki.server.key, tlsKey: pki.server.key },
          /^--tls-cert \(CKC_TLS_CERT\) .*: holds no PEM certificate/,
        ],
        [
          { tlsCert: pki.server.cert, tlsKey: pki.client.key },
          /^--tls-key \(CKC_TLS_KEY\) .*: the private key does not belong to the certificate in --tls-cert/,
        ],
        [
          { tlsCert: pki.server.cert, tlsKey: pki.server.key, tlsClientCa: pki.server.key },
          /^--tls-client-ca \(CKC_TLS_CLIENT_CA\) .*: holds no PEM certificate/,
        ],
      ];
      for (const [overrides, expected] of cases) {
        const cacheDir = await tempDir();
        const err = await startNodeAgent(
          testAgentConfig(cacheDir, { redisUrl: redis.url, ...overrides }),
        ).then(
          (a) => {
            running.push(a);
            throw new Error('the agent started');
          },
          (e: Error) => e,
        );
        expect(err.message).to.match(expected);
        expect(err.message).not.to.include('PRIVATE KEY');
      }
    });

    it('serves new certificates once the files change, without closing the listener', async function () {
      const files = await serverFiles();
      const a = await agent({ tlsCert: files.cert, tlsKey: files.key });
      const e = newEntry();
      await writeEntry(plainClient(`unix:${a.socketPath}`), e.header, e.data);
      const before = await fingerprintOf(pki.server.cert);
      expect((await servedCertificate(a.address, { ca: caPem })).fingerprint256).to.equal(before);
      const client = tlsClient(a.address, caPem);
      await readEntry(client, { key: e.key });

      // A rotation as cert-manager does it: new key and certificate from the same CA.
      const next = await pki.issue(`rotated-${++seq}`, 'server');
      await fs.copyFile(next.key, files.key);
      await fs.copyFile(next.cert, files.cert);
      const after = await fingerprintOf(next.cert);
      await waitUntil(
        async () => (await servedCertificate(a.address, { ca: caPem })).fingerprint256 === after,
        { message: 'the agent to serve the rotated certificate' },
      );
      // The listener stayed up: the client connected before still reads, and so do new ones.
      expect((await readEntry(client, { key: e.key })).data.equals(e.data)).to.equal(true);
      const fresh = await readEntry(tlsClient(a.address, caPem), { key: e.key });
      expect(fresh.data.equals(e.data)).to.equal(true);
    });

    it('keeps the certificates in use when the new files are not valid', async function () {
      const files = await serverFiles();
      const a = await agent({ tlsCert: files.cert, tlsKey: files.key });
      const served = await fingerprintOf(pki.server.cert);
      // A half-done rotation: a new certificate, the old key.
      const next = await pki.issue(`half-${++seq}`, 'server');
      await fs.copyFile(next.cert, files.cert);
      expect(await a.reloadTls('test')).to.equal(false);
      expect((await servedCertificate(a.address, { ca: caPem })).fingerprint256).to.equal(served);
      // The rotation completes: the key arrives, and the new pair is served.
      await fs.copyFile(next.key, files.key);
      await a.reloadTls('test');
      const expected = await fingerprintOf(next.cert);
      expect((await servedCertificate(a.address, { ca: caPem })).fingerprint256).to.equal(expected);
    });
  });

  describe('Unix socket permissions', function () {
    async function socketStat(a: TestAgent): Promise<{ mode: number; gid: number }> {
      const st = await fs.stat(a.socketPath);
      return { mode: st.mode & 0o777, gid: st.gid };
    }

    it('gives the socket mode 0660 by default', async function () {
      const a = await agent();
      expect((await socketStat(a)).mode.toString(8)).to.equal('660');
      expect(a.config.socketMode).to.equal(0o660);
    });

    it('applies --socket-mode and --socket-group, by name or by gid', async function () {
      const byName = await agent({ socketMode: 0o600, socketGroup: 'nogroup' });
      expect(await socketStat(byName)).to.deep.equal({ mode: 0o600, gid: 65534 });
      const byGid = await agent({ socketMode: 0o640, socketGroup: '65534' });
      expect(await socketStat(byGid)).to.deep.equal({ mode: 0o640, gid: 65534 });
    });

    it('refuses to start with a group that does not exist, naming --socket-group', async function () {
      const err = await agent({ socketGroup: 'no-such-group-ckc' }).then(
        () => new Error('the agent started'),
        (e: Error) => e,
      );
      expect(err.message).to.match(
        /^--socket-group \(CKC_SOCKET_GROUP\)="no-such-group-ckc": no such group/,
      );
    });
  });

  describe('write access', function () {
    it('by default refuses changes over TCP with PERMISSION_DENIED and allows them on the socket', async function () {
      const a = await agent({ writeAccess: 'socket' });
      const tcp = plainClient(a.address);
      const unix = plainClient(`unix:${a.socketPath}`);
      const e = newEntry();

      const refused = await writeEntry(tcp, e.header, e.data).then(
        () => new Error('the write succeeded'),
        (err: grpc.ServiceError) => err,
      );
      expect((refused as grpc.ServiceError).code).to.equal(grpc.status.PERMISSION_DENIED);
      expect(refused.message).to.include(`unix:${a.socketPath}`).and.to.include('CKC_WRITE_ACCESS');
      expect(await codeOf(unary(tcp, 'stat', { key: e.key }))).to.equal(grpc.status.NOT_FOUND);

      await writeEntry(unix, e.header, e.data);
      for (const [method, request] of [
        ['delete', { key: e.key }],
        ['release', { jobId: 'job-sec' }],
        ['touch', { key: e.key, checkpointId: 2 }],
        ['touch', { key: e.key, ttlMs: 1 }],
        ['writeBatch', { items: [{ header: { key: `${e.key}/b` }, data: Buffer.from('b') }] }],
      ] as const) {
        const code = await codeOf(unary(tcp, method, request));
        expect(code, `${method} ${JSON.stringify(request)}`).to.equal(
          grpc.status.PERMISSION_DENIED,
        );
      }
      // Reads stay open over TCP, and nothing was changed by the refused calls.
      expect((await readEntry(tcp, { key: e.key })).data.equals(e.data)).to.equal(true);
      expect(await codeOf(unary(tcp, 'stat', { key: e.key }))).to.equal(grpc.status.OK);
      expect(await codeOf(unary(tcp, 'touch', { key: e.key }))).to.equal(grpc.status.OK);
      const listed = await unary<object, { entries: { key: string }[] }>(tcp, 'list', {
        jobId: 'job-sec',
      });
      expect(listed.entries.map((x) => x.key)).to.deep.equal([e.key]);

      // The socket may do all of it.
      expect(await codeOf(unary(unix, 'touch', { key: e.key, checkpointId: 2 }))).to.equal(0);
      expect(await codeOf(unary(unix, 'delete', { key: e.key }))).to.equal(0);
      expect(await codeOf(unary(unix, 'release', { jobId: 'job-sec' }))).to.equal(0);
    });

    it('with mtls, allows changes from TCP clients whose certificate the client CA signed', async function () {
      const files = await serverFiles();
      const a = await agent({
        tlsCert: files.cert,
        tlsKey: files.key,
        tlsClientCa: pki.caCert,
        writeAccess: 'mtls',
      });
      const e = newEntry();
      const client = tlsClient(a.address, caPem, await pem(pki.client));
      await writeEntry(client, e.header, e.data);
      expect(await codeOf(unary(client, 'delete', { key: e.key }))).to.equal(grpc.status.OK);
      const f = newEntry();
      await writeEntry(plainClient(`unix:${a.socketPath}`), f.header, f.data);
    });

    it('with any, allows changes over plain TCP', async function () {
      const a = await agent({ writeAccess: 'any' });
      const e = newEntry();
      await writeEntry(plainClient(a.address), e.header, e.data);
      expect(await codeOf(unary(plainClient(a.address), 'delete', { key: e.key }))).to.equal(0);
    });
  });

  describe('Redis password, ACL user and TLS', function () {
    let tlsRedis: RedisServerHandle;
    let tlsPort: number;
    let admin: Redis;
    const password = `pw-${randomBytes(12).toString('hex')}`;

    async function setUser(...rules: string[]): Promise<void> {
      await admin.call('ACL', 'SETUSER', REDIS_USER, 'reset', 'on', `>${password}`, ...rules);
    }
    function redisUrl(pass = password): string {
      return `rediss://${REDIS_USER}:${encodeURIComponent(pass)}@localhost:${tlsPort}`;
    }
    function redisTls(): Partial<AgentConfig> {
      return { redisTlsCa: pki.caCert, redisTlsCert: pki.client.cert, redisTlsKey: pki.client.key };
    }
    async function startRedisAgent(url: string, logStream?: PassThrough): Promise<RunningAgent> {
      const cacheDir = await tempDir();
      const config = testAgentConfig(cacheDir, {
        redisUrl: url,
        redisPrefix: PREFIX,
        ...redisTls(),
      });
      const logger = logStream
        ? createLogger({ level: 'debug', format: 'json', stream: logStream })
        : testLogger();
      const a = await startNodeAgent(config, { logger });
      running.push(a);
      return a;
    }

    before(async function () {
      // redis-server asks TLS clients for a certificate (tls-auth-clients yes) by default.
      for (let attempt = 1; ; attempt++) {
        tlsPort = await freePort();
        try {
          tlsRedis = await startRedisServer({
            args: [
              '--tls-port', String(tlsPort),
              '--tls-cert-file', pki.server.cert,
              '--tls-key-file', pki.server.key,
              '--tls-ca-cert-file', pki.caCert,
              '--notify-keyspace-events', 'Kx',
            ],
          }); // prettier-ignore
          break;
        } catch (err) {
          if (attempt >= 3) throw err;
        }
      }
      // The plaintext port is for the test's own administration only.
      admin = new Redis({ host: tlsRedis.host, port: tlsRedis.port, lazyConnect: true });
      await admin.connect();
    });
    after(async function () {
      admin?.disconnect();
      await tlsRedis?.stop();
    });
    beforeEach(async function () {
      await admin.call('ACL', 'LOG', 'RESET');
    });

    it('works over rediss:// with a CA, a client certificate and an ACL user limited to the prefix', async function () {
      await setUser(`~${PREFIX}:*`, '&*', ...AGENT_ACL);
      const a = await startRedisAgent(redisUrl());
      const unix = plainClient(`unix:${a.socketPath ?? ''}`);
      const tcp = plainClient(a.tcpAddress ?? '');
      const [kept, expiring, released] = [newEntry(), newEntry(), newEntry()];
      await writeEntry(unix, kept.header, kept.data);
      await writeEntry(unix, { ...expiring.header, jobId: 'job-exp', ttlMs: 300 }, expiring.data);
      await writeEntry(unix, { ...released.header, checkpointId: 7 }, released.data);
      expect((await readEntry(tcp, { key: kept.key })).data.equals(kept.data)).to.equal(true);
      await unary(unix, 'touch', { key: kept.key, checkpointId: 8 });
      await unary(unix, 'release', { jobId: 'job-sec', belowCheckpointId: 8 });
      expect(await codeOf(unary(tcp, 'stat', { key: released.key }))).to.equal(
        grpc.status.NOT_FOUND,
      );
      expect(await codeOf(unary(tcp, 'stat', { key: kept.key, noTouch: true }))).to.equal(0);
      // Expiry through keyspace notifications: PSUBSCRIBE is allowed.
      await waitUntil(
        async () => (await codeOf(unary(tcp, 'stat', { key: expiring.key, noTouch: true }))) === 5,
        {
          message: 'the expired entry to be deleted',
        },
      );
      expect(await codeOf(unary(unix, 'delete', { key: kept.key }))).to.equal(grpc.status.OK);
      // Only the optional CONFIG (turning notifications on; set in redis.conf instead) was refused.
      const log = (await admin.call('ACL', 'LOG')) as unknown[][];
      const refused = log.map((entry) => String(entry[entry.indexOf('object') + 1]));
      expect(refused.filter((o) => !o.startsWith('config|'))).to.deep.equal([]);
      const keys = await admin.keys('*');
      expect(
        keys.every((k) => k.startsWith(`${PREFIX}:`)),
        keys.join(' '),
      ).to.equal(true);
    });

    it('fails start-up at once with one clear error naming CKC_REDIS_URL on a wrong password', async function () {
      await setUser(`~${PREFIX}:*`, '&*', ...AGENT_ACL);
      const t0 = Date.now();
      const err = await startRedisAgent(redisUrl('not-the-password')).then(
        () => new Error('the agent started'),
        (e: Error) => e,
      );
      expect(Date.now() - t0).to.be.lessThan(4000);
      expect(err.message).to.include('WRONGPASS').and.to.include('CKC_REDIS_URL');
      expect(err.message).not.to.include('not-the-password');
    });

    it('fails start-up naming the commands the ACL user may not run', async function () {
      await setUser(
        `~${PREFIX}:*`,
        '&*',
        ...AGENT_ACL.filter((r) => r !== '+zadd' && r !== '+hset'),
      );
      const err = await startRedisAgent(redisUrl()).then(
        () => new Error('the agent started'),
        (e: Error) => e,
      );
      expect(err.message).to.match(
        /does not allow the agent's user \(from --redis-url \(CKC_REDIS_URL\)\)/,
      );
      expect(err.message).to.include(`HSET ${PREFIX}:{`).and.to.include(`ZADD ${PREFIX}:{`);
      expect(err.message).not.to.include(password);
    });

    it('fails start-up when the ACL user may not use keys under the prefix', async function () {
      await setUser('~other:*', '&*', '+@all');
      const err = await startRedisAgent(redisUrl()).then(
        () => new Error('the agent started'),
        (e: Error) => e,
      );
      expect(err.message).to.include('CKC_REDIS_URL').and.to.include('NOPERM');
    });

    it('never logs the password or key material, at debug level', async function () {
      await setUser(`~${PREFIX}:*`, '&*', ...AGENT_ACL);
      const secrets = [
        password,
        ...(await pemBodyLines(pki.client.key)),
        ...(await pemBodyLines(pki.server.key)),
      ];
      // In process, with the logger writing to a stream: a wrong password, then a good start.
      const stream = new PassThrough();
      let logs = '';
      stream.on('data', (d: Buffer) => (logs += d.toString()));
      const wrongPassword = `${password}-wrong`;
      await startRedisAgent(redisUrl(wrongPassword), stream).catch(() => undefined);
      const a = await startRedisAgent(redisUrl(), stream);
      const e = newEntry();
      await writeEntry(plainClient(`unix:${a.socketPath ?? ''}`), e.header, e.data);
      await a.shutdown(0);
      expectNoSecrets(logs, [...secrets, wrongPassword]);

      // The executable: TLS listener with a key, rediss:// with a password, a SIGHUP reload.
      const files = await serverFiles();
      const cacheDir = await tempDir();
      const p = runAgent(
        [
          '--log-level', 'debug',
          '--listen', '127.0.0.1:0',
          '--cache-dir', cacheDir,
          '--redis-prefix', PREFIX,
          '--tls-cert', files.cert,
          '--tls-key', files.key,
        ],
        {
          CKC_REDIS_URL: redisUrl(),
          CKC_REDIS_TLS_CA: pki.caCert,
          CKC_REDIS_TLS_CERT: pki.client.cert,
          CKC_REDIS_TLS_KEY: pki.client.key,
        },
      ); // prettier-ignore
      processes.push(p);
      const started = await record(p, (r) => r['message'] === 'node agent started', 'start');
      expect(started['tls']).to.equal('server');
      const f = newEntry();
      await writeEntry(plainClient(`unix:${path.join(cacheDir, 'agent.sock')}`), f.header, f.data);
      await readEntry(tlsClient(String(started['tcp']), caPem), { key: f.key });
      p.child.kill('SIGHUP');
      await record(p, (r) => String(r['message']).startsWith('SIGHUP'), 'the SIGHUP record');
      p.child.kill('SIGTERM');
      expect(await p.exited).to.equal(0);
      expectNoSecrets(p.output(), secrets);
    });

    it('exits with one error record, and no password, when the executable is refused', async function () {
      await setUser(`~${PREFIX}:*`, '&*', ...AGENT_ACL);
      const cacheDir = await tempDir();
      const wrong = `wrong-${randomBytes(6).toString('hex')}`;
      const p = runAgent(['--log-level', 'debug', '--listen', 'off', '--cache-dir', cacheDir], {
        CKC_REDIS_URL: redisUrl(wrong),
        CKC_REDIS_TLS_CA: pki.caCert,
        CKC_REDIS_TLS_CERT: pki.client.cert,
        CKC_REDIS_TLS_KEY: pki.client.key,
      });
      processes.push(p);
      expect(await p.exited).to.equal(1);
      const errors = p.records().filter((r) => r['level'] === 'error');
      expect(errors, p.output()).to.have.length(1);
      expect(String(errors[0]?.['reason'])).to.include('CKC_REDIS_URL').and.to.include('WRONGPASS');
      expectNoSecrets(p.output(), [wrong, ...(await pemBodyLines(pki.client.key))]);
    });
  });

  describe('certificate reload on SIGHUP (the executable)', function () {
    it('reloads the files on SIGHUP, also when no file event could tell', async function () {
      // The agent's files are symlinks into another folder: changing the targets there raises
      // no event in the folder the agent watches, so only the signal can make it reload.
      const real = await serverFiles();
      const dir = await tempDir('ckc-tls-links');
      const files = { cert: path.join(dir, 'tls.crt'), key: path.join(dir, 'tls.key') };
      await fs.symlink(real.cert, files.cert);
      await fs.symlink(real.key, files.key);
      const cacheDir = await tempDir();
      const p = runAgent(
        [
          '--listen',
          '127.0.0.1:0',
          '--cache-dir',
          cacheDir,
          '--tls-cert',
          files.cert,
          '--tls-key',
          files.key,
        ],
        { CKC_REDIS_URL: redis.url },
      );
      processes.push(p);
      const started = await record(p, (r) => r['message'] === 'node agent started', 'start');
      const address = String(started['tcp']);
      expect((await servedCertificate(address, { ca: caPem })).fingerprint256).to.equal(
        await fingerprintOf(pki.server.cert),
      );
      const next = await pki.issue(`sighup-${++seq}`, 'server');
      await fs.writeFile(real.key, await fs.readFile(next.key));
      await fs.writeFile(real.cert, await fs.readFile(next.cert));
      p.child.kill('SIGHUP');
      const reloaded = await record(
        p,
        (r) => r['message'] === 'TLS certificates reloaded; new connections get them',
        'the reload record',
      );
      expect(reloaded['reason']).to.equal('SIGHUP');
      expect((await servedCertificate(address, { ca: caPem })).fingerprint256).to.equal(
        await fingerprintOf(next.cert),
      );
      p.child.kill('SIGTERM');
      expect(await p.exited).to.equal(0);
    });
  });
});
