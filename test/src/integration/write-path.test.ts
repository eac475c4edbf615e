/**
 * The agent's Write path at the HTTP/2 level: the receive window it advertises on both listeners
 * (so a client streams a large entry without stopping every 64 KiB), and a Write of many windows'
 * worth stored and read back intact.
 */
import { randomBytes } from 'node:crypto';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { expect } from 'chai';
import { crc32c } from '@checkpoint-cache/checksum';
import { RECEIVE_WINDOW_BYTES } from '@checkpoint-cache/node-agent';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { rawClient, readEntry, writeEntry } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { waitUntil } from '../helpers/wait-until';

const MiB = 1024 * 1024;

/** The stream window in the agent's SETTINGS and its connection window, as a peer sees them. */
async function advertisedWindows(
  authority: string,
  options: http2.ClientSessionOptions,
): Promise<{ stream: number | undefined; connection: number | undefined }> {
  const session = http2.connect(authority, options);
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('remoteSettings', () => resolve());
      session.once('error', reject);
    });
    // The connection window grows by a WINDOW_UPDATE that follows the SETTINGS frame.
    await waitUntil(() => (session.state.remoteWindowSize ?? 0) > 65_535, { timeoutMs: 5000 });
    return {
      stream: session.remoteSettings.initialWindowSize,
      connection: session.state.remoteWindowSize,
    };
  } finally {
    session.destroy();
  }
}

describe('agent Write path', function () {
  this.timeout(60_000);
  let redis: RedisServerHandle;
  let agent: TestAgent;

  before(async function () {
    redis = await startRedisServer();
    agent = await startTestAgent({ redisUrl: redis.url });
  });
  after(async function () {
    await agent?.stop(0);
    await redis?.stop();
  });

  it('advertises its wide receive window over TCP and over the socket', async function () {
    expect(RECEIVE_WINDOW_BYTES).to.be.greaterThan(65_535);
    const overTcp = await advertisedWindows(`http://${agent.address}`, {});
    expect(overTcp).to.deep.equal({
      stream: RECEIVE_WINDOW_BYTES,
      connection: RECEIVE_WINDOW_BYTES,
    });
    const socketPath = agent.socketPath;
    const overSocket = await advertisedWindows('http://localhost', {
      createConnection: () => net.connect(socketPath),
    });
    expect(overSocket).to.deep.equal({
      stream: RECEIVE_WINDOW_BYTES,
      connection: RECEIVE_WINDOW_BYTES,
    });
  });

  it('stores an entry of several receive windows intact', async function () {
    const data = randomBytes(40 * MiB);
    const key = `write-path/${Date.now()}`;
    const client = rawClient(agent.address);
    try {
      const res = await writeEntry(
        client,
        { key, jobId: 'j', checkpointId: 1, size: data.length, crc32c: crc32c(data) },
        data,
        { chunkSize: 256 * 1024 },
      );
      expect(res.created).to.equal(true);
      expect(res.entry?.size).to.equal(data.length);
      const read = await readEntry(client, { key });
      expect(read.data.equals(data)).to.equal(true);
    } finally {
      client.close();
    }
  });
});
