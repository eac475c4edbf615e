/**
 * Key layout 1 (before issue 16) and the one-way migration out of it. Layout 1 kept per entry a
 * hash `<prefix>:{<node>}:entry:<hex id>` (key, labels, CRC32C, times), a TTL key `...:ttl:<hex
 * id>`, a member of the LRU sorted set `...:lru`, counters `...:bytes`/`...:count` and a location
 * set `<prefix>:loc:{<hex id>}` of node *names*: ~1.2 KB an entry.
 *
 * An agent of layout 2 never reads a layout-1 record: its first reconcile pass finds none of its
 * entries in layout 2 ('unknown') and registers each again from its sidecar (TTL restarted), as it
 * does after a Redis that lost its data. dropLegacyRecords then deletes what layout 1 left of this
 * node, so the memory comes back. The legacy location sets stay readable (LocationIndex.holders
 * reads them too) so that copies on nodes still running layout 1 during a rolling update are found.
 * Owns: layout-1 key names and their removal. Never: write a layout-1 key, or touch another
 * node's layout-1 keys (only this node's name is taken out of legacy location sets).
 */
import type { Logger } from '@checkpoint-cache/logger';
import type { KeyBuilder } from './key-builder';
import type { RedisConnection } from './redis-connection';

/** Entries deleted per round trip: bounds what one migration step asks of Redis. */
const BATCH = 500;

export class LegacyKeys {
  private readonly base: string;

  constructor(private readonly keys: KeyBuilder) {
    this.base = `${keys.prefix}:{${keys.nodeId}}:`;
  }

  entry(id: string): string {
    return `${this.base}entry:${id}`;
  }

  ttl(id: string): string {
    return `${this.base}ttl:${id}`;
  }

  lru(): string {
    return `${this.base}lru`;
  }

  bytes(): string {
    return `${this.base}bytes`;
  }

  count(): string {
    return `${this.base}count`;
  }

  /** Layout 1's location set of entry `id` (hex): members are node ids (names). */
  locations(id: string): string {
    return `${this.keys.prefix}:loc:{${id}}`;
  }
}

/**
 * Deletes this node's layout-1 records, TTL keys, LRU set and counters, and takes the node's name
 * out of the legacy location sets; resolves with how many records there were (0 when none: one
 * EXISTS). Safe to repeat and to interrupt: what is left is found again next time.
 */
export async function dropLegacyRecords(
  connection: RedisConnection,
  keys: KeyBuilder,
  logger: Logger,
): Promise<number> {
  const legacy = new LegacyKeys(keys);
  if ((await connection.exists(legacy.lru())) === 0) return 0;
  let dropped = 0;
  for (;;) {
    // ZSCAN changes under our own deletes; taking the first page again until it is empty does not.
    const ids = await connection.zrange(legacy.lru(), 0, BATCH - 1);
    if (ids.length === 0) break;
    const pipeline = connection.pipeline(); // one slot: the node's hash tag
    for (const id of ids) pipeline.del(legacy.entry(id), legacy.ttl(id));
    pipeline.zrem(legacy.lru(), ...ids);
    const replies = await pipeline.exec();
    for (const [err] of replies ?? []) if (err) throw err;
    // The location sets are in other slots: one command each, sent together.
    await Promise.all(ids.map((id) => connection.srem(legacy.locations(id), keys.nodeId)));
    dropped += ids.length;
  }
  await connection.del(legacy.lru(), legacy.bytes(), legacy.count());
  logger.info('records of key layout 1 removed from Redis (registered again in layout 2)', {
    records: dropped,
  });
  return dropped;
}
