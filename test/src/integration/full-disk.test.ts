/**
 * A real agent whose cache is a small tmpfs that fills up: writes get RESOURCE_EXHAUSTED naming the
 * file system and its free bytes, the agent logs one warning (not one error per call), leaves
 * nothing in tmp/ and keeps serving. Needs root to mount the tmpfs; skipped, saying so, without.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { crc32c } from '@checkpoint-cache/checksum';
import type { LogMeta, Logger } from '@checkpoint-cache/logger';
import { startNodeAgent, type RunningAgent } from '@checkpoint-cache/node-agent';
import { testAgentConfig } from '../helpers/agent';
import { rawClient, readEntry, writeEntry, type RawClient } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { rejection } from '../helpers/rejection';

const KiB = 1024;
const MiB = 1024 * KiB;
const TMPFS_BYTES = 2 * MiB;

interface LogRecord {
  level: string;
  message: string;
  meta: LogMeta;
}

/** Keeps every record, so the test can see what the agent logged and at which level. */
class RecordingLogger implements Logger {
  constructor(
    readonly records: LogRecord[] = [],
    private readonly context: LogMeta = {},
  ) {}
  private add(level: string, message: string, meta?: LogMeta): void {
    this.records.push({ level, message, meta: { ...this.context, ...meta } });
  }
  error(message: string, meta?: LogMeta): void {
    this.add('error', message, meta);
  }
  warn(message: string, meta?: LogMeta): void {
    this.add('warn', message, meta);
  }
  info(message: string, meta?: LogMeta): void {
    this.add('info', message, meta);
  }
  debug(message: string, meta?: LogMeta): void {
    this.add('debug', message, meta);
  }
  child(meta: LogMeta): Logger {
    return new RecordingLogger(this.records, { ...this.context, ...meta });
  }
}

async function freeBytes(dir: string): Promise<number> {
  const s = await fs.statfs(dir);
  return s.bavail * s.bsize;
}

describe('a full cache file system', function () {
  let mountPoint: string | undefined;
  let redis: RedisServerHandle;
  let agent: RunningAgent | undefined;
  let client: RawClient;
  let log: RecordingLogger;

  before(async function () {
    mountPoint = await fs.mkdtemp(path.join(os.tmpdir(), 'ckc-full-disk-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES}`, 'tmpfs', mountPoint], {
        stdio: 'pipe',
      });
    } catch (err) {
      await fs.rmdir(mountPoint);
      mountPoint = undefined;
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
      // Mocha prints no reason for a skip; this line is the written one.
      process.stderr.write(`full-disk tests skipped: cannot mount a 2 MiB tmpfs (root?): ${why}\n`);
      this.skip();
    }
    redis = await startRedisServer();
  });
  after(async function () {
    await redis?.stop();
    if (mountPoint) {
      execFileSync('umount', [mountPoint]);
      await fs.rmdir(mountPoint);
    }
  });

  beforeEach(async function () {
    const cacheDir = path.join(mountPoint!, `cache-${randomBytes(3).toString('hex')}`);
    log = new RecordingLogger();
    // --min-free-percent 0: nothing stops a write before the file system is full.
    const config = testAgentConfig(cacheDir, { redisUrl: redis.url, cacheDir, minFreePercent: 0 });
    agent = await startNodeAgent(config, { logger: log });
    client = rawClient(agent.tcpAddress!);
  });
  afterEach(async function () {
    client?.close();
    const cacheDir = agent?.cache.options.root;
    await agent?.shutdown(1000);
    if (cacheDir) await fs.rm(cacheDir, { recursive: true, force: true });
  });

  const tmpFiles = (): Promise<string[]> => fs.readdir(path.join(agent!.cache.options.root, 'tmp'));

  function expectFull(err: unknown): void {
    const e = err as grpc.ServiceError;
    expect(grpc.status[e.code], e.details).to.equal('RESOURCE_EXHAUSTED');
    expect(e.details).to.contain(`the cache file system at ${agent!.cache.options.root} is full`);
    expect(e.details)
      .to.match(/\(\d+ bytes free\)/)
      .and.to.match(/--min-free-percent/);
    expect(e.details).to.match(/remote store/);
  }

  it('refuses writes that fill it with RESOURCE_EXHAUSTED, warns once, and keeps serving', async function () {
    for (let i = 0; i < 3; i++) {
      const data = randomBytes(3 * MiB);
      const err = await rejection(
        writeEntry(client, { key: `hdfs://nn/too-big-${i}`, jobId: 'j' }, data),
      );
      expectFull(err);
      expect(await tmpFiles()).to.deep.equal([]);
    }
    expect(log.records.filter((r) => r.level === 'error')).to.deep.equal([]);
    const warnings = log.records.filter((r) => r.level === 'warn' && /full/.test(r.message));
    expect(warnings).to.have.length(1);
    expect(warnings[0]?.meta).to.include({ root: agent!.cache.options.root });

    const small = randomBytes(10 * KiB);
    await writeEntry(client, { key: 'hdfs://nn/small', jobId: 'j', crc32c: crc32c(small) }, small);
    expect((await readEntry(client, { key: 'hdfs://nn/small' })).data.equals(small)).to.equal(true);
  });

  it('leaves no sidecar in tmp/ when the data fits but its sidecar does not', async function () {
    // Fill the file system but for exactly the pages of the data: the sidecar finds none left.
    const dataBytes = 64 * KiB;
    const filler = path.join(mountPoint!, `filler-${randomBytes(3).toString('hex')}`);
    await fs.writeFile(filler, Buffer.alloc((await freeBytes(mountPoint!)) - dataBytes));
    try {
      expect(await freeBytes(mountPoint!)).to.equal(dataBytes);
      const data = randomBytes(dataBytes);
      const err = await rejection(writeEntry(client, { key: 'hdfs://nn/exact', jobId: 'j' }, data));
      expectFull(err);
      expect(await tmpFiles()).to.deep.equal([]);
      expect(agent!.cache.usage().entries).to.equal(0);
    } finally {
      await fs.rm(filler, { force: true });
    }
    const data = randomBytes(dataBytes);
    await writeEntry(client, { key: 'hdfs://nn/exact', jobId: 'j' }, data);
    expect((await readEntry(client, { key: 'hdfs://nn/exact' })).data.equals(data)).to.equal(true);
  });
});
