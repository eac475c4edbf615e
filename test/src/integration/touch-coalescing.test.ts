/**
 * TTL touches of a hot entry: every read records the access in the index, but Redis hears of it at
 * most once per min(1 s, 1 % of the TTL). The metadata store is the real Redis one; the test only
 * counts what reaches it.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { EntryTouch, MetadataStore, NodeCache } from '@checkpoint-cache/cache';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import {
  openTestNodeCache,
  putEntry,
  readEntryBytes,
  type TestNodeCache,
} from '../helpers/node-cache';
import { waitUntil } from '../helpers/wait-until';

/** The real store, with every touch it is asked to send recorded. */
function recording(store: MetadataStore, sent: EntryTouch[]): MetadataStore {
  return new Proxy(store, {
    get(target, name, receiver) {
      if (name === 'touch') {
        return (touches: readonly EntryTouch[]) => {
          sent.push(...touches);
          return target.touch(touches);
        };
      }
      const value: unknown = Reflect.get(target, name, receiver);
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

describe('TTL touches of hot entries', function () {
  let redis: RedisServerHandle;
  let opened: TestNodeCache | undefined;
  let cache: NodeCache;
  const sent: EntryTouch[] = [];

  before(async function () {
    redis = await startRedisServer();
  });
  after(async function () {
    await redis?.stop();
  });
  beforeEach(async function () {
    sent.length = 0;
    opened = await openTestNodeCache(redis.url, 'hot', (store) => recording(store, sent));
    cache = opened.cache;
  });
  afterEach(async function () {
    await opened?.close();
  });

  const put = (key: string, ttlMs: number): Promise<void> =>
    putEntry(cache, key, randomBytes(1000), ttlMs);
  const read = async (key: string): Promise<void> => void (await readEntryBytes(cache, key));

  it('sends one touch per second for an entry read in a tight loop, and the access at once', async function () {
    await put('hot/a', 3_600_000);
    const started = Date.now();
    for (let i = 0; i < 200; i++) await read('hot/a');
    const elapsed = Date.now() - started;
    const lastRead = Date.now();
    await cache.close(); // flushes what is queued
    expect(sent.length).to.be.at.least(1);
    expect(sent.length, `${sent.length} touches in ${elapsed} ms`).to.be.at.most(
      1 + Math.ceil(elapsed / 1000),
    );
    // The index has the latest access, which decides an expiry (docs/expiry.md).
    const info = await cache.stat('hot/a', { touch: false });
    expect(info.lastAccessMs).to.be.at.least(lastRead - 50);
  });

  it('sends the next touch once the window has passed', async function () {
    await put('hot/b', 3_600_000);
    await read('hot/b');
    await waitUntil(() => sent.length === 1, { message: 'first touch sent' });
    const first = sent[0]!.atMs;
    await waitUntil(() => Date.now() - first > 1000, { intervalMs: 50 });
    await read('hot/b');
    await waitUntil(() => sent.length === 2, { message: 'second touch sent' });
    expect(sent[1]!.atMs - first).to.be.above(1000);
  });

  it('scales the window down with short TTLs (1 % of the TTL)', async function () {
    await put('hot/c', 2000); // window 20 ms
    await read('hot/c');
    await waitUntil(() => sent.length === 1, { message: 'first touch sent' });
    await new Promise((resolve) => setTimeout(resolve, 40));
    await read('hot/c');
    await waitUntil(() => sent.length === 2, { message: 'second touch sent' });
  });

  it('still sends explicit Touch calls every time', async function () {
    await put('hot/d', 3_600_000);
    for (let i = 0; i < 3; i++) await cache.touch('hot/d', {});
    await cache.close();
    expect(sent.filter((t) => t.id === sent[0]!.id)).to.have.length(3);
  });
});
