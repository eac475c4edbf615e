/**
 * Deletes of a directory that reach every copy (issue 13: the Flink plugin's recursive delete).
 * Two real agents with their own cache dirs and node ids share one real Redis and key prefix. A
 * DeletePrefix on one node removes the entries below the directory on every node, also those only
 * the other node holds (which a List on the asking node cannot find); a node that was down applies
 * it when it is back; a sibling directory whose name starts the same stays; the write-access
 * policy is applied where the delete is asked; bad prefixes get INVALID_ARGUMENT.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { hasErrorCode, ErrorCode } from '@checkpoint-cache/errors';
import type { TestAgent } from '../helpers/agent';
import { unary, writeEntry } from '../helpers/raw-client';
import { rejection } from '../helpers/rejection';
import { useSharedRedis } from '../helpers/shared-redis';
import { waitUntil } from '../helpers/wait-until';

interface PrefixReply {
  entries: number;
  bytes: number;
  nodesTold: number;
}

describe('directory deletes that reach every node', function () {
  this.timeout(30_000);
  const shared = useSharedRedis('ckc-pdel', ['--notify-keyspace-events', 'Ex']);
  const dir = 'hdfs://nn/flink/ckpt/job/chk-1/';

  async function put(a: TestAgent, key: string): Promise<void> {
    await writeEntry(shared.client(a), { key, jobId: 'job', checkpointId: 1 }, randomBytes(2048));
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

  const deletePrefix = (a: TestAgent, prefix: string): Promise<PrefixReply> =>
    unary<object, PrefixReply>(shared.client(a), 'deletePrefix', { prefix });

  it("removes the directory's entries on every node, also those only another node holds", async function () {
    const a = await agent();
    const b = await agent();
    await put(a, `${dir}on-a`);
    await put(b, `${dir}on-b`);
    await put(b, `${dir}sub/deeper-on-b`);
    // chk-10 starts like chk-1 but is another directory; it stays.
    const sibling = 'hdfs://nn/flink/ckpt/job/chk-10/on-b';
    await put(b, sibling);
    const reply = await deletePrefix(a, dir);
    expect(reply).to.deep.equal({ entries: 1, bytes: 2048, nodesTold: 1 });
    expect(await holds(a, `${dir}on-a`)).to.equal(false);
    await waitUntil(
      async () => !(await holds(b, `${dir}on-b`)) && !(await holds(b, `${dir}sub/deeper-on-b`)),
      { timeoutMs: 5000, message: 'node B still holds entries below the directory deleted on A' },
    );
    expect(await holds(b, sibling)).to.equal(true);
    await waitUntil(async () => (await shared.admin.zcard(b.metadata.keys.deletes())) === 0, {
      timeoutMs: 5000,
      message: 'the applied directory notice stayed in node B pending deletes',
    });
  });

  it('reaches a node that was down at the time, and keeps what it writes again later', async function () {
    const a = await agent();
    const b = await agent();
    await put(b, `${dir}old`);
    await b.shutdown();
    const reply = await deletePrefix(a, dir);
    expect(reply.entries).to.equal(0);
    expect(reply.nodesTold).to.equal(1);
    await b.restart();
    await waitUntil(async () => !(await holds(b, `${dir}old`)), {
      timeoutMs: 5000,
      message: 'node B kept an entry below a directory deleted while it was down',
    });
    // Once the notice is applied and dropped, a new write below the directory stays.
    await waitUntil(async () => (await shared.admin.zcard(b.metadata.keys.deletes())) === 0, {
      timeoutMs: 5000,
      message: 'the directory notice stayed in node B pending deletes',
    });
    await put(b, `${dir}new`);
    expect(await holds(b, `${dir}new`)).to.equal(true);
  });

  it('applies the write-access policy where the delete is asked', async function () {
    const a = await agent({ writeAccess: 'socket' });
    const b = await agent();
    await put(b, `${dir}guarded`);
    const err = await rejection(deletePrefix(a, dir));
    expect((err as grpc.ServiceError).code).to.equal(grpc.status.PERMISSION_DENIED);
    expect(await shared.admin.zcard(b.metadata.keys.deletes())).to.equal(0);
    expect(await holds(b, `${dir}guarded`)).to.equal(true);
  });

  it('refuses a prefix that is not a directory, with a message saying what to pass', async function () {
    const a = await agent();
    await put(a, 'hdfs://nn/flink/ckpt/job/chk-10/x');
    for (const prefix of ['', 'hdfs://nn/flink/ckpt/job/chk-1', 'x'.repeat(1024) + '/']) {
      const err = (await rejection(deletePrefix(a, prefix))) as grpc.ServiceError;
      expect(err.code, JSON.stringify(prefix.slice(0, 40))).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(err.details).to.match(/prefix/);
    }
    expect(await holds(a, 'hdfs://nn/flink/ckpt/job/chk-10/x')).to.equal(true);
  });

  function agent(overrides?: Record<string, unknown>): Promise<TestAgent> {
    return shared.agent(overrides);
  }
});
