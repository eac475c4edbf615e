/**
 * A whole agent against a real 3-master Redis Cluster: writes, reads, touches and TTL expiry work
 * unchanged, for node ids whose keys land on different masters; and between agents sharing one
 * prefix, the location index (hashed by entry, in other slots than the nodes' keys), peer reads
 * and deletes that reach every copy (notices in the holder's slot).
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { entryIdOf } from '@checkpoint-cache/cache';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { rawClient, readEntry, unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { freePort } from '../helpers/free-port';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster';
import { waitUntil } from '../helpers/wait-until';

describe('agent on a Redis Cluster', function () {
  this.timeout(120_000);
  let cluster: RedisClusterHandle;
  const agents: TestAgent[] = [];
  const clients: RawClient[] = [];

  before(async function () {
    cluster = await startRedisCluster({ masters: 3 });
    // One node id per master: all of a node's keys share the hash tag {<node id>}.
    const byMaster = new Map<number, string>();
    for (let i = 0; byMaster.size < 3 && i < 1000; i++) {
      const nodeId = `cluster-node-${i}`;
      const owner = await cluster.ownerOf(await cluster.slotOf(`{${nodeId}}`));
      if (!byMaster.has(owner)) byMaster.set(owner, nodeId);
    }
    expect(byMaster.size).to.equal(3);
    for (const nodeId of byMaster.values()) {
      const agent = await startTestAgent({
        redisUrl: cluster.url,
        nodeId,
        reconcileInterval: 3_600_000,
      });
      agents.push(agent);
      clients.push(rawClient(agent.address));
    }
  });
  after(async function () {
    for (const c of clients) c.close();
    for (const a of agents) await a.stop();
    await cluster?.stop();
  });

  it('round-trips entries and expires them on every master', async function () {
    for (const [i, client] of clients.entries()) {
      const data = randomBytes(300_000);
      await writeEntry(client, { key: `k${i}`, jobId: 'j', ttlMs: 600_000 }, data);
      expect((await readEntry(client, { key: `k${i}` })).data.equals(data)).to.equal(true);
      await unary(client, 'touch', { key: `k${i}`, checkpointId: 7 });
      // The reference is the agent's (its index and sidecar); Redis holds the record.
      expect((await agents[i]!.cache.stat(`k${i}`, { touch: false })).checkpointIds).to.include(7);
      expect(await agents[i]!.metadata.getRecord(entryIdOf(`k${i}`))).to.not.equal(undefined);
      await writeEntry(client, { key: `short${i}`, jobId: 'j', ttlMs: 300 }, randomBytes(10));
    }
    for (const [i, agent] of agents.entries()) {
      await waitUntil(
        async () => (await agent.metadata.getRecord(entryIdOf(`short${i}`))) === undefined,
        {
          timeoutMs: 20_000,
          message: `short${i} did not expire on ${agent.nodeId}`,
        },
      );
      expect(agent.cache.usage().entries).to.equal(1);
    }
  });

  it('serves a peer read and a delete that reaches every copy between nodes on different masters', async function () {
    // Two node ids whose keys live on different masters.
    const byMaster = new Map<number, string>();
    for (let i = 0; byMaster.size < 2 && i < 1000; i++) {
      const nodeId = `peer-node-${i}`;
      const owner = await cluster.ownerOf(await cluster.slotOf(`{${nodeId}}`));
      if (!byMaster.has(owner)) byMaster.set(owner, nodeId);
    }
    const nodeIds = [...byMaster.values()];
    expect(nodeIds).to.have.length(2);
    const prefix = `ckc-cluster-peers-${process.pid}`;
    const pair: TestAgent[] = [];
    for (const nodeId of nodeIds) {
      const port = await freePort();
      const agent = await startTestAgent({
        redisUrl: cluster.url,
        redisPrefix: prefix,
        nodeId,
        listen: `127.0.0.1:${port}`,
        peerAddress: `127.0.0.1:${port}`,
      });
      pair.push(agent);
      agents.push(agent);
    }
    const [a, b] = pair as [TestAgent, TestAgent];
    const [ca, cb] = [rawClient(a.address), rawClient(b.address)];
    clients.push(ca, cb);
    const key = 'hdfs://nn/flink/ckpt/job/shared/on-the-cluster';
    const data = randomBytes(1_500_000);
    await writeEntry(ca, { key, jobId: 'j', checkpointId: 1 }, data);
    const read = await readEntry(cb, { key });
    expect(read.header?.source).to.equal('SOURCE_PEER');
    expect(read.data.equals(data)).to.equal(true);
    expect((await a.metadata.holders(entryIdOf(key))).sort()).to.deep.equal(
      [a.nodeId, b.nodeId].sort(),
    );
    await unary(ca, 'delete', { key });
    await waitUntil(
      async () => (await b.cache.stat(key, { touch: false }).catch(() => undefined)) === undefined,
      { timeoutMs: 10_000, message: "B's copy to be deleted by the delete asked on A" },
    );
    expect(await a.metadata.holders(entryIdOf(key))).to.deep.equal([]);
  });
});
