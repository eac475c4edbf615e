/**
 * MetadataStore on Redis: one node's entry records, TTL keys and counters, changed only through
 * the Lua scripts (Scripts) and named only by the KeyBuilder (key layout 2: what an entry costs
 * and why is in key-builder.ts and registerEntry-4.lua). Every Redis failure leaves
 * as a CacheError: Unavailable when Redis cannot be used now, so the node keeps serving hits.
 * Works on one server and on a Redis Cluster alike: all keys of a node share its hash tag, so
 * every script, pipeline and multi-key command goes to one slot.
 *
 * Also keeps this node's part of the location index (entry -> nodes holding a verified copy,
 * LocationIndex). Those sets are hashed by entry, so on a Redis Cluster they live in other
 * slots than the node's keys and cannot change in the node's Lua scripts; they are written with
 * separate commands, ordered so that the index may list a node that no longer holds an entry
 * (harmless: that node answers NOT_FOUND or ignores a delete notice) but never misses one that
 * does: register adds the node *before* the record script runs (a failed add fails the register,
 * as an unreachable Redis does), remove takes it out *after* (a failed take-out is logged; the
 * index says "maybe" until reconcile or the next delete), and every reconcile pass re-adds the
 * node for each entry it finds alive (advertise), which repairs a lost index within one interval.
 * Never: touch another node's keys, wait for a connection (commands fail fast), or delete files.
 */
import type {
  EntryMetadata,
  EntryState,
  EntryTtlState,
  EntryTouch,
  MetadataStore,
} from '@checkpoint-cache/cache';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { silentLogger, type Logger } from '@checkpoint-cache/logger';
import type { KeyBuilder } from './key-builder';
import { parseRecord, type EntryRecord } from './entry-record';
import { dropLegacyRecords } from './legacy-records';
import { LocationIndex } from './location-index';
import {
  describeRedisConnection,
  isRedisCluster,
  waitForRedis,
  type RedisConnection,
} from './redis-connection';
import { isRedisAuthError, toCacheError } from './redis-error';
import { Scripts } from './scripts';

export type { EntryRecord } from './entry-record';

export interface RedisMetadataStoreOptions {
  /** close() quits the connection. Default true; false when the connection is shared. */
  ownsConnection?: boolean;
}

/** What a node holds according to its counters. */
export interface NodeUsage {
  bytes: number;
  entries: number;
}

function checkWholeNumber(id: string, name: string, value: number, min = 0): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new CacheError(
      ErrorCode.InvalidArgument,
      `entry ${id}: ${name} must be a whole number from ${min} to ${Number.MAX_SAFE_INTEGER}, ` +
        `got ${value}`,
    );
  }
}

/** Rejects metadata no script may store (InvalidArgument, before any command is sent). */
function checkEntry(entry: EntryMetadata): void {
  checkWholeNumber(entry.id, 'size', entry.size);
  checkWholeNumber(entry.id, 'crc32c', entry.crc32c);
  checkWholeNumber(entry.id, 'createdAtMs', entry.createdAtMs);
  checkWholeNumber(entry.id, 'lastAccessMs', entry.lastAccessMs);
  checkWholeNumber(entry.id, 'ttlMs', entry.ttlMs, 1);
  for (const c of entry.checkpointIds) checkWholeNumber(entry.id, 'checkpoint id', c);
}

/** What checkAccess found out about the permissions of the connection's Redis user. */
export interface RedisAccessCheck {
  /** False when the server cannot tell (before Redis 7.0): nothing was checked. */
  verified: boolean;
  /** Commands the agent needs that Redis refuses, as "COMMAND key ..."; empty when none. */
  refused: string[];
}

/** Entry id whose keys checkAccess asks about (sha256 of nothing a client can write: ''). */
const ACCESS_PROBE_ID = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** Largest page scanIds asks Redis for, so one call never blocks Redis for long. */
const MAX_SCAN_COUNT = 10_000;

function toNumber(text: string | undefined): number {
  return text === undefined || text === '' ? 0 : Number(text);
}

export class RedisMetadataStore implements MetadataStore {
  private readonly scripts: Scripts;
  private readonly index: LocationIndex;
  private readonly logger: Logger;
  private readonly ownsConnection: boolean;
  /** Where Redis is, for messages: never the URL (it may hold a password). */
  private readonly endpoint: string;
  private closed = false;
  /** Why the connection is down, while it is; cleared when it is ready again. */
  private connectionError: Error | undefined;

