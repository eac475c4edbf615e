/**
 * Ingest: a same-node write by file name from the agent's ingest directory. A real agent on a
 * real Redis; the TypeScript client over the Unix socket, the raw generated client where a test
 * must send what the client stub would not (no size, TCP). What must hold: the copy is the file's
 * bytes, registered like a Write; the file is left as it was; a name never leaves the directory
 * (no '/', no '..', no symbolic link, no hard link); anything else that is not a complete regular
 * file is refused with a status that says what to do, and nothing is stored.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { DiskStore, entryIdOf } from '@checkpoint-cache/cache';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { crc32c } from '@checkpoint-cache/checksum';
import {
  CheckpointCacheClient,
  IngestDirError,
  type CheckpointCacheError,
} from '@checkpoint-cache/client';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { rawClient, unary } from '../helpers/raw-client';
import { rejection } from '../helpers/rejection';
import { useSharedRedis } from '../helpers/shared-redis';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';
import { waitUntil } from '../helpers/wait-until';

describe('Ingest (same-node write by file name)', function () {
  this.timeout(30_000);
  const shared = useSharedRedis('ckc-ingest');
  let ingestDir: string;
  let agent: TestAgent;
  let client: CheckpointCacheClient;

  beforeEach(async function () {
    ingestDir = await makeTempDir('ckc-ingest-dir');
    shared.onCleanup(() => removeTempDir(ingestDir));
    agent = await shared.agent({ ingestDir });
    client = new CheckpointCacheClient({ agent: `unix:${agent.socketPath}` });
    shared.onCleanup(async () => client.close());
  });

  async function spoolFile(name: string, size: number): Promise<{ data: Buffer; crc: number }> {
    const data = randomBytes(size);
    await fs.writeFile(path.join(ingestDir, name), data);
    return { data, crc: crc32c(data) };
  }

  async function readBack(key: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const part of client.read(key)) parts.push(part as Buffer);
    return Buffer.concat(parts);
  }

  async function expectNothingStored(key: string): Promise<void> {
    const err = await rejection<CheckpointCacheError>(client.stat(key, { noTouch: true }));
    expect(err.code).to.equal(grpc.status.NOT_FOUND);
    expect(await fs.readdir(path.join(agent.cacheDir, 'tmp'))).to.deep.equal([]);
  }

  async function ingestError(
    key: string,
    name: string,
    size: number,
    crc: number,
  ): Promise<CheckpointCacheError> {
    return rejection<CheckpointCacheError>(client.ingest(key, name, { size, crc32c: crc }));
  }

  it('copies the file into the cache, registers it like a Write and leaves the file alone', async function () {
    const { data, crc } = await spoolFile('part-0', 3 * 1024 * 1024 + 17);
    const key = 'hdfs://nn/flink/ckpt/job/chk-1/part-0';
    const result = await client.ingest(key, 'part-0', {
      size: data.length,
      crc32c: crc,
      jobId: 'job',
      checkpointId: 1,
    });
    expect(result.created).to.equal(true);
    expect(Number(result.entry.size)).to.equal(data.length);
    expect(result.entry.crc32c).to.equal(crc);
    expect(result.entry.checkpointIds.map(Number)).to.deep.equal([1]);
    expect((await readBack(key)).equals(data)).to.equal(true);
    // Registered in Redis like any entry.
    expect(await agent.metadata.states([entryIdOf(key)])).to.deep.equal(['alive']);
    // The caller's file is untouched and still its own (one link: the cache holds a copy).
    const source = path.join(ingestDir, 'part-0');
    expect((await fs.readFile(source)).equals(data)).to.equal(true);
    expect((await fs.stat(source)).nlink).to.equal(1);

    const again = await client.ingest(key, 'part-0', { size: data.length, crc32c: crc });
    expect(again.created).to.equal(false);
  });

  it('copies an empty file', async function () {
    const { crc } = await spoolFile('empty', 0);
    const result = await client.ingest('k/empty', 'empty', { size: 0, crc32c: crc });
    expect(result.created).to.equal(true);
    expect((await readBack('k/empty')).length).to.equal(0);
  });

  it('refuses a file whose size or CRC32C is not the header’s, and stores nothing', async function () {
    const { data, crc } = await spoolFile('f', 100_000);
    let err = await ingestError('k/size', 'f', data.length + 1, crc);
    expect(err.code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(err.details).to.match(/does not have the 100001 bytes the header announced/);
    await expectNothingStored('k/size');
    err = await ingestError('k/crc', 'f', data.length, crc ^ 1);
    expect(err.code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(err.details).to.match(/CRC32C/);
    await expectNothingStored('k/crc');
    // A caller who may name a file but not read it learns neither its size nor its CRC32C.
    const hex = crc.toString(16);
    for (const e of [await ingestError('k/s', 'f', 1, 0), err]) {
      expect(e.details).not.to.include(String(data.length));
      expect(e.details.toLowerCase()).not.to.include(hex);
    }
  });

  it('requires size and crc32c in the header', async function () {
    await spoolFile('f', 10);
    const raw = rawClient(`unix:${agent.socketPath}`);
    shared.onCleanup(async () => raw.close());
    const err = await rejection<grpc.ServiceError>(
      unary(raw, 'ingest', { header: { key: 'k/nosize' }, fileName: 'f' }),
    );
    expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(err.details).to.match(/size and crc32c/);
    const noHeader = await rejection<grpc.ServiceError>(unary(raw, 'ingest', { fileName: 'f' }));
    expect(noHeader.code).to.equal(grpc.status.INVALID_ARGUMENT);
    await expectNothingStored('k/nosize');
  });

  it('takes one name in the directory: no separators, dots, NUL or over-long names', async function () {
    // A file the names below would reach if they were joined as paths.
    await fs.writeFile(path.join(path.dirname(ingestDir), 'outside'), 'secret');
    shared.onCleanup(() => fs.rm(path.join(path.dirname(ingestDir), 'outside'), { force: true }));
    await fs.mkdir(path.join(ingestDir, 'sub'));
    await fs.writeFile(path.join(ingestDir, 'sub', 'f'), 'x');
    for (const name of [
      '',
      '.',
      '..',
      '../outside',
      'sub/f',
      '/etc/hostname',
      'a\0b',
      'n'.repeat(256),
    ]) {
      const err = await ingestError('k/name', name, 1, 0);
      expect(err.code, JSON.stringify(name)).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(err.details).to.match(/one file in the agent's ingest directory/);
    }
    await expectNothingStored('k/name');
  });

  it('refuses symbolic links, hard links, directories and FIFOs without reading them', async function () {
    const outside = path.join(await makeTempDir('ckc-ingest-outside'), 'secret');
    shared.onCleanup(() => removeTempDir(path.dirname(outside)));
    const secret = Buffer.from('not for the cache');
    await fs.writeFile(outside, secret);
    const crc = crc32c(secret);
    await fs.symlink(outside, path.join(ingestDir, 'symlink'));
    let err = await ingestError('k/symlink', 'symlink', secret.length, crc);
    expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(err.details).to.match(/symbolic link/);

    await fs.link(outside, path.join(ingestDir, 'hardlink'));
    err = await ingestError('k/hardlink', 'hardlink', secret.length, crc);
    expect(err.code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(err.details).to.match(/2 links/);

    // Owner-only: not meant to be shared, even though the agent (root here) could read it.
    await fs.writeFile(path.join(ingestDir, 'private'), secret, { mode: 0o600 });
    await fs.chmod(path.join(ingestDir, 'private'), 0o600);
    err = await ingestError('k/private', 'private', secret.length, crc);
    expect(err.code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(err.details).to.match(/readable by its owner only/);

    await fs.mkdir(path.join(ingestDir, 'dir'));
    err = await ingestError('k/dir', 'dir', 0, 0);
    expect(err.code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(err.details).to.match(/not a regular file/);

    // No writer ever opens it: a blocking open would hang the call until its deadline.
    execFileSync('mkfifo', [path.join(ingestDir, 'fifo')]);
    err = await ingestError('k/fifo', 'fifo', 0, 0);
    expect(err.code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(err.details).to.match(/not a regular file/);

    // A Unix socket by that name: opening it fails (ENXIO) rather than connecting.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(ingestDir, 'sock'), resolve));
    shared.onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
    err = await ingestError('k/sock', 'sock', 0, 0);
    expect(err.code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(err.details).to.match(/not a regular file/);

    err = await ingestError('k/missing', 'missing', 1, 0);
    expect(err.code).to.equal(grpc.status.NOT_FOUND);
    expect(err.details).to.match(/write the file there before calling Ingest/);

    for (const key of [
      'k/symlink',
      'k/hardlink',
      'k/private',
      'k/dir',
      'k/fifo',
      'k/sock',
      'k/missing',
    ]) {
      await expectNothingStored(key);
    }
    expect((await fs.readFile(outside)).equals(secret)).to.equal(true);
  });

  it('stops the copy and stores nothing when the client cancels', async function () {
    const { data, crc } = await spoolFile('big', 256 * 1024 * 1024);
    const raw = rawClient(`unix:${agent.socketPath}`);
    shared.onCleanup(async () => raw.close());
    const tmp = path.join(agent.cacheDir, 'tmp');
    const ended = new Promise<grpc.ServiceError | null>((resolve) => {
      const call = raw.ingest(
        { header: { key: 'k/gaveup', size: data.length, crc32c: crc }, fileName: 'big' },
        (e) => resolve(e),
      );
      // Cancelled once the copy is under way (its staged file exists), long before it can end.
      void waitUntil(async () => (await fs.readdir(tmp)).length > 0, {
        message: 'the staged copy',
      }).then(() => call.cancel());
    });
    expect((await ended)?.code).to.equal(grpc.status.CANCELLED);
    await waitUntil(async () => (await fs.readdir(tmp)).length === 0, {
      message: 'the staged copy removed',
    });
    // Had the copy gone on to commit, its files would now be in entries/, not gone.
    const id = entryIdOf('k/gaveup');
    const shard = path.join(agent.cacheDir, 'entries', id.slice(0, 2));
    const published = await fs.readdir(shard).catch(() => [] as string[]);
    expect(published.filter((f) => f.startsWith(id))).to.deep.equal([]);
    await expectNothingStored('k/gaveup');
    expect((await fs.stat(path.join(ingestDir, 'big'))).size).to.equal(data.length);
  });

  /** ckc_ingests_total's non-zero series of `a`'s /metrics, by their `how`. */
  async function ingestsCounted(a: TestAgent): Promise<Record<string, number>> {
    const text = await (await fetch(`http://${a.metricsAddress!}/metrics`)).text();
    const counts: Record<string, number> = {};
    for (const m of text.matchAll(/^ckc_ingests_total\{how="(\w+)"\} (\d+)$/gm)) {
      if (Number(m[2]) > 0) counts[m[1]!] = Number(m[2]);
    }
    return counts;
  }

  describe('hand-over (hand_over: the caller gives the file to the cache)', function () {
    function entryFile(key: string): string {
      const id = entryIdOf(key);
      return path.join(agent.cacheDir, 'entries', id.slice(0, 2), id);
    }

    it('links the file into the cache instead of copying it, checked and registered like a copy', async function () {
      const { data, crc } = await spoolFile('spool', 2 * 1024 * 1024 + 5);
      const source = path.join(ingestDir, 'spool');
      const key = 'hdfs://nn/flink/ckpt/job/chk-2/part-0';
      const result = await client.ingest(key, 'spool', {
        size: data.length,
        crc32c: crc,
        checkpointId: 2,
        handOver: true,
      });
      expect(result.created).to.equal(true);
      expect(result.entry.crc32c).to.equal(crc);
      // One inode, two names: the bytes were not written a second time.
      const [theirs, ours] = [await fs.stat(source), await fs.stat(entryFile(key))];
      expect(ours.ino).to.equal(theirs.ino);
      expect(theirs.nlink).to.equal(2);
      expect(await agent.metadata.states([entryIdOf(key)])).to.deep.equal(['alive']);
      // The caller deletes its name; the entry keeps the bytes.
      await fs.rm(source);
      expect((await readBack(key)).equals(data)).to.equal(true);
      expect(await fs.readdir(path.join(agent.cacheDir, 'tmp'))).to.deep.equal([]);
    });

    it('refuses a file that does not match the header and leaves no link behind', async function () {
      const { data, crc } = await spoolFile('f', 300_000);
      const err = await rejection<CheckpointCacheError>(
        client.ingest('k/handover-crc', 'f', {
          size: data.length,
          crc32c: crc ^ 1,
          handOver: true,
        }),
      );
      expect(err.code).to.equal(grpc.status.FAILED_PRECONDITION);
      expect(err.details.toLowerCase()).not.to.include(crc.toString(16));
      await expectNothingStored('k/handover-crc');
      expect((await fs.stat(path.join(ingestDir, 'f'))).nlink).to.equal(1);
    });

    it('fails reads with DATA_LOSS, never serving them, when the caller changes or cuts the file afterwards', async function () {
      const { data, crc } = await spoolFile('f', 1024 * 1024);
      const key = 'k/written-after';
      await client.ingest(key, 'f', { size: data.length, crc32c: crc, handOver: true });
      // Breaks its promise: changes a byte of the file it gave away, size unchanged.
      const handle = await fs.open(path.join(ingestDir, 'f'), 'r+');
      await handle.write(Buffer.from([data[500_000]! ^ 0xff]), 0, 1, 500_000);
      await handle.close();
      const err = await rejection<CheckpointCacheError>(readBack(key));
      expect(err.code).to.equal(grpc.status.DATA_LOSS);
      // Or cuts it short.
      const cut = await spoolFile('g', 1024 * 1024);
      await client.ingest('k/cut-after', 'g', {
        size: cut.data.length,
        crc32c: cut.crc,
        handOver: true,
      });
      await fs.truncate(path.join(ingestDir, 'g'), 600_000);
      const short = await rejection<CheckpointCacheError>(readBack('k/cut-after'));
      expect(short.code).to.equal(grpc.status.DATA_LOSS);
    });

    it('links only the file that was checked, not one put under its name meanwhile or a removed name', async function () {
      const root = await makeTempDir('ckc-link-temp');
      shared.onCleanup(() => removeTempDir(root));
      const disk = new DiskStore(root);
      await disk.init();
      const checked = path.join(root, 'checked');
      const swapped = path.join(root, 'swapped');
      await fs.writeFile(checked, 'checked');
      await fs.writeFile(swapped, 'other bytes');
      const { dev, ino } = await fs.stat(checked, { bigint: true });
      // The name now stands for another file, then for a symbolic link to the checked one.
      await fs.rename(swapped, path.join(root, 'named'));
      const named = { path: path.join(root, 'named'), dev, ino };
      expect(() => disk.linkTemp(named))
        .to.throw(CacheError)
        .with.property('code', ErrorCode.FailedPrecondition);
      await fs.rm(path.join(root, 'named'));
      await fs.symlink(checked, path.join(root, 'named'));
      expect(() => disk.linkTemp(named))
        .to.throw(CacheError)
        .with.property('code', ErrorCode.FailedPrecondition);
      // A FIFO is refused without being opened (an open would wait for a writer: a hung agent).
      await fs.rm(path.join(root, 'named'));
      execFileSync('mkfifo', [path.join(root, 'named')]);
      expect(() => disk.linkTemp(named))
        .to.throw(CacheError)
        .with.property('code', ErrorCode.FailedPrecondition);
      // And a name removed meanwhile is the caller's doing, not the agent's fault.
      await fs.rm(path.join(root, 'named'));
      expect(() => disk.linkTemp(named))
        .to.throw(CacheError, /removed while the agent linked it/)
        .with.property('code', ErrorCode.FailedPrecondition);
      expect(await fs.readdir(disk.tmpDir)).to.deep.equal([]);
      const linked = disk.linkTemp({ path: checked, dev, ino });
      expect('fd' in linked).to.equal(true);
      if ('fd' in linked) closeSync(linked.fd);
    });

    it('copies when the ingest directory is on another file system than the cache', async function () {
      const elsewhere = await fs.mkdtemp('/dev/shm/ckc-ingest-');
      shared.onCleanup(() => fs.rm(elsewhere, { recursive: true, force: true }));
      if ((await fs.stat(elsewhere)).dev === (await fs.stat(agent.cacheDir)).dev) {
        this.skip(); // reason: this machine's /dev/shm and temp dir are one file system
      }
      const other = await shared.agent({ ingestDir: elsewhere, metricsListen: '127.0.0.1:0' });
      const otherClient = new CheckpointCacheClient({ agent: `unix:${other.socketPath}` });
      shared.onCleanup(async () => otherClient.close());
      const data = randomBytes(200_000);
      await fs.writeFile(path.join(elsewhere, 'f'), data, { mode: 0o640 });
      const result = await otherClient.ingest('k/exdev', 'f', {
        size: data.length,
        crc32c: crc32c(data),
        handOver: true,
      });
      expect(result.created).to.equal(true);
      const id = entryIdOf('k/exdev');
      const stored = path.join(other.cacheDir, 'entries', id.slice(0, 2), id);
      expect((await fs.stat(stored)).ino).to.not.equal(
        (await fs.stat(path.join(elsewhere, 'f'))).ino,
      );
      expect((await fs.stat(path.join(elsewhere, 'f'))).nlink).to.equal(1);
      expect((await fs.readFile(stored)).equals(data)).to.equal(true);
      // What tells an operator that hand-overs are being copied (the log says why, once).
      expect(await ingestsCounted(other)).to.deep.equal({ handover_copied: 1 });
    });

    it('hands a copy of a local file over (handOverFile), whatever the umask', async function () {
      const source = path.join(ingestDir, '..', `${path.basename(ingestDir)}-source`);
      shared.onCleanup(() => fs.rm(source, { force: true }));
      const data = randomBytes(1024 * 1024 + 9);
      await fs.writeFile(source, data);
      // Without the chmod after its open, the copy would be 0600 and refused as owner-only.
      const umask = process.umask(0o077);
      let result;
      try {
        result = await client.handOverFile('k/handover-file', source, ingestDir, { jobId: 'j' });
      } finally {
        process.umask(umask);
      }
      expect(result.created).to.equal(true);
      expect(await fs.readdir(ingestDir)).to.deep.equal([]);
      expect((await readBack('k/handover-file')).equals(data)).to.equal(true);
      // No copy can be made in a missing directory: an IngestDirError, which callers fall back on.
      const missing = path.join(ingestDir, 'missing');
      const err = await rejection<IngestDirError>(client.handOverFile('k/x', source, missing));
      expect(err).to.be.instanceOf(IngestDirError);
      // A source that cannot be read is its own error, not the ingest directory's.
      const unreadable = await rejection<Error>(client.handOverFile('k/y', ingestDir, ingestDir));
      expect(unreadable).to.not.be.instanceOf(IngestDirError);
      expect(await fs.readdir(ingestDir)).to.deep.equal([]);
    });

    it('counts Ingests by how their bytes got into the cache', async function () {
      const counted = await shared.agent({ ingestDir, metricsListen: '127.0.0.1:0' });
      const countedClient = new CheckpointCacheClient({ agent: `unix:${counted.socketPath}` });
      shared.onCleanup(async () => countedClient.close());
      for (const [i, handOver] of [false, true, true].entries()) {
        const { data, crc } = await spoolFile(`counted-${i}`, 10_000);
        await countedClient.ingest(`k/counted-${i}`, `counted-${i}`, {
          size: data.length,
          crc32c: crc,
          handOver,
        });
      }
      expect(await ingestsCounted(counted)).to.deep.equal({ copied: 1, linked: 2 });
    });
  });

  it('is served on the Unix socket only, even when TCP clients may write', async function () {
    expect(agent.config.writeAccess).to.equal('any');
    const { data, crc } = await spoolFile('f', 10);
    const overTcp = new CheckpointCacheClient({ agent: agent.address });
    shared.onCleanup(async () => overTcp.close());
    const err = await rejection<CheckpointCacheError>(
      overTcp.ingest('k/tcp', 'f', { size: data.length, crc32c: crc }),
    );
    expect(err.code).to.equal(grpc.status.PERMISSION_DENIED);
    expect(err.details).to.include(`unix:${agent.socketPath}`);
    await expectNothingStored('k/tcp');
  });

  it('is FAILED_PRECONDITION on an agent without an ingest directory', async function () {
    const plain = await shared.agent();
    const c = new CheckpointCacheClient({ agent: `unix:${plain.socketPath}` });
    shared.onCleanup(async () => c.close());
    const err = await rejection<CheckpointCacheError>(
      c.ingest('k/off', 'f', { size: 1, crc32c: 0 }),
    );
    expect(err.code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(err.details).to.match(/--ingest-dir, CKC_INGEST_DIR/);
  });

  it('says so when the ingest directory is gone', async function () {
    await removeTempDir(ingestDir);
    const err = await ingestError('k/gone', 'f', 1, 0);
    expect(err.code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(err.details).to.match(/ingest directory .* is gone/);
  });

  it('does not start with an ingest directory inside the cache or holding its TLS key', async function () {
    const cacheDir = await makeTempDir('ckc-ingest-cache');
    shared.onCleanup(() => removeTempDir(cacheDir));
    const inside = path.join(cacheDir, 'spool');
    await fs.mkdir(inside);
    const overlap = await rejection(
      startTestAgent({
        redisUrl: shared.redis.url,
        redisPrefix: shared.prefix,
        cacheDir,
        ingestDir: inside,
      }),
    );
    expect(overlap.message).to.match(/overlaps the cache directory/);
    await fs.writeFile(path.join(ingestDir, 'tls.key'), 'not a real key');
    const secret = await rejection(
      startTestAgent({
        redisUrl: shared.redis.url,
        redisPrefix: shared.prefix,
        ingestDir,
        tlsKey: path.join(ingestDir, 'tls.key'),
        tlsCert: path.join(ingestDir, 'tls.crt'),
      }),
    );
    expect(secret.message).to.match(/holds .*tls\.(key|crt)/);
  });

  it('does not start with an ingest directory that does not exist', async function () {
    const err = await rejection(
      startTestAgent({
        redisUrl: shared.redis.url,
        redisPrefix: shared.prefix,
        ingestDir: path.join(ingestDir, 'no-such-dir'),
      }),
    );
    expect(err.message).to.match(/--ingest-dir .*no-such-dir/);
  });
});
