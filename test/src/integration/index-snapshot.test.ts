/**
 * The index snapshot (shared/cache/src/index-snapshot.ts): a restart after a clean close takes
 * its entries from the snapshot without reading their sidecars, and a snapshot that is stale
 * (entries added, removed, rewritten or written again with another block size after it),
 * damaged, truncated, of another version or missing never puts a wrong entry in the index: what
 * it cannot vouch for is read from the sidecars. Real files in a temp dir, an in-memory metadata
 * store (no Redis is needed for the index); then the same through real agent processes stopped
 * with SIGTERM and killed with SIGKILL.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { expect } from 'chai';
import { entryIdOf, NodeCache } from '@checkpoint-cache/cache';
import { CheckpointCacheClient } from '@checkpoint-cache/client';
import { startAgentProcess, type AgentProcess } from '../helpers/agent-process';
import { MemoryMetadataStore } from '../helpers/memory-metadata-store';
import { recordingLogger, type LogRecord } from '../helpers/recording-logger';
import { putEntry, readEntryBytes } from '../helpers/node-cache';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';
import { waitUntil } from '../helpers/wait-until';

/** File times are compared with the snapshot's time less 2 s (shard-stamps.ts): let them age. */
const FILE_TIME_SLACK_MS = 2_000;
async function letFilesAge(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, FILE_TIME_SLACK_MS + 200));
}

const data = (i: number): Buffer =>
  Buffer.concat([Buffer.from(`entry ${i} `), randomBytes(10_000)]);

