/**
 * Reads racing removals in NodeCache, on a real Redis: a read that starts while its entry is being
 * deleted must not leave the deleted file's handle in the open-file cache, where the next entry
 * under the same key would be read (and then deleted as corrupt) through it.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { NodeCache } from '@checkpoint-cache/cache';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import {
  openTestNodeCache,
  putEntry,
  readEntryBytes,
  type TestNodeCache,
} from '../helpers/node-cache';
import { waitUntil } from '../helpers/wait-until';

/** Files under `root` this process holds open that have been unlinked. */
function openDeletedFiles(root: string): string[] {
  const links: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      links.push(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return links.filter((l) => l.startsWith(root) && l.endsWith('(deleted)'));
}

describe('node cache: reads racing removals', function () {
  let redis: RedisServerHandle;
  let opened: TestNodeCache | undefined;
  let cache: NodeCache;
  let root: string;

  before(async function () {
    redis = await startRedisServer();
  });
  after(async function () {
    await redis?.stop();
  });
  beforeEach(async function () {
    opened = await openTestNodeCache(redis.url, 'races');
    ({ cache, root } = opened);
  });
  afterEach(async function () {
    await opened?.close();
  });

  const put = (key: string, data: Buffer): Promise<void> => putEntry(cache, key, data);
  const readAll = (key: string): Promise<Buffer> => readEntryBytes(cache, key);

  it('reads the new bytes of a key deleted during a read and written again, whatever the timing', async function () {
    for (let delay = 0; delay < 12; delay++) {
      const key = `race/${delay}`;
      const first = randomBytes(200_000);
      const second = randomBytes(200_000);
      await put(key, first);
      const deleting = cache.delete(key);
      for (let i = 0; i < delay; i++) await null;
      const racing = await readAll(key).then(
        (bytes) => ({ bytes }),
        (error: unknown) => ({ error }),
      );
      expect(await deleting).to.equal(true);
      if ('bytes' in racing) expect(racing.bytes.equals(first), `delay ${delay}`).to.equal(true);
      else {
        expect(racing.error).to.be.instanceOf(CacheError);
        expect((racing.error as CacheError).code).to.equal(ErrorCode.NotFound);
      }
      await put(key, second);
      expect((await readAll(key)).equals(second), `delay ${delay}: new bytes`).to.equal(true);
    }
    await waitUntil(() => openDeletedFiles(root).length === 0, {
      message: 'no deleted entry file left open',
    });
  });
});
