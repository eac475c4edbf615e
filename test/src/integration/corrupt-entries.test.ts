/**
 * Cached copies that are wrong although each block verifies: a sidecar whose whole-entry CRC32C
 * does not match its blocks, or whose key does not hash to its file's name, is dropped when the
 * agent loads its index; and ReportCorrupt, with which a client that computed another whole-entry
 * CRC32C tells the agent, quarantines the entry (at once for a caller that may change the cache,
 * after the agent's own check for any other). Real agent, real Redis, real disk.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { entryIdOf } from '@checkpoint-cache/cache';
import { crc32c } from '@checkpoint-cache/checksum';
import type { ReportCorruptResponse__Output } from '@checkpoint-cache/proto';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { rawClient, readEntry, unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { rejection } from '../helpers/rejection';

const BLOCK = 64 * 1024;

describe('corrupt entries', function () {
  let redis: RedisServerHandle;
  let agent: TestAgent | undefined;
  const clients: RawClient[] = [];
  let seq = 0;
  const key = (name: string): string => `hdfs://nn/flink/ckpt/job-c/chk-${++seq}/${name}`;

  before(async function () {
    redis = await startRedisServer();
  });
  after(async function () {
    await redis?.stop();
  });
  afterEach(async function () {
    for (const c of clients.splice(0)) c.close();
    await agent?.stop();
    agent = undefined;
  });

  function connect(address: string): RawClient {
    const c = rawClient(address);
    clients.push(c);
    return c;
  }

  async function put(client: RawClient, k: string, data: Buffer): Promise<void> {
    await writeEntry(
      client,
      { key: k, jobId: 'job-c', checkpointId: 1, size: data.length, crc32c: crc32c(data) },
      data,
    );
  }

  function dataPath(a: TestAgent, k: string): string {
    const id = entryIdOf(k);
    return path.join(a.cacheDir, 'entries', id.slice(0, 2), id);
  }

  async function stat(client: RawClient, k: string): Promise<unknown> {
    return unary(client, 'stat', { key: k, noTouch: true }).then(
      () => 'cached',
      (err: grpc.ServiceError) => grpc.status[err.code],
    );
  }

  function report(client: RawClient, k: string, entryCrc32c: number): Promise<boolean> {
    return unary<object, ReportCorruptResponse__Output>(client, 'reportCorrupt', {
      key: k,
      entryCrc32c,
      observedCrc32c: 1,
    }).then((res) => res.quarantined);
  }

  async function exists(file: string): Promise<boolean> {
    return fs.access(file).then(
      () => true,
      () => false,
    );
  }

  describe('at start-up', function () {
    it('drops an entry whose whole-entry CRC32C does not combine from its blocks', async function () {
      agent = await startTestAgent({ redisUrl: redis.url });
      let client = connect(agent.address);
      const k = key('whole');
      const data = randomBytes(3 * BLOCK + 5);
      await put(client, k, data);
      // One digit of the whole CRC changed: still a valid sidecar, and every block still verifies.
      const sidecar = dataPath(agent, k) + '.meta';
      const json = JSON.parse(await fs.readFile(sidecar, 'utf8')) as { crc32c: number };
      json.crc32c = (json.crc32c ^ 0x1) >>> 0;
      await fs.writeFile(sidecar, JSON.stringify(json));
      client.close();
      await agent.restart();
      client = connect(agent.address);
      await agent.cache.whenIndexReady();
      expect(await stat(client, k)).to.equal('NOT_FOUND');
      expect(await exists(dataPath(agent, k))).to.equal(false);
      expect(await exists(sidecar)).to.equal(false);
    });

    it('drops an entry whose key does not hash to its file name', async function () {
      agent = await startTestAgent({ redisUrl: redis.url });
      let client = connect(agent.address);
      const k = key('original');
      const data = randomBytes(BLOCK + 1);
      await put(client, k, data);
      // The same files under another key's name: a read of that key must never get these bytes.
      const other = key('other');
      await fs.mkdir(path.dirname(dataPath(agent, other)), { recursive: true });
      await fs.copyFile(dataPath(agent, k), dataPath(agent, other));
      await fs.copyFile(dataPath(agent, k) + '.meta', dataPath(agent, other) + '.meta');
      client.close();
      await agent.restart();
      client = connect(agent.address);
      await agent.cache.whenIndexReady();
      expect(await stat(client, other)).to.equal('NOT_FOUND');
      expect(await exists(dataPath(agent, other))).to.equal(false);
      expect((await readEntry(client, { key: k })).data.equals(data)).to.equal(true);
    });
  });

  describe('ReportCorrupt', function () {
    it('quarantines at once for a caller that may change the cache', async function () {
      agent = await startTestAgent({ redisUrl: redis.url }); // --write-access any
      const client = connect(agent.address);
      const k = key('trusted');
      const data = randomBytes(2 * BLOCK);
      await put(client, k, data);
      // A report about another version of the entry (another CRC32C) changes nothing.
      expect(await report(client, k, (crc32c(data) + 1) >>> 0)).to.equal(false);
      expect(await stat(client, k)).to.equal('cached');
      expect(await report(client, k, crc32c(data))).to.equal(true);
      expect(await stat(client, k)).to.equal('NOT_FOUND');
      expect(await exists(dataPath(agent, k))).to.equal(false);
      expect(await agent.metadata.getRecord(entryIdOf(k))).to.equal(undefined);
      // Idempotent: nothing left to quarantine.
      expect(await report(client, k, crc32c(data))).to.equal(false);
    });

    it('checks the entry itself for a caller that may only read', async function () {
      agent = await startTestAgent({ redisUrl: redis.url, writeAccess: 'socket' });
      const overSocket = connect(`unix:${agent.socketPath}`);
      const overTcp = connect(agent.address);
      const healthy = key('healthy');
      const damaged = key('damaged');
      const data = randomBytes(3 * BLOCK);
      await put(overSocket, healthy, data);
      await put(overSocket, damaged, data);
      expect(await report(overTcp, healthy, crc32c(data))).to.equal(false);
      expect((await readEntry(overTcp, { key: healthy })).data.equals(data)).to.equal(true);

      const handle = await fs.open(dataPath(agent, damaged), 'r+');
      await handle.write(Buffer.from([data[2 * BLOCK + 7]! ^ 0xff]), 0, 1, 2 * BLOCK + 7);
      await handle.close();
      expect(await report(overTcp, damaged, crc32c(data))).to.equal(true);
      expect(await stat(overTcp, damaged)).to.equal('NOT_FOUND');

      // Over the socket the same report about the healthy entry is believed.
      expect(await report(overSocket, healthy, crc32c(data))).to.equal(true);
      expect(await stat(overTcp, healthy)).to.equal('NOT_FOUND');
    });

    it('answers INVALID_ARGUMENT for a bad key', async function () {
      agent = await startTestAgent({ redisUrl: redis.url });
      const client = connect(agent.address);
      const err = await rejection<grpc.ServiceError>(report(client, '', 0));
      expect(grpc.status[err.code]).to.equal('INVALID_ARGUMENT');
    });
  });
});
