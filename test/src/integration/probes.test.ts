/**
 * The kubelet's probes (issue 13): plaintext `/healthz` and `/readyz` on the metrics port, which
 * work when the gRPC port speaks mutual TLS only (where the kubelet's native gRPC probe, which
 * has no client certificate, cannot get an answer). `/readyz` is 503 while Redis is down or hung,
 * while the cache's disk cannot be written and while the agent drains; `/healthz` stays 200.
 * Real agents (in this process), a real redis-server killed and restarted, real mutual TLS.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { healthCheck } from '../helpers/health-check';
import { checkpointCacheClientConstructor } from '@checkpoint-cache/proto';
import { rawClient, writeEntry } from '../helpers/raw-client';
import { rejection } from '../helpers/rejection';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { makeTestPki } from '../helpers/test-pki';
import { waitUntil } from '../helpers/wait-until';

interface Probe {
  status: number;
  body: string;
}

async function probe(a: TestAgent, route: '/healthz' | '/readyz'): Promise<Probe> {
  const res = await fetch(`http://${a.metricsAddress}${route}`);
  return { status: res.status, body: await res.text() };
}

describe('probes on the metrics port', function () {
  this.timeout(30_000);
  const cleanup: (() => Promise<void>)[] = [];
  let redis: RedisServerHandle;

  beforeEach(async function () {
    redis = await startRedisServer();
    cleanup.push(() => redis.stop());
  });
  afterEach(async function () {
    while (cleanup.length > 0) await cleanup.pop()!();
  });

  async function agent(overrides: Record<string, unknown> = {}): Promise<TestAgent> {
    const a = await startTestAgent({
      redisUrl: redis.url,
      metricsListen: '127.0.0.1:0',
      ...overrides,
    });
    cleanup.push(() => a.stop());
    await waitUntil(() => a.cache.indexStatus === 'ready', { message: 'index never loaded' });
    return a;
  }

  it('answer over plaintext while the gRPC port takes mutual TLS only', async function () {
    const pki = await makeTestPki();
    cleanup.push(() => pki.remove());
    const a = await agent({
      tlsCert: pki.server.cert,
      tlsKey: pki.server.key,
      tlsClientCa: pki.caCert,
    });
    // What the kubelet's native gRPC probe (plaintext) gets, and a TLS client without a
    // certificate: no answer.
    const ca = await fs.readFile(pki.caCert);
    for (const credentials of [grpc.credentials.createInsecure(), grpc.credentials.createSsl(ca)]) {
      const err = await rejection<grpc.ServiceError>(healthCheck(a.address, '', credentials));
      expect(err.code).to.equal(grpc.status.UNAVAILABLE);
    }

    expect(await probe(a, '/healthz')).to.deep.equal({ status: 200, body: 'ok\n' });
    const ready = await probe(a, '/readyz');
    expect(ready.status, ready.body).to.equal(200);
    expect(ready.body).to.equal('ready\nserving: ok\nindex: ok\nredis: ok\ndisk: ok\n');
  });

  it('report not ready while Redis is down or hung, and ready again once it is back', async function () {
    const a = await agent();
    expect((await probe(a, '/readyz')).status).to.equal(200);

    await redis.kill();
    let ready = await probe(a, '/readyz');
    expect(ready.status).to.equal(503);
    expect(ready.body).to.match(/^not ready\n/);
    expect(ready.body).to.match(/^redis: not connected \(connection \w+\)$/m);
    expect(ready.body).to.include('index: ok\n');
    expect(ready.body).to.include('disk: ok\n');
    // Alive all the same: the kubelet must not restart an agent because Redis is down.
    expect((await probe(a, '/healthz')).status).to.equal(200);

    await redis.restart();
    await waitUntil(async () => (await probe(a, '/readyz')).status === 200, {
      timeoutMs: 15_000,
      message: '/readyz did not turn 200 after Redis came back',
    });

    // A Redis that keeps the connection but answers nothing.
    await redis.pause();
    try {
      ready = await probe(a, '/readyz');
      expect(ready.status).to.equal(503);
      expect(ready.body).to.include('redis: PING failed: no PING answer\n');
    } finally {
      await redis.resume();
    }
  });

  it('report not ready while the cache folder cannot be written', async function () {
    const a = await agent();
    const tmp = path.join(a.cacheDir, 'tmp');
    // A file where the staging folder should be: every create in it fails (also as root).
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.writeFile(tmp, '');
    try {
      const ready = await probe(a, '/readyz');
      expect(ready.status).to.equal(503);
      expect(ready.body).to.include(`disk: cannot write in ${tmp} (ENOTDIR)\n`);
      expect(ready.body).to.include('redis: ok\n');
    } finally {
      await fs.rm(tmp, { force: true });
      await fs.mkdir(tmp);
    }
    expect((await probe(a, '/readyz')).status).to.equal(200);
  });

  it('report not ready but alive while the agent drains its calls', async function () {
    const a = await agent();
    const key = 'hdfs://nn/flink/ckpt/job/chk-1/draining';
    const writer = rawClient(a.address);
    await writeEntry(writer, { key }, randomBytes(4 * 1024 * 1024));
    writer.close();
    // A read whose client stops reading (default 64 KiB window): the agent waits for it during
    // its grace period.
    const Client = checkpointCacheClientConstructor();
    const client = new Client(a.address, grpc.credentials.createInsecure());
    const call = client.read({ key, maxChunkSize: 64 * 1024 });
    call.on('error', () => undefined); // CANCELLED, by the test at the end
    await new Promise((resolve) => call.once('data', resolve));
    call.pause();
    const stopped = a.shutdown(10_000);
    try {
      await waitUntil(async () => (await probe(a, '/readyz')).status === 503, {
        message: '/readyz stayed 200 after shutdown began',
      });
      expect((await probe(a, '/readyz')).body).to.include(
        'serving: not serving (starting, or shutting down)\n',
      );
      expect((await probe(a, '/healthz')).status).to.equal(200);
    } finally {
      call.cancel();
      client.close();
      await stopped;
    }
  });
});
