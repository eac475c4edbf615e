/**
 * A peer that dies mid-stream (issue 13), with real agent processes killed by SIGKILL as a lost
 * node's agent would be: the reading agent continues from the next holder at the offset reached,
 * and the caller sees one stream; with no holder left, the caller (the real client stub) continues
 * from the remote store at the byte it reached. The reading agent runs in this process with a
 * bandwidth cap (--peer-read-rate), so that the kill lands in the middle of the stream.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { CheckpointCacheClient } from '@checkpoint-cache/client';
import { startAgentProcess, type AgentProcess } from '../helpers/agent-process';
import { freePort } from '../helpers/free-port';
import { rawClient, writeEntry } from '../helpers/raw-client';
import { useSharedRedis } from '../helpers/shared-redis';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';

/**
 * Larger than what a holder sends ahead of the reader (the peer channel's 8 MiB flow-control
 * window), so that a kill after the first quarter leaves bytes only the next holder can give.
 */
const SIZE = 24 * 1024 * 1024;
/** Bytes per second the reading agent takes from peers: the stream takes about 6 s. */
const RATE = 4 * 1024 * 1024;

describe('peer reads when the peer dies mid-stream', function () {
  this.timeout(60_000);
  const shared = useSharedRedis('ckc-peer-kill');

  /** A holder: a real ckc-agent process advertising its address, holding `key` = `data`. */
  async function holder(nodeId: string, key: string, data: Buffer): Promise<AgentProcess> {
    const port = await freePort();
    const h = await startAgentProcess({
      nodeId,
      redisUrl: shared.redis.url,
      redisPrefix: shared.prefix,
      listen: `127.0.0.1:${port}`,
      extraArgs: ['--peer-address', `127.0.0.1:${port}`, '--write-access', 'any'],
    });
    shared.onCleanup(() => h.stop());
    const c = rawClient(h.address);
    try {
      await writeEntry(c, { key, jobId: 'job', checkpointId: 1 }, data);
    } finally {
      c.close();
    }
    return h;
  }

  /** The reading agent, and the real client stub of its node with a remote copy of the file. */
  async function reader(key: string, data: Buffer) {
    const port = await freePort();
    const b = await shared.agent({
      listen: `127.0.0.1:${port}`,
      peerAddress: `127.0.0.1:${port}`,
      peerReadRate: RATE,
      metricsListen: '127.0.0.1:0',
    });
    const dir = await makeTempDir('ckc-peer-kill');
    shared.onCleanup(() => removeTempDir(dir));
    const file = path.join(dir, 'remote-copy');
    await fs.writeFile(file, data);
    const client = new CheckpointCacheClient({ agent: `unix:${b.socketPath}` });
    shared.onCleanup(async () => client.close());
    return { b, client, read: () => client.read(key, { remote: pathToFileURL(file).toString() }) };
  }

  /** Reads `stream` to its end; calls `midway` once, after the first quarter of the bytes. */
  async function readWithKill(stream: Readable, midway: () => Promise<void>): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    let killed = false;
    for await (const part of stream) {
      parts.push(part as Buffer);
      got += (part as Buffer).length;
      if (!killed && got >= SIZE / 4) {
        killed = true;
        await midway();
      }
    }
    expect(killed, 'the stream ended before the kill').to.equal(true);
    return Buffer.concat(parts);
  }

  async function peerFailures(metrics: string, reason: string): Promise<number> {
    const text = await (await fetch(`http://${metrics}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`ckc_peer_failures_total{reason="${reason}"}`));
    return Number(line?.split(' ')[1] ?? 0);
  }

  it('continues from the next holder at the offset reached', async function () {
    const key = 'hdfs://nn/flink/ckpt/job/shared/killed-peer';
    const data = randomBytes(SIZE);
    // In node-id order, the first one is asked first.
    const first = await holder('aaa-first', key, data);
    await holder('aab-second', key, data);
    const { b, client, read } = await reader(key, data);
    const got = await readWithKill(read(), () => first.kill());
    expect(got.equals(data)).to.equal(true);
    expect(client.stats()).to.include({ bytesFromCache: SIZE, bytesFromRemote: 0 });
    expect(client.stats().fallbacks).to.deep.equal({});
    // And the copy was stored here, checked against the whole entry's CRC32C.
    expect(await b.cache.stat(key, { touch: false })).to.include({ size: SIZE });
    // One peer failed mid-stream: the kill landed while bytes were still to come from it.
    expect(await peerFailures(b.metricsAddress!, 'stream')).to.equal(1);
  });

  it('lets the caller continue from the remote store when no holder is left', async function () {
    const key = 'hdfs://nn/flink/ckpt/job/shared/killed-only-peer';
    const data = randomBytes(SIZE);
    const only = await holder('aaa-only', key, data);
    const { b, client, read } = await reader(key, data);
    const got = await readWithKill(read(), () => only.kill());
    expect(got.equals(data)).to.equal(true);
    const stats = client.stats();
    expect(stats.bytesFromCache).to.be.greaterThan(0);
    expect(stats.bytesFromRemote).to.be.greaterThan(0);
    expect(stats.bytesFromCache + stats.bytesFromRemote).to.equal(SIZE);
    expect(Object.values(stats.fallbacks).reduce((n, v) => n + (v ?? 0), 0)).to.equal(1);
    // Nothing half-fetched is stored.
    const err = await b.cache.stat(key, { touch: false }).catch((e: Error) => e);
    expect(err).to.be.instanceOf(Error);
  });
});