  /**
   * `connection` from createRedisConnection; `keys` names this node's keys. Commands fail fast
   * while the connection is not ready: await `ready()` at start-up before the first write.
   */
  constructor(
    private readonly connection: RedisConnection,
    readonly keys: KeyBuilder,
    logger: Logger = silentLogger,
    options: RedisMetadataStoreOptions = {},
  ) {
    this.logger = logger.child({ node: keys.nodeId });
    this.ownsConnection = options.ownsConnection ?? true;
    this.endpoint = describeRedisConnection(connection);
    this.scripts = new Scripts(connection, keys);
    this.index = new LocationIndex(connection, keys, this.logger);
    connection.on('error', this.onConnectionError);
    connection.on('ready', this.onConnectionReady);
  }

  private readonly onConnectionError = (err: Error): void => {
    this.connectionError = err;
  };
  private readonly onConnectionReady = (): void => {
    this.connectionError = undefined;
    this.index.forgetNamed();
  };

  isAvailable(): boolean {
    return !this.closed && this.connection.status === 'ready';
  }

  /** Resolves once Redis takes commands; CacheError(Unavailable) after `timeoutMs`. */
  async ready(timeoutMs?: number): Promise<void> {
    await this.call('wait for Redis', () => waitForRedis(this.connection, timeoutMs));
  }

  async register(entry: EntryMetadata): Promise<void> {
    checkEntry(entry);
    await this.call('add the node to the location index', () => this.index.add(entry.id));
    const isNew = await this.call('register entry metadata', () =>
      this.scripts.registerEntry(entry),
    );
    this.logger.debug(isNew ? 'entry registered' : 'entry re-registered', { id: entry.id });
  }

  /**
   * register for a group of entries: the node is added to each one's location index first (one
   * command each, sent together: the sets are in other slots), then every record script runs in
   * one MULTI in the node's slot. A failed SADD fails the group before any record is written.
   */
  async registerAll(entries: readonly EntryMetadata[]): Promise<void> {
    if (entries.length === 0) return;
    for (const entry of entries) checkEntry(entry);
    await this.call('add the node to the location index', () =>
      this.index.addAll(entries.map((e) => e.id)),
    );
    await this.call('register entry metadata', () => this.scripts.registerEntries(entries));
    this.logger.debug('entries registered', { count: entries.length });
  }

  async touch(touches: readonly EntryTouch[]): Promise<void> {
    if (touches.length === 0) return;
    for (const t of touches) {
      checkWholeNumber(t.id, 'touch time', t.atMs);
      checkWholeNumber(t.id, 'ttlMs', t.ttlMs, 1);
    }
    await this.call('touch entries', () => this.scripts.touchEntries(touches));
  }

  /**
   * Holds this node id for `holdMs` on behalf of the agent whose token is `token`, or refreshes the
   * hold; returns the other agent's token, changing nothing, when another agent holds it.
   */
  async claimNode(token: string, holdMs: number): Promise<string | undefined> {
    if (!Number.isSafeInteger(holdMs) || holdMs < 1) {
      throw new CacheError(ErrorCode.InvalidArgument, `hold must be 1 ms or more, got ${holdMs}`);
    }
    return this.call('claim the node id', () => this.scripts.claimNode(token, holdMs));
  }

  /** Gives the node id up if `token` holds it. */
  async releaseNode(token: string): Promise<void> {
    await this.call('release the node id', () => this.scripts.claimNode(token, 0));
  }

  async remove(id: string): Promise<void> {
    const existed = await this.call('remove entry metadata', () => this.scripts.removeEntry(id));
    if (existed) this.logger.debug('entry metadata removed', { id });
    try {
      await this.call('take the node out of the location index', () => this.index.remove(id));
    } catch (error) {
      // Only a stale "maybe here" remains: a delete notice or peer read finds nothing and goes on.
      this.logger.warn('location index still lists this node for a removed entry', { id, error });
    }
  }

  /**
   * Adds this node to the location index of entries it holds alive (reconcile calls it each
   * pass). One command per entry, sent without waiting for each reply: the sets are in different
   * slots, so a cluster cannot take them as one pipeline.
   */
  async advertise(ids: readonly string[]): Promise<void> {
    await this.call('add the node to the location index', () => this.index.addAll(ids));
  }

