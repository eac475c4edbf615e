/**
 * The node agent as a whole: listeners (TCP on port 0, Unix socket), health, reflection, node
 * identity, graceful shutdown, the embedded Redis, and the `ckc-agent` executable's exit codes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { crc32c } from '@checkpoint-cache/checksum';
import { AGENT_OPTIONS } from '@checkpoint-cache/config';
import { startNodeAgent } from '@checkpoint-cache/node-agent';
import {
  SERVICE_NAME,
  checkpointCacheClientConstructor,
  type CheckpointCacheClient,
} from '@checkpoint-cache/proto';
import { healthCheck } from '../helpers/health-check';
import { startTestAgent, testAgentConfig, testLogger, type TestAgent } from '../helpers/agent';
import { rawClient, readEntry, writeEntry } from '../helpers/raw-client';
import { reflect } from '../helpers/reflection-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';
import { waitUntil } from '../helpers/wait-until';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const AGENT_BIN = path.join(REPO_ROOT, 'agents', 'node-agent', 'bin', 'ckc-agent.js');
const MiB = 1024 * 1024;

/**
 * A client with grpc-js's default 64 KiB flow-control window, so that a paused read really holds
 * the agent's stream open (rawClient's 8 MiB window would let a whole test file through).
 */
function smallWindowClient(target: string): CheckpointCacheClient {
  const Client = checkpointCacheClientConstructor();
  return new Client(target, grpc.credentials.createInsecure());
}

// ---- the executable ------------------------------------------------------------------------

interface AgentProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** stderr's JSON log records so far. */
  logs: () => Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runAgent(args: string[], env: Record<string, string>): AgentProcess {
  // A clean environment: nothing from the developer's shell (CKC_*, a different HOME) leaks in.
  const child = spawn(process.execPath, [AGENT_BIN, ...args], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const logs = (): Record<string, unknown>[] =>
    err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, stdout: () => out, stderr: () => err, logs, exited };
}

async function logRecord(agent: AgentProcess, message: string): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await waitUntil(
    () => {
      if (agent.child.exitCode !== null) throw new Error(`agent exited early:\n${agent.stderr()}`);
      found = agent.logs().find((r) => r['message'] === message);
      return found !== undefined;
    },
    { timeoutMs: 15_000, message: `log record "${message}"` },
  );
  return found as Record<string, unknown>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

// ---------------------------------------------------------------------------------------------