describe('index snapshot', function () {
  this.timeout(60_000);
  let root: string;
  let store: MemoryMetadataStore;
  let cache: NodeCache | undefined;
  let records: LogRecord[];

  async function open(blockSize?: number): Promise<NodeCache> {
    records = [];
    cache = await NodeCache.open({
      root,
      nodeId: 'snap-node',
      metadata: store,
      defaultTtlMs: 3_600_000,
      logger: recordingLogger(records),
      snapshotIntervalMs: 0,
      ...(blockSize ? { blockSize } : {}),
    });
    await cache.whenIndexReady();
    return cache;
  }

  async function close(): Promise<void> {
    await cache?.close();
    cache = undefined;
  }

  const loadRecord = (): LogRecord => {
    const record = records.find((r) => r.message === 'cache index loaded');
    expect(record, 'the load logged its line').to.not.equal(undefined);
    return record!;
  };
  const snapshotFile = (): string => path.join(root, 'index.snapshot');

  beforeEach(async function () {
    root = await makeTempDir('ckc-snapshot-');
    store = new MemoryMetadataStore();
  });
  afterEach(async function () {
    await close();
    await removeTempDir(root);
  });

  it('is saved at close and the next start takes every unchanged entry from it', async function () {
    const c = await open();
    const written = new Map<string, Buffer>();
    for (let i = 0; i < 20; i++) {
      written.set(`hdfs://nn/ckpt/snap/chk-1/f-${i}`, data(i));
      await putEntry(
        c,
        `hdfs://nn/ckpt/snap/chk-1/f-${i}`,
        written.get(`hdfs://nn/ckpt/snap/chk-1/f-${i}`)!,
      );
    }
    await letFilesAge();
    await close();
    await fs.access(snapshotFile());

    const again = await open();
    expect(loadRecord()).to.include({ entries: 20, fromSnapshot: 20 });
    for (const [key, bytes] of written)
      expect(await readEntryBytes(again, key)).to.deep.equal(bytes);
    const listed = await again.list({ jobId: 'j', pageSize: 100 });
    expect(listed.entries.map((e) => e.key).sort()).to.deep.equal([...written.keys()].sort());
    expect(listed.entries.every((e) => e.checkpointIds.join() === '1')).to.equal(true);
  });

  it('a stale snapshot: added, removed, rewritten and re-written entries come from disk', async function () {
    const c = await open();
    const keys = Array.from({ length: 8 }, (_, i) => `hdfs://nn/ckpt/stale/chk-1/f-${i}`);
    const bytes = keys.map((_, i) => data(i));
    for (let i = 0; i < keys.length; i++) await putEntry(c, keys[i]!, bytes[i]!);
    await letFilesAge();
    await close();
    const stale = await fs.readFile(snapshotFile());

    // After the snapshot, by an agent that then crashes (its own snapshot is lost): one entry
    // gains a checkpoint reference, one is deleted, one is deleted and written again with
    // another block size (other block CRC32Cs), one is added.
    const later = await open(4096);
    await later.touch(keys[0]!, { checkpointId: 7 });
    expect(await later.delete(keys[1]!)).to.equal(true);
    expect(await later.delete(keys[2]!)).to.equal(true);
    await putEntry(later, keys[2]!, bytes[2]!);
    const added = 'hdfs://nn/ckpt/stale/chk-2/new';
    const addedBytes = data(99);
    await putEntry(later, added, addedBytes);
    await close();
    await fs.writeFile(snapshotFile(), stale);

    const again = await open();
    expect(loadRecord().entries).to.equal(8);
    expect((await again.stat(keys[0]!, { touch: false })).checkpointIds).to.deep.equal([1, 7]);
    expect(await again.stat(keys[1]!, { touch: false }).catch((e: Error) => e.message)).to.match(
      /not cached/,
    );
    expect(await readEntryBytes(again, keys[2]!)).to.deep.equal(bytes[2]);
    expect(await readEntryBytes(again, added)).to.deep.equal(addedBytes);
    for (const i of [3, 4, 5, 6, 7]) {
      expect(await readEntryBytes(again, keys[i]!)).to.deep.equal(bytes[i]);
    }
    // What kept the release below from deleting entry 0: its reference to checkpoint 7.
    const released = await again.release({ jobId: 'j', belowCheckpointId: 5 });
    expect(released.entries).to.equal(7);
    expect((await again.stat(keys[0]!, { touch: false })).key).to.equal(keys[0]);
  });

  it('a snapshot entry whose files are gone is dropped; data without its sidecar is swept', async function () {
    const c = await open();
    const keys = ['gone/both', 'gone/data', 'gone/sidecar', 'kept'];
    for (const [i, key] of keys.entries()) await putEntry(c, key, data(i));
    await letFilesAge();
    await close();
    const file = (key: string): string => {
      const id = entryIdOf(key);
      return path.join(root, 'entries', id.slice(0, 2), id);
    };
    await fs.rm(file('gone/both'));
    await fs.rm(file('gone/both') + '.meta');
    await fs.rm(file('gone/data'));
    await fs.rm(file('gone/sidecar') + '.meta');

    const again = await open();
    expect(loadRecord()).to.include({ entries: 1 });
    expect(again.entryIds()).to.deep.equal([entryIdOf('kept')]);
    await fs.access(file('gone/sidecar')).then(
      () => expect.fail('a data file without its sidecar stayed'),
      () => undefined,
    );
  });

  it('a data file cut short by hand after the snapshot is caught at its first read', async function () {
    const c = await open();
    await putEntry(c, 'cut/short', data(1));
    await putEntry(c, 'kept/whole', data(2));
    await letFilesAge();
    await close();
    // Truncating in place changes neither the shard directory nor the sidecar: the snapshot
    // vouches for the entry, and the block checksums (from the snapshot here) catch the bytes.
    const id = entryIdOf('cut/short');
    await fs.truncate(path.join(root, 'entries', id.slice(0, 2), id), 100);

    const again = await open();
    expect(loadRecord()).to.include({ entries: 2, fromSnapshot: 2 });
    const failed = await readEntryBytes(again, 'cut/short').then(
      () => undefined,
      (e: Error) => e,
    );
    expect(failed?.message).to.match(/is truncated; it has been deleted, read the key/);
    expect(again.entryIds()).to.deep.equal([entryIdOf('kept/whole')]);
    expect(await readEntryBytes(again, 'kept/whole')).to.have.length(data(2).length);
  });

  for (const [what, damage] of [
    [
      'damaged',
      (raw: Buffer) =>
        Buffer.concat([raw.subarray(0, 40), Buffer.from([raw[40]! ^ 0xff]), raw.subarray(41)]),
    ],
    ['truncated', (raw: Buffer) => raw.subarray(0, raw.length - 20)],
    [
      'of another version',
      (raw: Buffer) =>
        Buffer.concat([raw.subarray(0, 8), Buffer.from([99, 0, 0, 0]), raw.subarray(12)]),
    ],
    ['not a snapshot at all', () => Buffer.from('{"entries": []}')],
  ] as const) {
    it(`a snapshot ${what} is ignored with one warning and every sidecar is read`, async function () {
      const c = await open();
      for (let i = 0; i < 5; i++) await putEntry(c, `damaged/${i}`, data(i));
      await close();
      await fs.writeFile(snapshotFile(), damage(await fs.readFile(snapshotFile())));

      await open();
      expect(loadRecord()).to.include({ entries: 5, fromSnapshot: 0 });
      const warnings = records.filter((r) => r.level === 'warn');
      expect(warnings.map((w) => w.message)).to.deep.equal([
        'index snapshot ignored; every sidecar is read instead',
      ]);
    });
  }

  it('without a snapshot (a crash before the first) every sidecar is read', async function () {
    const c = await open();
    for (let i = 0; i < 5; i++) await putEntry(c, `crash/${i}`, data(i));
    // A crash: nothing of close() runs, so no snapshot is written.
    await fs.rm(snapshotFile(), { force: true });
    cache = undefined;
    const again = await open();
    expect(loadRecord()).to.include({ entries: 5, fromSnapshot: 0 });
    expect(records.filter((r) => r.level === 'warn')).to.deep.equal([]);
    expect(await readEntryBytes(again, 'crash/3')).to.have.length(data(3).length);
    await c.close(); // the "crashed" one's handles, once the new one has loaded
  });
});