  /** Node ids the location index lists as holding entry `id` (this node included, if listed). */
  async holders(id: string): Promise<string[]> {
    return this.call('read the location index', () => this.index.holders(id));
  }

  /** Takes other nodes out of entry `id`'s location index (their delete notices were sent). */
  async forgetHolders(id: string, nodeIds: readonly string[]): Promise<void> {
    await this.call('update the location index', () => this.index.removeNodes(id, nodeIds));
  }

  /**
   * Deletes what key layout 1 (before issue 16) left of this node in Redis; the number of records
   * it had (0, after one EXISTS, when none). Reconcile registers the node's entries in layout 2.
   */
  async dropLegacyRecords(): Promise<number> {
    return this.call('remove records of key layout 1', () =>
      dropLegacyRecords(this.connection, this.keys, this.logger),
    );
  }

  /** Records `host:port` as the address at which other agents reach this node's agent. */
  async advertisePeerAddress(address: string): Promise<void> {
    await this.call('advertise the peer address', () =>
      this.connection.set(this.keys.peer(), address),
    );
  }

  /**
   * The peer address node `nodeId` advertised, or undefined, also when no agent holds that node
   * id now (its owner key lapsed 30 s after the agent was gone: a lost node is not dialled).
   */
  async peerAddress(nodeId: string): Promise<string | undefined> {
    const node = this.keys.forNode(nodeId);
    // Both keys carry the node's hash tag: one slot, one MGET on a cluster too.
    const [address, owner] = await this.call('read a peer address', () =>
      this.connection.mget(node.peer(), node.owner()),
    );
    return address && owner ? address : undefined;
  }

  /**
   * A snapshot, not a promise: an entry reported 'expired' may be touched or re-registered a
   * moment later, which is why deleting goes through claimExpired, which re-checks atomically.
   */
  async states(ids: readonly string[]): Promise<EntryState[]> {
    return (await this.ttlStates(ids)).map((s) => s.state);
  }

  /**
   * One pipelined round trip of PTTL per id; then, for the ids whose TTL key is gone, one of
   * HEXISTS of the record ('expired' or 'unknown'). Reconcile's cost is thus one command per
   * live entry checked.
   */
  async ttlStates(ids: readonly string[]): Promise<EntryTtlState[]> {
    if (ids.length === 0) return [];
    return this.call('read entry states', async () => {
      const ttls = await this.pipelined(ids, (p, id) => p.pttl(this.keys.ttl(id)));
      const gone = ids.filter((_, i) => ttls[i] === -2);
      const records = this.keys.entries();
      const known = await this.pipelined(gone, (p, id) =>
        p.hexists(records, this.keys.recordId(id)),
      );
      let g = 0;
      return ids.map((_, i): EntryTtlState => {
        const ms = ttls[i] as number;
        if (ms !== -2) return { state: 'alive', ttlRemainingMs: ms === -1 ? Infinity : ms };
        return { state: known[g++] === 1 ? 'expired' : 'unknown' };
      });
    });
  }

  /** One pipeline of one numeric-reply command per id, its replies in order. */
  private async pipelined(
    ids: readonly string[],
    add: (pipeline: ReturnType<RedisConnection['pipeline']>, id: string) => void,
  ): Promise<number[]> {
    if (ids.length === 0) return [];
    const pipeline = this.connection.pipeline();
    for (const id of ids) add(pipeline, id);
    const replies = await pipeline.exec();
    if (!replies) throw new CacheError(ErrorCode.Internal, 'entry state pipeline was discarded');
    for (const [err] of replies) if (err) throw err;
    return replies.map(([, value]) => Number(value));
  }

  async claimExpired(id: string): Promise<boolean> {
    const claimed = await this.call('claim expired entry', () => this.scripts.claimExpired(id));
    if (claimed) this.logger.debug('expired entry claimed', { id });
    return claimed;
  }

