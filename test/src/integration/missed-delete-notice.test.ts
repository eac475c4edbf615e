/**
 * A holder that misses a delete's wake-up (issue 13): pub/sub messages are fire-and-forget, so a
 * wake-up published while the holder's subscriber was disconnected is lost; the notice itself
 * waits in the holder's pending deletes, which the agent drains every --reconcile-interval as
 * well. Here the notice is recorded without any wake-up at all, as a lost message leaves it, and
 * the holder drops its copy within one interval. (Kept apart from cluster-delete.test.ts, which
 * covers the wake-up path and a holder that was down.)
 */
import { randomBytes } from 'node:crypto';
import { entryIdOf } from '@checkpoint-cache/cache';
import { hasErrorCode, ErrorCode } from '@checkpoint-cache/errors';
import { writeEntry } from '../helpers/raw-client';
import { useSharedRedis } from '../helpers/shared-redis';
import { waitUntil } from '../helpers/wait-until';

describe('a delete notice whose wake-up was lost', function () {
  this.timeout(30_000);
  const shared = useSharedRedis('ckc-lost-wakeup');

  it('is applied by the holder within one reconcile interval', async function () {
    const intervalMs = 1_000;
    const b = await shared.agent({ reconcileInterval: intervalMs });
    const key = 'hdfs://nn/flink/ckpt/job/chk-5/wake-up-lost';
    await writeEntry(shared.client(b), { key, jobId: 'job', checkpointId: 5 }, randomBytes(4096));
    // What noticeDelete-1.lua leaves when its PUBLISH reaches nobody: the pending delete only.
    await shared.admin.zadd(b.metadata.keys.deletes(), Date.now(), entryIdOf(key));
    await waitUntil(
      async () => {
        try {
          await b.cache.stat(key, { touch: false });
          return false;
        } catch (err) {
          if (hasErrorCode(err, ErrorCode.NotFound)) return true;
          throw err;
        }
      },
      { timeoutMs: 10 * intervalMs, message: 'the holder kept a copy whose delete notice waited' },
    );
    // Dropped once applied, so no later drain applies it again.
    await waitUntil(async () => (await shared.admin.zcard(b.metadata.keys.deletes())) === 0, {
      timeoutMs: 5_000,
      message: 'the applied notice stayed in the pending deletes',
    });
  });
});
