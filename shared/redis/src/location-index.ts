/**
 * This node's part of the location index (entry -> nodes holding a verified copy), and reading it
 * back. An entry's set `<prefix>:l:{<rid>}` holds node *numbers* (KeyBuilder.nodeNumber): integers
 * keep a small set in Redis's intset encoding, ~130 B an entry with its key where a set of node
 * names cost ~300 B. `<prefix>:nodes` maps numbers back to node ids; each agent adds its own pair
 * before its first index write, and a number already taken by another node id stops it with a
 * message (52-bit numbers: a clash is ~1 in 10^8 at 10,000 nodes, but silent sharing would be
 * wrong). Holders also come from layout 1's sets of names (`<prefix>:loc:{<hex id>}`), written by
 * agents not yet updated during a rolling update.
 *
 * The sets are hashed by entry, so on a Redis Cluster they live in other slots than the node's
 * keys and are written with separate commands; RedisMetadataStore orders them around its scripts.
 * Never: map errors (the caller does), or write another node's number.
 */
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { Logger } from '@checkpoint-cache/logger';
import type { KeyBuilder } from './key-builder';
import { LegacyKeys } from './legacy-records';
import { isRedisCluster, type RedisConnection } from './redis-connection';

export class LocationIndex {
  private readonly legacy: LegacyKeys;
  /** Node numbers already read back from `<prefix>:nodes` (a pair never changes). */
  private readonly names = new Map<number, string>();
  private named: Promise<void> | undefined;

  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: KeyBuilder,
    private readonly logger: Logger,
  ) {
    this.legacy = new LegacyKeys(keys);
    this.names.set(keys.nodeNumber, keys.nodeId);
  }

  /**
   * Records number -> node id again before the next index write: called on every (re)connect, as
   * a Redis that restarted without its data forgot the pair (and other nodes could no longer
   * read this node's number back).
   */
  forgetNamed(): void {
    this.named = undefined;
  }

  /** Lists this node as holding entry `id`. */
  async add(id: string): Promise<void> {
    await this.nameThisNode();
    await this.connection.sadd(this.keys.locations(id), this.keys.nodeNumber);
  }

  /** Takes this node out of entry `id`'s set. */
  async remove(id: string): Promise<void> {
    await this.connection.srem(this.keys.locations(id), this.keys.nodeNumber);
  }

  /**
   * add() for many entries. On one Redis server, one pipeline: one socket write for the group, where
   * a command each cost a write and a promise each (issue #16: ~8 % of the agent's CPU in a burst of
   * small writes). On a cluster, one command each sent together: each set is in its own slot.
   */
  async addAll(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.nameThisNode();
    const n = this.keys.nodeNumber;
    if (isRedisCluster(this.connection)) {
      await Promise.all(ids.map((id) => this.connection.sadd(this.keys.locations(id), n)));
      return;
    }
    const pipeline = this.connection.pipeline();
    for (const id of ids) pipeline.sadd(this.keys.locations(id), n);
    for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
  }

  /** Node ids listed as holding entry `id` (this node included, if listed), in layout 2 or 1. */
  async holders(id: string): Promise<string[]> {
    const [numbers, legacyNames] = await Promise.all([
      this.connection.smembers(this.keys.locations(id)),
      this.connection.smembers(this.legacy.locations(id)),
    ]);
    const names = await this.namesOf(numbers.map(Number));
    return [...new Set([...names, ...legacyNames])];
  }

  /** Takes other nodes (by id) out of entry `id`'s sets, both layouts (delete notices sent). */
  async removeNodes(id: string, nodeIds: readonly string[]): Promise<void> {
    if (nodeIds.length === 0) return;
    const numbers = nodeIds.map((node) => this.keys.forNode(node).nodeNumber);
    await Promise.all([
      this.connection.srem(this.keys.locations(id), ...numbers),
      this.connection.srem(this.legacy.locations(id), ...nodeIds),
    ]);
  }

  private async namesOf(numbers: number[]): Promise<string[]> {
    const unknown = numbers.filter((n) => !this.names.has(n));
    if (unknown.length > 0) {
      const found = await this.connection.hmget(this.keys.nodes(), ...unknown.map(String));
      unknown.forEach((n, i) => {
        const name = found[i];
        if (name) this.names.set(n, name);
        else this.logger.debug('location index names an unknown node number', { number: n });
      });
    }
    return numbers.flatMap((n) => {
      const name = this.names.get(n);
      return name === undefined ? [] : [name];
    });
  }

  /** Records number -> node id once per process; a number of another node id is refused. */
  private nameThisNode(): Promise<void> {
    this.named ??= this.recordName().catch((err: unknown) => {
      this.named = undefined; // tried again by the next write
      throw err;
    });
    return this.named;
  }

  private async recordName(): Promise<void> {
    const { nodeNumber, nodeId } = this.keys;
    const nodes = this.keys.nodes();
    if ((await this.connection.hsetnx(nodes, String(nodeNumber), nodeId)) === 1) return;
    const holder = await this.connection.hget(nodes, String(nodeNumber));
    if (holder !== null && holder !== nodeId) {
      throw new CacheError(
        ErrorCode.FailedPrecondition,
        `node id ${JSON.stringify(nodeId)} has the same location-index number (${nodeNumber}) ` +
          `as node ${JSON.stringify(holder)}; give this node another --node-id`,
      );
    }
  }
}
