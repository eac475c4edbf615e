/**
 * Peer reads with fill (issue 13 item 3): two real agents share one real Redis and key prefix; a
 * Read on node B of an entry only node A holds is streamed from A's agent (the location index
 * names A, A advertised its --peer-address), verified chunk by chunk, served to the caller with
 * source SOURCE_PEER, and stored on B (the next read is a local hit, the index lists both). Also:
 * ranges, a stale index entry (a peer without the entry answers NOT_FOUND and the next is tried),
 * a peer failing or going silent mid-stream (the next continues at the offset reached), none
 * left (today's NOT_FOUND), concurrent misses making one peer fetch, and --peer-reads off.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { entryIdOf } from '@checkpoint-cache/cache';
import { CheckpointCacheClient } from '@checkpoint-cache/client';
import { startTestAgent, testAgentConfig, type TestAgent } from '../helpers/agent';
import { startNodeAgent } from '@checkpoint-cache/node-agent';
import { recordingLogger, type LogRecord } from '../helpers/recording-logger';
import { checkpointCacheClientConstructor } from '@checkpoint-cache/proto';
import { FakeCacheServer } from '../helpers/fake-cache-server';
import { freePort } from '../helpers/free-port';
import { rawClient, readEntry, writeEntry, type RawClient } from '../helpers/raw-client';
import { rejection } from '../helpers/rejection';
import { makeTestPki } from '../helpers/test-pki';
import { startRedisServer } from '../helpers/redis-server';
import { useSharedRedis } from '../helpers/shared-redis';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';
import { waitUntil } from '../helpers/wait-until';

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

describe('peer reads with fill', function () {
  this.timeout(30_000);
  const shared = useSharedRedis('ckc-peer');

  /** An agent reachable by its peers at the address it advertises. */
  async function agent(overrides: Record<string, unknown> = {}): Promise<TestAgent> {
    const port = await freePort();
    const a = await startTestAgent({
      redisUrl: shared.redis.url,
      redisPrefix: shared.prefix,
      listen: `127.0.0.1:${port}`,
      peerAddress: `127.0.0.1:${port}`,
      ...overrides,
    });
    shared.onCleanup(() => a.stop());
    return a;
  }

  function client(a: TestAgent): RawClient {
    const c = rawClient(a.address);
    shared.onCleanup(async () => c.close());
    return c;
  }

  async function put(a: TestAgent, key: string, data: Buffer): Promise<void> {
    await writeEntry(client(a), { key, jobId: 'job', checkpointId: 3 }, data);
  }

  /** Lists a node that is not an agent of this test, at `address`, as holding `key`. */
  async function listFakeHolder(nodeId: string, address: string, key: string): Promise<void> {
    await shared.admin.sadd(`${shared.prefix}:loc:{${entryIdOf(key)}}`, nodeId);
    await shared.admin.set(`${shared.prefix}:{${nodeId}}:peer`, address);
    // An agent holds the node id (its owner key), else the node counts as gone.
    await shared.admin.set(`${shared.prefix}:{${nodeId}}:owner`, 'test', 'PX', 60_000);
  }

  it('serves a miss from the node that holds the entry and keeps a copy', async function () {
    const a = await agent();
    const b = await agent();
    const key = 'hdfs://nn/flink/ckpt/job/shared/peer-1';
    const data = randomBytes(3 * 1024 * 1024 + 17);
    await put(a, key, data);
    const first = await readEntry(client(b), { key });
    expect(first.header?.source).to.equal('SOURCE_PEER');
    expect(first.data.equals(data)).to.equal(true);
    expect(Number(first.header?.entry?.crc32c)).to.be.greaterThan(0);
    // Stored on B: the next read is local, and the index lists both nodes.
    const second = await readEntry(client(b), { key });
    expect(second.header?.source).to.equal('SOURCE_LOCAL_DISK');
    expect(second.data.equals(data)).to.equal(true);
    expect((await b.metadata.holders(entryIdOf(key))).sort()).to.deep.equal(
      [a.nodeId, b.nodeId].sort(),
    );
    const info = await b.cache.stat(key, { touch: false });
    expect(info.jobId).to.equal('job');
    expect(info.checkpointIds).to.deep.equal([3]);
  });

  it('serves a range of a peer entry', async function () {
    const a = await agent();
    const b = await agent();
    const key = 'hdfs://nn/flink/ckpt/job/shared/peer-range';
    const data = randomBytes(700_000);
    await put(a, key, data);
    const part = await readEntry(client(b), {
      key,
      offset: 300_001,
      length: 250_000,
      maxChunkSize: 65_536,
    });
    expect(part.header?.offset).to.equal(300_001);
    expect(Number(part.header?.length)).to.equal(250_000);
    expect(part.data.equals(data.subarray(300_001, 550_001))).to.equal(true);
    expect(part.chunks.every((c) => c.length <= 65_536)).to.equal(true);
    // The call ended with its range; the fill went on to the end of the entry meanwhile.
    await waitUntil(
      async () => (await b.cache.stat(key, { touch: false }).catch(() => undefined)) !== undefined,
      { timeoutMs: 10_000, message: 'B did not keep a copy after a range read' },
    );
    expect((await readEntry(client(b), { key })).data.equals(data)).to.equal(true);
  });

  it('goes past a stale index entry and a peer failing mid-stream to the next peer', async function () {
    const a = await agent();
    const b = await agent();
    const empty = await agent({ peerReads: undefined });
    const key = 'hdfs://nn/flink/ckpt/job/shared/peer-failover';
    const data = randomBytes(2 * 1024 * 1024);
    await put(a, key, data);
    // In node-id order: an agent that does not hold it, then one that fails after 512 KiB, then A.
    await listFakeHolder('aaa-stale', `127.0.0.1:${empty.tcpAddress!.split(':')[1]}`, key);
    const broken = await FakeCacheServer.start();
    shared.onCleanup(() => broken.stop());
    broken.put(key, {
      data,
      faults: [{ kind: 'status', afterBytes: 512 * 1024, code: grpc.status.UNAVAILABLE }],
    });
    await listFakeHolder('aab-broken', broken.address, key);
    const read = await readEntry(client(b), { key });
    expect(read.header?.source).to.equal('SOURCE_PEER');
    expect(read.data.equals(data)).to.equal(true);
    expect(broken.reads.length).to.equal(1);
    expect(broken.reads[0]!.request.offset).to.equal(0);
    expect(await b.cache.stat(key, { touch: false })).to.include({ size: data.length });
  });

  it('leaves a peer that goes silent mid-stream for the next one, at the offset reached', async function () {
    // A peer whose process lives (it answers keepalive pings) but sends nothing more: without a
    // limit on its silence, the read would wait until the caller gave up (the Flink plugin's
    // idle-timeout, 30 s) and then go to the remote store instead of the next peer.
    const a = await agent();
    const b = await agent();
    const key = 'hdfs://nn/flink/ckpt/job/shared/peer-silent';
    const data = randomBytes(2 * 1024 * 1024);
    await put(a, key, data);
    const silent = await FakeCacheServer.start();
    shared.onCleanup(() => silent.stop());
    silent.put(key, { data, faults: [{ kind: 'hang', afterBytes: 512 * 1024 }] });
    await listFakeHolder('aaa-silent', silent.address, key);
    const read = await readEntry(client(b), { key });
    expect(read.header?.source).to.equal('SOURCE_PEER');
    expect(read.data.equals(data)).to.equal(true);
    expect(silent.reads).to.have.length(1);
    expect(await b.cache.stat(key, { touch: false })).to.include({ size: data.length });
  });

  it('tries the next holder before the caller gives up when the first does not answer', async function () {
    // The client stub waits 3 s (its default first-message timeout) for the agent's header, then
    // reads from the remote store; the agent must leave a holder that does not answer (a lost
    // node's address, a refused TLS handshake) early enough for the next one to serve the read.
    const a = await agent();
    const b = await agent();
    const key = 'hdfs://nn/flink/ckpt/job/shared/peer-mute';
    const data = randomBytes(200_000);
    await put(a, key, data);
    const mute = await FakeCacheServer.start();
    shared.onCleanup(() => mute.stop());
    mute.put(key, { data, faults: [{ kind: 'hang-before-header' }] });
    await listFakeHolder('aaa-mute', mute.address, key);
    const dir = await makeTempDir('ckc-peer-remote');
    shared.onCleanup(() => removeTempDir(dir));
    const file = path.join(dir, 'peer-mute');
    await fs.writeFile(file, data);
    const c = new CheckpointCacheClient({ agent: b.address });
    shared.onCleanup(async () => c.close());
    const got = await readAll(c.read(key, { remote: pathToFileURL(file).toString() }));
    expect(got.equals(data)).to.equal(true);
    expect(c.stats()).to.include({ bytesFromCache: data.length, bytesFromRemote: 0 });
    expect(mute.reads).to.have.length(1);
  });

  it('serves a short-circuit reader whose node lacks the entry through the agent from a peer, not the remote store', async function () {
    // The lease's NOT_FOUND only says this node holds no copy: the agent's Read may still have one
    // from another node (the Flink plugin reads this way with checkpoint-cache.cache-dir set).
    const a = await agent();
    const b = await agent();
    const key = 'hdfs://nn/flink/ckpt/job/shared/peer-short-circuit';
    const data = randomBytes(600_000);
    await put(a, key, data);
    const dir = await makeTempDir('ckc-peer-remote');
    shared.onCleanup(() => removeTempDir(dir));
    const file = path.join(dir, 'peer-short-circuit');
    await fs.writeFile(file, data);
    const c = new CheckpointCacheClient({ agent: b.address, shortCircuit: true });
    shared.onCleanup(async () => c.close());
    const got = await readAll(c.read(key, { remote: pathToFileURL(file).toString() }));
    expect(got.equals(data)).to.equal(true);
    expect(c.stats()).to.include({ bytesFromCache: data.length, bytesFromRemote: 0 });
    // Filled on B: the next read takes the short circuit.
    const again = await readAll(c.read(key, { remote: pathToFileURL(file).toString() }));
    expect(again.equals(data)).to.equal(true);
    expect(c.stats().bytesFromRemote).to.equal(0);
  });

  it('is a plain miss when no peer holds the entry, or when peer reads are off', async function () {
    const a = await agent();
    const b = await agent();
    const off = await agent({ peerReads: undefined });
    const key = 'hdfs://nn/flink/ckpt/job/shared/nowhere';
    let err = await rejection<grpc.ServiceError>(readEntry(client(b), { key }));
    expect(err.code).to.equal(grpc.status.NOT_FOUND);
    const held = 'hdfs://nn/flink/ckpt/job/shared/only-on-a';
    await put(a, held, randomBytes(1000));
    err = await rejection<grpc.ServiceError>(readEntry(client(off), { key: held }));
    expect(err.code).to.equal(grpc.status.NOT_FOUND);
    expect(err.details).to.include('read it from the remote store');
  });

  it('makes one peer fetch for concurrent misses of one key on one node', async function () {
    const b = await agent();
    const key = 'hdfs://nn/flink/ckpt/job/shared/single-flight';
    const data = randomBytes(4 * 1024 * 1024);
    const peer = await FakeCacheServer.start();
    shared.onCleanup(() => peer.stop());
    peer.put(key, { data, jobId: 'job' });
    await listFakeHolder('fake-peer', peer.address, key);
    const c = client(b);
    const reads = await Promise.all([1, 2, 3, 4].map(() => readEntry(c, { key })));
    for (const r of reads) expect(r.data.equals(data)).to.equal(true);
    expect(peer.reads.length).to.equal(1);
    expect(reads.filter((r) => r.header?.source === 'SOURCE_PEER')).to.have.length(1);
  });

  it('answers another agent only from its own disk (no chains over a stale index)', async function () {
    const a = await agent();
    const key = 'hdfs://nn/flink/ckpt/job/shared/no-chain';
    const peer = await FakeCacheServer.start();
    shared.onCleanup(() => peer.stop());
    peer.put(key, { data: randomBytes(1000) });
    await listFakeHolder('fake-peer', peer.address, key);
    const md = new grpc.Metadata();
    md.set('ckc-peer-read', '1');
    const c = client(a);
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      const call = c.read({ key }, md);
      call.on('data', () => undefined);
      call.on('error', resolve);
    });
    expect(err.code).to.equal(grpc.status.NOT_FOUND);
    expect(peer.reads).to.have.length(0);
  });

  it('reads from peers over mutual TLS when the agents have certificates, and only from trusted ones', async function () {
    const pki = await makeTestPki();
    shared.onCleanup(() => pki.remove());
    const [certA, certB, certC] = await Promise.all(
      ['agent-a', 'agent-b', 'agent-c'].map((n) => pki.issue(n, 'agent')),
    );
    const tls = (files: { cert: string; key: string }, ca = pki.caCert) => ({
      tlsCert: files.cert,
      tlsKey: files.key,
      tlsClientCa: ca,
    });
    const a = await agent(tls(certA!));
    const b = await agent(tls(certB!));
    // C trusts another CA: A's certificate does not chain to it, so C never reads from A.
    const c = await agent(tls(certC!, pki.otherCaCert));
    const key = 'hdfs://nn/flink/ckpt/job/shared/peer-mtls';
    const data = randomBytes(200_000);
    const Client = checkpointCacheClientConstructor();
    const tlsClient = async (x: TestAgent, own = pki.client): Promise<RawClient> => {
      const [ca, ck, cc] = await Promise.all(
        [pki.caCert, own.key, own.cert].map((f) => fs.readFile(f)),
      );
      const cl = new Client(x.address, grpc.credentials.createSsl(ca, ck, cc));
      shared.onCleanup(async () => cl.close());
      return cl;
    };
    await writeEntry(await tlsClient(a), { key, jobId: 'job', checkpointId: 1 }, data);
    const read = await readEntry(await tlsClient(b), { key });
    expect(read.header?.source).to.equal('SOURCE_PEER');
    expect(read.data.equals(data)).to.equal(true);
    const err = await rejection<grpc.ServiceError>(
      readEntry(await tlsClient(c, pki.otherClient), { key }),
    );
    expect(err.code).to.equal(grpc.status.NOT_FOUND);
  });

  it('warns at start when its listener has TLS without a client CA, and such agents read no peer in plaintext', async function () {
    const pki = await makeTestPki();
    shared.onCleanup(() => pki.remove());
    const [certA, certB] = await Promise.all(
      ['agent-a', 'agent-b'].map((n) => pki.issue(n, 'agent')),
    );
    const serverOnly = (files: { cert: string; key: string }) => ({
      tlsCert: files.cert,
      tlsKey: files.key,
    });
    const a = await agent(serverOnly(certA!));
    const records: LogRecord[] = [];
    const cacheDir = await makeTempDir('ckc-peer-tls-warn');
    shared.onCleanup(() => removeTempDir(cacheDir));
    const port = await freePort();
    const config = testAgentConfig(cacheDir, {
      redisUrl: shared.redis.url,
      redisPrefix: shared.prefix,
      cacheDir,
      listen: `127.0.0.1:${port}`,
      peerAddress: `127.0.0.1:${port}`,
      ...serverOnly(certB!),
    });
    const b = await startNodeAgent(config, { logger: recordingLogger(records) });
    shared.onCleanup(() => b.shutdown());
    const warning = records.find(
      (r) => r.level === 'warn' && r.message.includes('--tls-client-ca'),
    );
    expect(warning, 'a start-up warning naming --tls-client-ca').to.not.equal(undefined);
    expect(warning!.message).to.include('plaintext');

    const ca = await fs.readFile(pki.caCert);
    const Client = checkpointCacheClientConstructor();
    const tlsClient = (address: string): RawClient => {
      const cl = new Client(address, grpc.credentials.createSsl(ca));
      shared.onCleanup(async () => cl.close());
      return cl;
    };
    const key = 'hdfs://nn/flink/ckpt/job/shared/peer-server-tls-only';
    await writeEntry(
      tlsClient(a.address),
      { key, jobId: 'job', checkpointId: 1 },
      randomBytes(10_000),
    );
    const err = await rejection<grpc.ServiceError>(
      readEntry(tlsClient(`127.0.0.1:${port}`), { key }),
    );
    expect(err.code).to.equal(grpc.status.NOT_FOUND);
  });

  it('is a plain miss while Redis is unreachable', async function () {
    const own = await startRedisServer();
    shared.onCleanup(() => own.stop());
    const port = await freePort();
    const b = await startTestAgent({
      redisUrl: own.url,
      listen: `127.0.0.1:${port}`,
      peerAddress: `127.0.0.1:${port}`,
    });
    shared.onCleanup(() => b.shutdown());
    await own.kill();
    const err = await rejection<grpc.ServiceError>(
      readEntry(client(b), { key: 'hdfs://nn/flink/ckpt/job/shared/redis-down' }),
    );
    expect(err.code).to.equal(grpc.status.NOT_FOUND);
  });

  it('does not dial a node whose agent is gone (its node id hold lapsed)', async function () {
    const b = await agent();
    const key = 'hdfs://nn/flink/ckpt/job/shared/on-a-lost-node';
    const peer = await FakeCacheServer.start();
    shared.onCleanup(() => peer.stop());
    peer.put(key, { data: randomBytes(1000) });
    await listFakeHolder('lost-node', peer.address, key);
    await shared.admin.del(`${shared.prefix}:{lost-node}:owner`);
    const err = await rejection<grpc.ServiceError>(readEntry(client(b), { key }));
    expect(err.code).to.equal(grpc.status.NOT_FOUND);
    expect(peer.reads).to.have.length(0);
  });
});