describe('index snapshot with a real agent process', function () {
  this.timeout(120_000);
  let redis: RedisServerHandle;
  let cacheDir: string;
  let agent: AgentProcess | undefined;

  before(async function () {
    redis = await startRedisServer();
  });
  after(async function () {
    await agent?.stop();
    await redis?.stop();
    if (cacheDir) await removeTempDir(cacheDir);
  });

  const start = (): Promise<AgentProcess> =>
    startAgentProcess({
      nodeId: 'snap-agent',
      redisUrl: redis.url,
      redisPrefix: 'ckc-snap',
      listen: '127.0.0.1:0',
      cacheDir,
    });

  /** The agent's "cache index loaded" log record, once it is there. */
  async function loadRecord(a: AgentProcess): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await waitUntil(
      () => {
        for (const line of a.log.split('\n')) {
          if (!line.includes('"cache index loaded"')) continue;
          found = JSON.parse(line) as Record<string, unknown>;
        }
        return found !== undefined;
      },
      { message: 'the agent logged its index load' },
    );
    return found!;
  }

  async function readBack(a: AgentProcess, key: string): Promise<Buffer> {
    const client = new CheckpointCacheClient({ agent: `unix:${a.socketPath}` });
    try {
      return await buffer(client.read(key));
    } finally {
      client.close();
    }
  }

  it('a stop saves it, the restart loads from it, and a kill -9 after a write loses nothing', async function () {
    cacheDir = await makeTempDir('ckc-snap-agent-');
    agent = await start();
    const entries = new Map<string, Buffer>();
    const client = new CheckpointCacheClient({ agent: `unix:${agent.socketPath}` });
    try {
      for (let i = 0; i < 10; i++) {
        const key = `ckc-test://snap/chk-1/f-${i}`;
        entries.set(key, data(i));
        await client.write(key, entries.get(key)!, { jobId: 'snap', checkpointId: 1 });
      }
    } finally {
      client.close();
    }
    await letFilesAge();
    await agent.stop(); // SIGTERM: a clean stop writes the snapshot
    await fs.access(path.join(cacheDir, 'index.snapshot'));

    agent = await start();
    expect(await loadRecord(agent)).to.include({ entries: 10, fromSnapshot: 10 });
    for (const [key, bytes] of entries) expect(await readBack(agent, key)).to.deep.equal(bytes);

    // Written after the snapshot, then a crash: no new snapshot, the entry's sidecar is read.
    const late = 'ckc-test://snap/chk-2/late';
    const lateClient = new CheckpointCacheClient({ agent: `unix:${agent.socketPath}` });
    try {
      await lateClient.write(late, data(42), { jobId: 'snap', checkpointId: 2 });
    } finally {
      lateClient.close();
    }
    await agent.kill();

    agent = await start();
    const loaded = await loadRecord(agent);
    expect(loaded).to.include({ entries: 11 });
    expect(loaded.fromSnapshot).to.be.at.most(10);
    expect(await readBack(agent, late)).to.have.length(data(42).length);
    for (const [key, bytes] of entries) expect(await readBack(agent, key)).to.deep.equal(bytes);
  });
});