  /**
   * HSCAN of the node's records hash. One key, so it costs what this node holds, not what the
   * whole Redis holds, and on a Redis Cluster it goes to the one master that owns the node's
   * slot. Like every SCAN, an id may come twice, and ids added during the scan may or may not.
   */
  async scanIds(cursor: string, count: number): Promise<{ ids: string[]; cursor: string }> {
    if (typeof cursor !== 'string' || !/^\d+$/.test(cursor)) {
      throw new CacheError(
        ErrorCode.InvalidArgument,
        `scan cursor must be '0' or a cursor returned by scanIds, got ${JSON.stringify(cursor)}`,
      );
    }
    if (!Number.isSafeInteger(count) || count < 1) {
      throw new CacheError(
        ErrorCode.InvalidArgument,
        `scan count must be a whole number of at least 1, got ${count}`,
      );
    }
    const [next, flat] = await this.call('scan entry ids', () =>
      this.connection.hscan(this.keys.entries(), cursor, 'COUNT', Math.min(count, MAX_SCAN_COUNT)),
    );
    // HSCAN answers field, value, field, value, ...; a field that is no record id is skipped.
    const ids: string[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const id = this.keys.idOfRecord(flat[i]!);
      if (id !== undefined) ids.push(id);
    }
    return { ids, cursor: next };
  }

  /** Refuses further calls and quits the connection if the store owns it; idempotent. */
  /**
   * Asks Redis, without changing anything, whether the connection's user may run every command
   * the agent sends on this node's keys (Redis 7.0+; older servers answer `verified: false`).
   * Rejects with CacheError(Unavailable) when Redis cannot be asked.
   */
  async checkAccess(): Promise<RedisAccessCheck> {
    const connection = this.connection;
    const cluster = isRedisCluster(connection);
    const db = cluster ? undefined : connection.options.db;
    try {
      const refused = await this.scripts.checkAccess(ACCESS_PROBE_ID, db, cluster);
      return refused === undefined ? { verified: false, refused: [] } : { verified: true, refused };
    } catch (err) {
      // The check is a script: a user who may not run scripts, or not on these keys, is refused
      // the check itself.
      if (isRedisAuthError(err)) {
        const keys = `${this.keys.entries()} ...`;
        return { verified: true, refused: [`EVALSHA/EVAL on ${keys} (${(err as Error).message})`] };
      }
      throw toCacheError(err, "check the Redis user's permissions", this.endpoint);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connection.off('error', this.onConnectionError);
    this.connection.off('ready', this.onConnectionReady);
    if (!this.ownsConnection) return;
    if (this.connection.status === 'end') return;
    try {
      await this.connection.quit();
    } catch {
      // Not connected: nothing to say goodbye to; stop reconnecting.
      this.connection.disconnect();
    }
  }

  /** What Redis holds of an entry of this node, or undefined if it has no record. */
  async getRecord(id: string): Promise<EntryRecord | undefined> {
    const value = await this.call('read entry record', () =>
      this.connection.hget(this.keys.entries(), this.keys.recordId(id)),
    );
    return value === null ? undefined : parseRecord(id, value);
  }

  /**
   * Milliseconds until the entry's TTL key expires; undefined when there is no TTL key (expired
   * or never registered), Infinity if it exists without expiry (which no script creates).
   */
  async ttlRemainingMs(id: string): Promise<number | undefined> {
    const ms = await this.call('read entry TTL', () => this.connection.pttl(this.keys.ttl(id)));
    if (ms === -2) return undefined;
    return ms === -1 ? Number.POSITIVE_INFINITY : ms;
  }

  /** The last access (ms) Redis records for an entry, or undefined if it has no record. */
  async lastAccessMs(id: string): Promise<number | undefined> {
    return (await this.getRecord(id))?.lastAccessMs;
  }

  /** Bytes and entries this node holds according to its counters. */
  async usage(): Promise<NodeUsage> {
    const [bytes, entries] = await this.call('read node usage', () =>
      this.connection.mget(this.keys.bytes(), this.keys.count()),
    );
    return { bytes: toNumber(bytes ?? undefined), entries: toNumber(entries ?? undefined) };
  }

  private async call<T>(action: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) {
      throw new CacheError(
        ErrorCode.Unavailable,
        `cannot ${action}: the Redis metadata store was closed (the agent is shutting down)`,
      );
    }
    try {
      return await fn();
    } catch (err) {
      const down = this.connection.status === 'ready' ? undefined : this.connectionError;
      throw toCacheError(err, action, this.endpoint, down);
    }
  }
}
