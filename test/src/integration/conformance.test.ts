/**
 * The client conformance suite (test/conformance/*.json), run by the TypeScript client against
 * real agents, exactly as clients/java's ConformanceTest runs it: the scenarios live once, as data.
 */
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { crc32c } from '@checkpoint-cache/checksum';
import {
  CheckpointCacheClient,
  isCheckpointCacheError,
  statusName,
  type CheckpointReadStream,
} from '@checkpoint-cache/client';
import { startAgentProcess, type AgentProcess } from '../helpers/agent-process';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';

const REPO = path.resolve(__dirname, '..', '..', '..');
const CONFORMANCE = path.join(REPO, 'test', 'conformance');

interface Scenario {
  name: string;
  size: number;
  seed: number;
  transport: 'tcp' | 'unix';
  range?: { offset: number; length?: number };
  keyLength?: number;
  remote?: boolean;
  /** How the entry is stored (test/conformance/README.md); default 'write'. */
  put?: 'write' | 'ingest' | 'hand_over';
  fault: {
    kind: 'none' | 'not_cached' | 'agent_down' | 'corrupt' | 'kill_midstream';
    offset?: number;
    afterBytes?: number;
  };
  expect: {
    status: string;
    source?: 'cache' | 'remote' | 'mixed';
    fallback: string | string[] | null;
    bytesFromCache?: { min: number; max: number };
    entryAfter?: 'present' | 'absent';
  };
}

interface Vector {
  name: string;
  text?: string;
  hex?: string;
  generated?: { size: number; seed: number };
  crc32c: string;
}

const scenariosFile = JSON.parse(
  readFileSync(path.join(CONFORMANCE, 'scenarios.json'), 'utf8'),
) as {
  generator: { checks: { seed: number; first16Hex: string }[] };
  scenarios: Scenario[];
};
const vectors = (
  JSON.parse(readFileSync(path.join(CONFORMANCE, 'crc32c-vectors.json'), 'utf8')) as {
    vectors: Vector[];
  }
).vectors;

/** hash32 (test/conformance/README.md): byte i of the entry with seed s. */
function generate(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  const base = Math.imul(seed, 0x9e3779b9);
  for (let i = 0; i < size; i++) {
    let x = (i + base) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d);
    x ^= x >>> 15;
    x = Math.imul(x, 0x846ca68b);
    x ^= x >>> 16;
    out[i] = x & 0xff;
  }
  return out;
}

/** A real agent as a child process (faults kill it like a crash would), as the README says. */
class ConformanceAgent {
  private down = false;
  private constructor(
    private readonly process: AgentProcess,
    /** The agent's --ingest-dir (scenarios stored by Ingest put their file there). */
    readonly ingestDir: string,
  ) {}

  static async start(redisUrl: string): Promise<ConformanceAgent> {
    const ingestDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckc-conf-ingest-'));
    const agent = await startAgentProcess({
      nodeId: `conformance-${randomUUID().slice(0, 8)}`,
      redisUrl,
      redisPrefix: 'ckc',
      listen: '127.0.0.1:0',
      extraArgs: ['--ingest-dir', ingestDir],
    });
    return new ConformanceAgent(agent, ingestDir);
  }

  get tcp(): string {
    return this.process.address;
  }
  get socket(): string {
    return this.process.socketPath;
  }
  get running(): boolean {
    return !this.down;
  }

  cacheFile(key: string): string {
    const h = createHash('sha256').update(key, 'utf8').digest('hex');
    return path.join(this.process.cacheDir, 'entries', h.slice(0, 2), h);
  }

  /** Graceful stop (SIGTERM); removes the agent's cache dir and its ingest dir. */
  async stop(): Promise<void> {
    this.down = true;
    await this.process.stop();
    await fs.rm(this.ingestDir, { recursive: true, force: true });
  }

  /** SIGKILL, like a crash. */
  kill(): void {
    if (this.down) return;
    this.down = true;
    void this.process.kill();
  }
}

describe('client conformance (TypeScript)', function () {
  this.timeout(60_000);
  let redis: RedisServerHandle;
  let shared: ConformanceAgent;
  let remoteDir: string;

  before(async function () {
    redis = await startRedisServer();
    shared = await ConformanceAgent.start(redis.url);
    remoteDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckc-conf-remote-'));
  });
  after(async function () {
    await shared?.stop();
    await redis?.stop();
    if (remoteDir) await fs.rm(remoteDir, { recursive: true, force: true });
  });

  describe('generator and CRC32C vectors', function () {
    it('generates the documented first bytes', function () {
      for (const check of scenariosFile.generator.checks) {
        expect(generate(16, check.seed).toString('hex')).to.equal(check.first16Hex);
      }
    });
    for (const v of vectors) {
      it(`CRC32C of ${v.name}`, function () {
        const input =
          v.text !== undefined
            ? Buffer.from(v.text, 'utf8')
            : v.hex !== undefined
              ? Buffer.from(v.hex, 'hex')
              : generate(v.generated!.size, v.generated!.seed);
        expect(crc32c(input)).to.equal(Number.parseInt(v.crc32c, 16));
      });
    }
  });

  describe('scenarios', function () {
    for (const sc of scenariosFile.scenarios) {
      it(sc.name, async function () {
        const destructive = sc.fault.kind === 'agent_down' || sc.fault.kind === 'kill_midstream';
        const agent = destructive ? await ConformanceAgent.start(redis.url) : shared;
        try {
          await runScenario(sc, agent, remoteDir);
        } finally {
          if (destructive) await agent.stop();
        }
      });
    }
  });
});