describe('node agent', function () {
  this.timeout(30_000);
  let redis: RedisServerHandle;
  const agents: TestAgent[] = [];
  const dirs: string[] = [];
  const readers: CheckpointCacheClient[] = [];

  async function agent(
    overrides: Partial<Parameters<typeof startTestAgent>[0]> = {},
  ): Promise<TestAgent> {
    const a = await startTestAgent({ redisUrl: redis.url, ...overrides });
    agents.push(a);
    return a;
  }
  async function tempDir(): Promise<string> {
    const dir = await makeTempDir('ckc-agent-test');
    dirs.push(dir);
    return dir;
  }

  before(async function () {
    redis = await startRedisServer();
  });
  after(async function () {
    await redis?.stop();
  });
  afterEach(async function () {
    for (const r of readers.splice(0)) r.close();
    await Promise.all(agents.splice(0).map((a) => a.stop(0)));
    await Promise.all(dirs.splice(0).map((d) => removeTempDir(d)));
  });

  describe('in process', function () {
    it('listens on a free TCP port and on its socket, and reports both', async function () {
      const a = await agent();
      expect(a.tcpAddress).to.match(/^127\.0\.0\.1:\d+$/);
      expect(a.tcpAddress).not.to.equal('127.0.0.1:0');
      expect(a.address).to.equal(a.tcpAddress);
      expect(a.socketPath).to.equal(path.join(a.cacheDir, 'agent.sock'));
      expect((await fs.lstat(a.socketPath)).isSocket()).to.equal(true);
      expect(a.nodeId).to.match(/^test-node-/);
    });

    it('answers health checks SERVING over TCP and over the socket', async function () {
      const a = await agent();
      for (const target of [a.address, `unix:${a.socketPath}`]) {
        expect(await healthCheck(target, '')).to.equal('SERVING');
        expect(await healthCheck(target, SERVICE_NAME)).to.equal('SERVING');
      }
      const err = await healthCheck(a.address, 'no.such.Service').then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      expect(err?.code).to.equal(grpc.status.NOT_FOUND);
    });

    it('lists the CheckpointCache and health services by reflection, with their files', async function () {
      const a = await agent();
      const listed = await reflect(a.address, { list_services: '' });
      const names = listed.list_services_response?.service.map((s) => s.name) ?? [];
      expect(names).to.include(SERVICE_NAME);
      expect(names).to.include('checkpointcache.v1.CheckpointCache');
      expect(names).to.include('grpc.health.v1.Health');
      for (const symbol of [SERVICE_NAME, 'grpc.health.v1.Health']) {
        const file = await reflect(`unix:${a.socketPath}`, { file_containing_symbol: symbol });
        expect(file.error_response, symbol).to.equal(undefined);
        expect(
          file.file_descriptor_response?.file_descriptor_proto.length,
          symbol,
        ).to.be.greaterThan(0);
      }
    });

    it('serves the cache on both listeners', async function () {
      const a = await agent();
      const data = randomBytes(300 * 1024);
      const key = 'hdfs://nn/ckpt/job/chk-1/both';
      const tcp = rawClient(a.address);
      const unix = rawClient(`unix:${a.socketPath}`);
      try {
        await writeEntry(
          tcp,
          { key, jobId: 'job', checkpointId: 1, size: data.length, crc32c: crc32c(data) },
          data,
        );
        expect((await readEntry(unix, { key })).data.equals(data)).to.equal(true);
      } finally {
        tcp.close();
        unix.close();
      }
    });

    it('can listen on TCP only or on the socket only', async function () {
      const tcpOnly = await agent({ socket: undefined });
      expect(tcpOnly.tcpAddress).to.be.a('string');
      expect(await exists(path.join(tcpOnly.cacheDir, 'agent.sock'))).to.equal(false);
      expect(await healthCheck(tcpOnly.address)).to.equal('SERVING');

      const socketOnly = await agent({ listen: undefined });
      expect(socketOnly.tcpAddress).to.equal(undefined);
      expect(await healthCheck(`unix:${socketOnly.socketPath}`)).to.equal('SERVING');
    });

    it('creates node.id from the host name when none is configured, and keeps it', async function () {
      const a = await agent({ nodeId: undefined });
      const stored = (await fs.readFile(path.join(a.cacheDir, 'node.id'), 'utf8')).trim();
      expect(a.nodeId).to.equal(stored);
      expect(stored).to.match(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
      await a.restart(0);
      expect(a.nodeId).to.equal(stored);
    });

    it('refuses a socket another live agent answers on, and leaves that agent alone', async function () {
      const first = await agent();
      const err = await agent({ socket: first.socketPath }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).to.match(/already listening on .*agent\.sock/);
      expect(await healthCheck(`unix:${first.socketPath}`)).to.equal('SERVING');
    });

    it('replaces a socket file left by a process that died', async function () {
      const dir = await tempDir();
      const stale = path.join(dir, 'stale.sock');
      // A listener killed with SIGKILL leaves its socket file behind.
      const holder = spawn(process.execPath, [
        '-e',
        `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`,
      ]);
      await new Promise((resolve) => holder.once('exit', resolve));
      expect((await fs.lstat(stale)).isSocket()).to.equal(true);
      const a = await agent({ socket: stale });
      expect(await healthCheck(`unix:${stale}`)).to.equal('SERVING');
      await a.stop(0);
      expect(await exists(stale)).to.equal(false);
    });

    it('refuses to start on a TCP port in use, naming --listen', async function () {
      const blocker = net.createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const port = (blocker.address() as net.AddressInfo).port;
      // grpc-js also prints the bind failure itself; the agent's error is what is under test.
      grpc.setLogVerbosity(grpc.logVerbosity.NONE);
      try {
        const err = await agent({ listen: `127.0.0.1:${port}` }).then(
          () => undefined,
          (e: Error) => e,
        );
        expect(err?.message).to.include(`--listen 127.0.0.1:${port}`);
      } finally {
        grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
        blocker.close();
      }
    });

    it('shuts down once, removes its socket and stops answering', async function () {
      const a = await agent();
      const address = a.address;
      const first = a.shutdown(1000);
      expect(a.shutdown(1000)).to.equal(first);
      await first;
      expect(await exists(a.socketPath)).to.equal(false);
      const err = await healthCheck(address).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      expect(err?.code).to.equal(grpc.status.UNAVAILABLE);
    });

    it('lets an in-flight read finish within the grace period', async function () {
      const a = await agent();
      // Far more than the flow-control window and the buffers on the way can hold.
      const data = randomBytes(32 * MiB);
      const key = 'hdfs://nn/ckpt/job/chk-1/in-flight';
      const client = rawClient(a.address);
      try {
        await writeEntry(
          client,
          { key, jobId: 'job', checkpointId: 1, size: data.length, crc32c: crc32c(data) },
          data,
        );
        const reader = smallWindowClient(a.address);
        readers.push(reader);
        const call = reader.read({ key });
        const parts: Buffer[] = [];
        let firstChunk: () => void = () => undefined;
        const started = new Promise<void>((resolve) => (firstChunk = resolve));
        const done = new Promise<void>((resolve, reject) => {
          call.on('data', (m: { chunk?: { data: Buffer } }) => {
            if (!m.chunk) return;
            // Hold the stream half-read while the agent shuts down.
            if (parts.length === 0) call.pause();
            parts.push(m.chunk.data);
            firstChunk();
          });
          call.on('end', resolve);
          call.on('error', reject);
        });
        await started;
        let shutDown = false;
        const shutdown = a.shutdown(10_000).then(() => (shutDown = true));
        await new Promise((r) => setTimeout(r, 200));
        expect(shutDown, 'shutdown must wait for the stream').to.equal(false);
        expect(await healthCheck(a.address).catch((e: grpc.ServiceError) => e.code)).to.equal(
          grpc.status.UNAVAILABLE,
        );
        call.resume();
        await done;
        await shutdown;
        expect(Buffer.concat(parts).equals(data)).to.equal(true);
      } finally {
        client.close();
      }
    });

    it('cancels reads still running when the grace period is over', async function () {
      const a = await agent();
      const data = randomBytes(32 * MiB);
      const key = 'hdfs://nn/ckpt/job/chk-1/stuck';
      const client = rawClient(a.address);
      try {
        await writeEntry(
          client,
          { key, jobId: 'job', checkpointId: 1, size: data.length, crc32c: crc32c(data) },
          data,
        );
        const reader = smallWindowClient(a.address);
        readers.push(reader);
        const call = reader.read({ key });
        const failed = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
        call.on('data', () => call.pause());
        const started = Date.now();
        await a.shutdown(300);
        expect(Date.now() - started).to.be.lessThan(5000);
        expect((await failed).code).to.be.oneOf([grpc.status.CANCELLED, grpc.status.UNAVAILABLE]);
      } finally {
        client.close();
      }
    });

    it('runs with its own redis-server when no Redis URL is set, and stops it', async function () {
      const dir = await tempDir();
      const config = {
        ...testAgentConfig(dir, { redisUrl: 'redis://unused' }),
        redisUrl: undefined,
      };
      const running = await startNodeAgent(config, { logger: testLogger() });
      const redisSocket = path.join(dir, 'redis', 'redis.sock');
      try {
        expect((await fs.lstat(redisSocket)).isSocket()).to.equal(true);
        const client = rawClient(running.tcpAddress as string);
        const data = randomBytes(1000);
        const key = 'file:///embedded';
        try {
          await writeEntry(
            client,
            { key, jobId: 'j', checkpointId: 1, size: data.length, crc32c: crc32c(data) },
            data,
          );
          expect((await readEntry(client, { key })).data.equals(data)).to.equal(true);
        } finally {
          client.close();
        }
      } finally {
        await running.shutdown(0);
      }
      expect(await exists(redisSocket)).to.equal(false);
    });
  });

  describe('ckc-agent executable', function () {
    it('--help prints every option and exits 0', async function () {
      const p = runAgent(['--help'], {});
      const { code } = await p.exited;
      expect(code).to.equal(0);
      for (const o of AGENT_OPTIONS) {
        expect(p.stdout()).to.include(`--${o.flag}`);
        expect(p.stdout()).to.include(o.env);
      }
      expect(p.stderr()).to.equal('');
    });

    it('exits 2 with one line naming a bad flag', async function () {
      const p = runAgent(['--default-ttl', '3 parsecs'], {});
      const { code } = await p.exited;
      expect(code).to.equal(2);
      const lines = p.stderr().trimEnd().split('\n');
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(/^ckc-agent: --default-ttl="3 parsecs": expected a duration/);
    });

    it('exits 2 naming a bad environment variable or an unknown flag', async function () {
      const env = runAgent([], { CKC_LOG_FORMAT: 'xml' });
      expect((await env.exited).code).to.equal(2);
      expect(env.stderr()).to.include('CKC_LOG_FORMAT="xml": expected one of json, text');
      const flag = runAgent(['--lisen', '127.0.0.1:0'], {});
      expect((await flag.exited).code).to.equal(2);
      expect(flag.stderr()).to.include('unknown option --lisen (did you mean --listen?)');
    });

    it('serves until SIGTERM, then shuts down gracefully and exits 0', async function () {
      const dir = await tempDir();
      const p = runAgent(
        ['--listen', '127.0.0.1:0', '--cache-dir', dir, '--redis-prefix', `ckc-bin-${process.pid}`],
        {
          CKC_REDIS_URL: redis.url,
          HOME: dir,
        },
      );
      const started = await logRecord(p, 'node agent started');
      expect(started['tcp']).to.match(/^127\.0\.0\.1:\d+$/);
      expect(started['socket']).to.equal(path.join(dir, 'agent.sock'));
      // Read chunks skip grpc-js's copy; a grpc-js upgrade that defeats the patch shows here.
      expect(started['zeroCopy']).to.equal('on');
      expect(await healthCheck(started['tcp'] as string)).to.equal('SERVING');
      p.child.kill('SIGTERM');
      const { code, signal } = await p.exited;
      expect({ code, signal }).to.deep.equal({ code: 0, signal: null });
      const messages = p.logs().map((r) => r['message']);
      expect(messages).to.include('signal received: shutting down');
      expect(messages).to.include('node agent stopped');
      expect(await exists(path.join(dir, 'agent.sock'))).to.equal(false);
    });

    it('writes readable text logs with --log-format text', async function () {
      const dir = await tempDir();
      const p = runAgent(['--log-format', 'text', '--listen', '127.0.0.1:0', '--cache-dir', dir], {
        CKC_REDIS_URL: redis.url,
      });
      await waitUntil(() => /INFO\s+node agent started/.test(p.stderr()), {
        message: 'text start line',
      });
      p.child.kill('SIGINT');
      expect((await p.exited).code).to.equal(0);
    });

    it('starts and stops its embedded redis-server, leaving no process behind', async function () {
      const dir = await tempDir();
      const p = runAgent(['--listen', '127.0.0.1:0', '--cache-dir', dir], { HOME: dir });
      const redisStarted = await logRecord(p, 'embedded redis-server started');
      const pid = redisStarted['pid'] as number;
      expect(pid).to.be.a('number');
      expect(isAlive(pid)).to.equal(true);
      const started = await logRecord(p, 'node agent started');
      expect(String(started['redis'])).to.match(/^embedded \(unix:\/\/.*redis\.sock/);
      expect(await healthCheck(`unix:${path.join(dir, 'agent.sock')}`)).to.equal('SERVING');
      p.child.kill('SIGTERM');
      expect((await p.exited).code).to.equal(0);
      await waitUntil(() => !isAlive(pid), { message: `redis-server ${pid} to exit` });
      expect(await exists(path.join(dir, 'redis', 'redis.sock'))).to.equal(false);
    });

    it('says how to install redis-server when it is missing', async function () {
      const dir = await tempDir();
      const emptyPath = await tempDir();
      const p = runAgent(['--listen', '127.0.0.1:0', '--cache-dir', dir], {
        PATH: emptyPath,
        HOME: dir,
      });
      const { code } = await p.exited;
      expect(code).to.equal(1);
      expect(p.stderr()).to.include('redis-server was not found on PATH');
      expect(p.stderr()).to.include('apt-get install -y redis-server');
      expect(p.stderr()).to.include('brew install redis');
      expect(await exists(path.join(dir, 'agent.sock'))).to.equal(false);
    });

    it('exits at once on a second signal during a shutdown that waits for a stream', async function () {
      const dir = await tempDir();
      const p = runAgent(
        // Writes over TCP, which the default write access (socket) refuses.
        [
          '--listen',
          '127.0.0.1:0',
          '--cache-dir',
          dir,
          '--shutdown-grace',
          '60s',
          '--write-access',
          'any',
        ],
        {
          CKC_REDIS_URL: redis.url,
        },
      );
      const started = await logRecord(p, 'node agent started');
      const client = rawClient(started['tcp'] as string);
      try {
        const data = randomBytes(32 * MiB);
        const key = 'file:///held-open';
        await writeEntry(
          client,
          { key, jobId: 'j', checkpointId: 1, size: data.length, crc32c: crc32c(data) },
          data,
        );
        const reader = smallWindowClient(started['tcp'] as string);
        readers.push(reader);
        const call = reader.read({ key });
        call.on('error', () => undefined);
        await new Promise<void>((resolve) =>
          call.on('data', () => {
            call.pause();
            resolve();
          }),
        );
        p.child.kill('SIGTERM');
        await logRecord(p, 'node agent stopping');
        const t0 = Date.now();
        p.child.kill('SIGTERM');
        const { code } = await p.exited;
        expect(code).to.equal(1);
        expect(Date.now() - t0).to.be.lessThan(5000);
      } finally {
        client.close();
      }
    });
  });
});
