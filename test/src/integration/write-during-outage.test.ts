/**
 * Writes while Redis is down, against a real redis-server that is killed: a write that starts
 * during a known outage is refused at its header, before the client sends its bytes; one whose
 * outage begins midway is still refused at the end. Either way nothing stays on disk.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { crc32c } from '@checkpoint-cache/checksum';
import type { WriteRequest, WriteResponse__Output } from '@checkpoint-cache/proto';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { rawClient, type RawClient } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { rejection } from '../helpers/rejection';
import { waitUntil } from '../helpers/wait-until';

const MiB = 1024 * 1024;

describe('writes while Redis is down', function () {
  let redis: RedisServerHandle;
  let agent: TestAgent;
  let client: RawClient;

  beforeEach(async function () {
    redis = await startRedisServer();
    agent = await startTestAgent({ redisUrl: redis.url });
    client = rawClient(agent.address);
  });
  afterEach(async function () {
    client?.close();
    await agent?.stop();
    await redis?.stop();
  });

  async function redisDown(): Promise<void> {
    await redis.kill();
    await waitUntil(() => !agent.cache.options.metadata.isAvailable(), {
      message: 'the agent did not notice that Redis is gone',
    });
  }

  async function expectNothingOnDisk(): Promise<void> {
    expect(await fs.readdir(path.join(agent.cacheDir, 'tmp'))).to.deep.equal([]);
    expect(agent.cache.usage().entries).to.equal(0);
  }

  it('refuses a write at its header when the outage is known, before any chunk is sent', async function () {
    await redisDown();
    let call: grpc.ClientWritableStream<WriteRequest> | undefined;
    const done = new Promise<WriteResponse__Output>((resolve, reject) => {
      // Without the refusal the agent waits for chunks that never come, until this deadline.
      call = client.write({ deadline: Date.now() + 5000 }, (err, res) =>
        err ? reject(err) : resolve(res as WriteResponse__Output),
      );
    });
    // The header of a 16 MiB write, and nothing more: the answer must come without the bytes.
    call!.write({ header: { key: 'hdfs://nn/outage/big', jobId: 'j', size: 16 * MiB } });
    const err = await rejection<grpc.ServiceError>(done);
    expect(grpc.status[err.code], err.details).to.equal('UNAVAILABLE');
    expect(err.details)
      .to.match(/Redis is unreachable/)
      .and.to.match(/remote store/);
    await expectNothingOnDisk();
  });

  it('still refuses at the end a write whose outage began midway, keeping nothing', async function () {
    const data = randomBytes(2 * MiB);
    const half = data.length / 2;
    let call: grpc.ClientWritableStream<WriteRequest> | undefined;
    const done = new Promise<WriteResponse__Output>((resolve, reject) => {
      call = client.write((err, res) =>
        err ? reject(err) : resolve(res as WriteResponse__Output),
      );
    });
    const first = data.subarray(0, half);
    const second = data.subarray(half);
    call!.write({ header: { key: 'hdfs://nn/outage/midway', jobId: 'j', size: data.length } });
    call!.write({ chunk: { offset: 0, data: first, crc32c: crc32c(first) } });
    await waitUntil(async () => (await fs.readdir(path.join(agent.cacheDir, 'tmp'))).length > 0, {
      message: 'the write never reached the disk',
    });
    await redisDown();
    call!.write({ chunk: { offset: half, data: second, crc32c: crc32c(second) } });
    call!.end();
    const err = await rejection<grpc.ServiceError>(done);
    expect(grpc.status[err.code], err.details).to.equal('UNAVAILABLE');
    await expectNothingOnDisk();
  });
});
