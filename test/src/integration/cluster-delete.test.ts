/**
 * Deletes that reach every copy (issue 13 item 2): two real agents with their own cache dirs and
 * node ids share one real Redis and key prefix, as a DaemonSet's agents do. A Delete on one node
 * removes the other node's copy within seconds (a notice in the holder's pending deletes and a
 * wake-up message); a holder that was down when the delete happened applies it when it is back
 * (the notice waits in Redis); the write-access policy is applied where the delete is asked; a
 * copy made after the delete survives a late notice.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { entryIdOf, NOTICE_CLOCK_ALLOWANCE_MS } from '@checkpoint-cache/cache';
import { hasErrorCode, ErrorCode } from '@checkpoint-cache/errors';
import type { TestAgent } from '../helpers/agent';
import { unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { rejection } from '../helpers/rejection';
import { useSharedRedis } from '../helpers/shared-redis';
import { waitUntil } from '../helpers/wait-until';

describe('deletes that reach every copy', function () {
  this.timeout(30_000);
  const shared = useSharedRedis('ckc-cdel', ['--notify-keyspace-events', 'Ex']);

  const agent = (overrides?: Record<string, unknown>): Promise<TestAgent> =>
    shared.agent(overrides);
  const client = (a: TestAgent): RawClient => shared.client(a);

  async function put(a: TestAgent, key: string): Promise<void> {
    await writeEntry(client(a), { key, jobId: 'job', checkpointId: 1 }, randomBytes(4096));
  }

  async function holds(a: TestAgent, key: string): Promise<boolean> {
    try {
      await a.cache.stat(key, { touch: false });
      return true;
    } catch (err) {
      if (hasErrorCode(err, ErrorCode.NotFound)) return false;
      throw err;
    }
  }

  it('a Delete on one node removes the copy on the other within seconds', async function () {
    const a = await agent();
    const b = await agent();
    const key = 'hdfs://nn/flink/ckpt/job/chk-1/shared-1';
    await put(a, key);
    await put(b, key);
    expect((await a.metadata.holders(entryIdOf(key))).sort()).to.deep.equal(
      [a.nodeId, b.nodeId].sort(),
    );
    const reply = await unary<object, { deleted: boolean }>(client(a), 'delete', { key });
    expect(reply.deleted).to.equal(true);
    await waitUntil(async () => !(await holds(b, key)), {
      timeoutMs: 5000,
      message: 'node B still holds the entry deleted on node A',
    });
    expect(await a.metadata.holders(entryIdOf(key))).to.deep.equal([]);
    // The notice is dropped right after it was applied.
    await waitUntil(async () => (await shared.admin.zcard(b.metadata.keys.deletes())) === 0, {
      timeoutMs: 5000,
      message: 'the applied notice stayed in node B pending deletes',
    });
  });

  it('reaches the copy of a node that only holds it, and one that was down at the time', async function () {
    const a = await agent();
    const b = await agent();
    const key = 'hdfs://nn/flink/ckpt/job/chk-2/only-on-b';
    await put(b, key);
    await b.shutdown();
    // Asked on A, which never held the entry: deleted = false here, the notice waits for B.
    const reply = await unary<object, { deleted: boolean }>(client(a), 'delete', { key });
    expect(reply.deleted).to.equal(false);
    expect(await shared.admin.zscore(b.metadata.keys.deletes(), entryIdOf(key))).to.not.equal(null);
    await b.restart();
    await waitUntil(async () => !(await holds(b, key)), {
      timeoutMs: 5000,
      message: 'node B kept the entry deleted while it was down',
    });
    await waitUntil(async () => (await shared.admin.zcard(b.metadata.keys.deletes())) === 0, {
      timeoutMs: 5000,
      message: 'the applied notice stayed in node B pending deletes',
    });
  });

  it('applies the write-access policy where the delete is asked', async function () {
    const a = await agent({ writeAccess: 'socket' });
    const b = await agent();
    const key = 'hdfs://nn/flink/ckpt/job/chk-3/guarded';
    await put(b, key);
    // A's TCP listener may not change the cache: refused there, nothing reaches B.
    const err = await rejection(unary(client(a), 'delete', { key }));
    expect((err as grpc.ServiceError).code).to.equal(grpc.status.PERMISSION_DENIED);
    expect(await shared.admin.zcard(b.metadata.keys.deletes())).to.equal(0);
    expect(await holds(b, key)).to.equal(true);
  });

  it('keeps a copy made after the delete (a late notice)', async function () {
    const b = await agent();
    const key = 'hdfs://nn/flink/ckpt/job/chk-4/written-again';
    await put(b, key);
    const id = entryIdOf(key);
    // A notice of a delete that happened well before this copy was made, delivered late.
    const longAgo = Date.now() - NOTICE_CLOCK_ALLOWANCE_MS - 60_000;
    await shared.admin.zadd(b.metadata.keys.deletes(), longAgo, id);
    await shared.admin.publish(b.metadata.keys.deletedChannel(), id);
    await waitUntil(async () => (await shared.admin.zcard(b.metadata.keys.deletes())) === 0, {
      timeoutMs: 5000,
      message: 'node B did not handle the notice',
    });
    expect(await holds(b, key)).to.equal(true);
  });
});
