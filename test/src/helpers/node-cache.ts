/** NodeCache on a real Redis, written and read directly, for tests below the gRPC service. */
import { NodeCache, type MetadataStore } from '@checkpoint-cache/cache';
import { crc32c } from '@checkpoint-cache/checksum';
import { KeyBuilder, RedisMetadataStore, createRedisConnection } from '@checkpoint-cache/redis';
import { makeTempDir, removeTempDir } from './temp-dir';

/** Stores `data` under `key` (job "j", checkpoint 1) with its CRC32C. */
export async function putEntry(
  cache: NodeCache,
  key: string,
  data: Buffer,
  ttlMs?: number,
): Promise<void> {
  const writer = await cache.beginWrite({
    key,
    jobId: 'j',
    checkpointId: 1,
    ...(ttlMs === undefined ? {} : { ttlMs }),
  });
  await writer.append(0, data, crc32c(data));
  await writer.commit();
}

/** The whole entry, read as the service reads it (pooled buffers given back). */
export async function readEntryBytes(cache: NodeCache, key: string): Promise<Buffer> {
  const reader = await cache.openRead(key, { offset: 0 });
  const parts: Buffer[] = [];
  try {
    for await (const chunk of reader.chunks(1 << 20)) {
      parts.push(Buffer.from(chunk.data));
      chunk.release?.();
    }
  } finally {
    await reader.close();
  }
  return Buffer.concat(parts);
}

/** A NodeCache in a temp dir on a real Redis store, ready to read and write. */
export interface TestNodeCache {
  cache: NodeCache;
  store: RedisMetadataStore;
  root: string;
  /** Closes the cache and the store, removes the temp dir. */
  close(): Promise<void>;
}

export async function openTestNodeCache(
  redisUrl: string,
  nodeId: string,
  /** Wraps the store the cache uses (e.g. to record its calls); the store itself is returned. */
  wrap: (store: MetadataStore) => MetadataStore = (store) => store,
): Promise<TestNodeCache> {
  const root = await makeTempDir(`ckc-${nodeId}-`);
  const store = new RedisMetadataStore(
    createRedisConnection(redisUrl),
    new KeyBuilder('ckc', nodeId),
  );
  await store.ready();
  const cache = await NodeCache.open({
    root,
    nodeId,
    metadata: wrap(store),
    defaultTtlMs: 3_600_000,
  });
  await cache.whenIndexReady();
  return {
    cache,
    store,
    root,
    async close() {
      await cache.close();
      await store.close();
      await removeTempDir(root);
    },
  };
}