/** Stores `bytes` under `key` as the scenario's `put` says (test/conformance/README.md). */
async function putEntry(
  sc: Scenario,
  client: CheckpointCacheClient,
  agent: ConformanceAgent,
  key: string,
  bytes: Buffer,
): ReturnType<CheckpointCacheClient['write']> {
  const options = {
    jobId: 'conformance',
    checkpointId: 1,
    size: bytes.length,
    crc32c: crc32c(bytes),
  };
  const put = sc.put ?? 'write';
  expect(['write', 'ingest', 'hand_over'], `put of ${sc.name}`).to.include(put);
  if (put === 'write') return client.write(key, bytes, options);
  const name = `${sc.name}-${randomUUID()}`;
  const file = path.join(agent.ingestDir, name);
  await fs.writeFile(file, bytes, { mode: 0o640 });
  try {
    return await client.ingest(key, name, { ...options, handOver: put === 'hand_over' });
  } finally {
    await fs.rm(file);
  }
}

async function runScenario(
  sc: Scenario,
  agent: ConformanceAgent,
  remoteDir: string,
): Promise<void> {
  const key =
    sc.keyLength !== undefined
      ? 'k'.repeat(sc.keyLength)
      : `conformance/${sc.name}/${randomUUID()}`;
  const bytes = generate(sc.size, sc.seed);
  const address = sc.transport === 'tcp' ? agent.tcp : `unix:${agent.socket}`;
  let remote: string | undefined;
  if (sc.remote !== false) {
    const file = path.join(remoteDir, `${sc.name}-${randomUUID()}`);
    await fs.writeFile(file, bytes);
    remote = `file://${file}`;
  }
  // Puts go over the socket, which agents accept changes on by default (CKC_WRITE_ACCESS).
  const setup = new CheckpointCacheClient({ agent: `unix:${agent.socket}` });
  try {
    if (sc.fault.kind !== 'not_cached') {
      const put = await putEntry(sc, setup, agent, key, bytes);
      expect(put.entry?.size).to.equal(bytes.length);
      expect(put.entry?.crc32c).to.equal(crc32c(bytes));
    }
  } finally {
    setup.close();
  }
  if (sc.fault.kind === 'agent_down') await agent.stop();
  if (sc.fault.kind === 'corrupt') {
    const handle = await fs.open(agent.cacheFile(key), 'r+');
    const b = Buffer.alloc(1);
    await handle.read(b, 0, 1, sc.fault.offset!);
    b[0] = b[0]! ^ 0xff;
    await handle.write(b, 0, 1, sc.fault.offset!);
    await handle.close();
  }

  const offset = sc.range?.offset ?? 0;
  const length = sc.range?.length;
  const client = new CheckpointCacheClient({ agent: address });
  try {
    let stream: CheckpointReadStream | undefined;
    const parts: Buffer[] = [];
    let received = 0;
    let error: unknown;
    try {
      stream = client.read(key, {
        ...(remote ? { remote } : {}),
        offset,
        ...(length === undefined ? {} : { length }),
      });
      for await (const chunk of stream) {
        parts.push(chunk as Buffer);
        received += (chunk as Buffer).length;
        if (sc.fault.kind === 'kill_midstream' && received >= sc.fault.afterBytes!) agent.kill();
      }
    } catch (err) {
      error = err;
    }
    const stats = client.stats();
    const fallbacks = Object.entries(stats.fallbacks);
    if (sc.expect.status === 'OK') {
      if (error) throw error;
      const expected = bytes.subarray(offset, length === undefined ? undefined : offset + length);
      expect(Buffer.concat(parts).equals(expected), 'bytes differ').to.equal(true);
      expect(stats.bytesFromCache + stats.bytesFromRemote).to.equal(expected.length);
      if (sc.expect.source === 'cache') expect(stats.bytesFromRemote).to.equal(0);
      if (sc.expect.source === 'remote') expect(stats.bytesFromCache).to.equal(0);
      if (sc.expect.source === 'mixed') {
        expect(stats.bytesFromCache).to.be.above(0);
        expect(stats.bytesFromRemote).to.be.above(0);
      }
    } else {
      expect(error, 'the read should fail').to.not.equal(undefined);
      expect(isCheckpointCacheError(error), String(error)).to.equal(true);
      if (isCheckpointCacheError(error)) expect(statusName(error.code)).to.equal(sc.expect.status);
    }
    if (sc.expect.fallback === null) {
      expect(fallbacks).to.deep.equal([]);
    } else {
      const allowed = Array.isArray(sc.expect.fallback) ? sc.expect.fallback : [sc.expect.fallback];
      expect(fallbacks).to.have.length(1);
      expect(allowed).to.include(fallbacks[0]![0]);
      expect(fallbacks[0]![1]).to.equal(1);
      expect(stream?.fallback?.offset).to.equal(offset + stats.bytesFromCache);
    }
    if (sc.expect.bytesFromCache) {
      expect(stats.bytesFromCache).to.be.within(
        sc.expect.bytesFromCache.min,
        sc.expect.bytesFromCache.max,
      );
    }
    if (sc.expect.entryAfter && agent.running) {
      const present = await client.stat(key, { noTouch: true }).then(
        () => true,
        (err: unknown) => {
          if (isCheckpointCacheError(err) && statusName(err.code) === 'NOT_FOUND') return false;
          throw err;
        },
      );
      expect(present ? 'present' : 'absent').to.equal(sc.expect.entryAfter);
    }
  } finally {
    client.close();
  }
}
