/**
 * The only code that calls Lua. Scripts live in ../lua as `<command>-<numKeys>.lua`, each with a
 * header listing KEYS, ARGV and return values; they are read once per process and registered on a
 * connection with ioredis `defineCommand` (EVALSHA, falling back to EVAL on a fresh connection).
 * Every key a script touches is passed through KEYS[] and made by the KeyBuilder.
 * Never: map errors to CacheError(Unavailable) (the metadata store does), or build keys itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ChainableCommander } from 'ioredis';
import type { EntryMetadata, EntryTouch } from '@checkpoint-cache/cache';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { encodeRecord } from './entry-record';
import type { KeyBuilder } from './key-builder';
import type { RedisConnection } from './redis-connection';

/** Where the .lua files are, from lib/ or src/ alike. */
const LUA_DIR = path.join(__dirname, '..', 'lua');

type ScriptArg = string | number;
type ScriptCall = (...keysAndArgs: ScriptArg[]) => Promise<unknown>;

/** Commands this class calls, with the number of keys the code passes to each. */
const COMMANDS = {
  registerEntry: 4,
  removeEntry: 4,
  touchEntry: 2,
  claimExpired: 2,
  checkAccess: 5,
  claimNode: 1,
  noticeDelete: 1,
  dropDelete: 1,
} as const;
type CommandName = keyof typeof COMMANDS;

type ScriptedConnection = RedisConnection & Record<CommandName, ScriptCall>;
type ScriptedPipeline = ChainableCommander &
  Record<CommandName, (...keysAndArgs: ScriptArg[]) => ChainableCommander>;

interface ScriptSource {
  name: CommandName;
  numberOfKeys: number;
  lua: string;
}

let sources: readonly ScriptSource[] | undefined;

/** Reads ../lua once and checks that every command the code calls is there with its key count. */
function scriptSources(): readonly ScriptSource[] {
  if (sources) return sources;
  let files: string[];
  try {
    files = readdirSync(LUA_DIR);
  } catch (cause) {
    throw new CacheError(
      ErrorCode.Internal,
      `Lua scripts not found in ${LUA_DIR}; the package must ship its lua/ folder next to lib/`,
      { cause },
    );
  }
  const found: ScriptSource[] = [];
  for (const file of files) {
    const match = /^([A-Za-z]+)-(\d+)\.lua$/.exec(file);
    if (!match) continue;
    const name = match[1] as CommandName;
    const numberOfKeys = Number(match[2]);
    if (COMMANDS[name] !== numberOfKeys) continue;
    found.push({ name, numberOfKeys, lua: readFileSync(path.join(LUA_DIR, file), 'utf8') });
  }
  for (const [name, numberOfKeys] of Object.entries(COMMANDS)) {
    if (!found.some((s) => s.name === name)) {
      throw new CacheError(
        ErrorCode.Internal,
        `Lua script ${name}-${numberOfKeys}.lua is missing from ${LUA_DIR}`,
      );
    }
  }
  sources = found;
  return found;
}

/** Negative script results, mapped in one place. */
function checkResult(command: CommandName, id: string, result: unknown): boolean {
  const code = Number(result);
  if (code === 1) return true;
  if (code === 0) return false;
  throw new CacheError(ErrorCode.Internal, `Lua ${command} returned ${String(result)} for ${id}`);
}

export class Scripts {
  private readonly connection: ScriptedConnection;

  /**
   * `connection` may be a Redis Cluster: every script and pipeline here uses keys of one node
   * only, which share the node's hash tag and so one slot.
   */
  constructor(
    connection: RedisConnection,
    private readonly keys: KeyBuilder,
  ) {
    for (const { name, numberOfKeys, lua } of scriptSources()) {
      connection.defineCommand(name, { numberOfKeys, lua });
    }
    this.connection = connection as ScriptedConnection;
  }

  /**
   * Records or replaces an entry and restarts its TTL; true when the entry was new. Redis keeps
   * of it only what Redis-side logic needs (registerEntry-4.lua says what and why).
   */
  async registerEntry(entry: EntryMetadata): Promise<boolean> {
    const result = await this.connection.registerEntry(...this.registerArgs(entry));
    return checkResult('registerEntry', entry.id, result);
  }

  /** Keys and arguments of registerEntry for `entry`, e.g. to send many in one pipeline. */
  registerArgs(entry: EntryMetadata): ScriptArg[] {
    const record = encodeRecord(entry.size, entry.lastAccessMs);
    return [
      ...this.entryKeys(entry.id),
      this.keys.recordId(entry.id),
      record,
      entry.size,
      entry.ttlMs,
    ];
  }

  /**
   * registerEntry for several entries in one MULTI (one round trip, one slot: the node's), so that
   * all are recorded or none is; true per entry that was new. Rejects when the transaction did not
   * run or a script in it failed.
   */
  async registerEntries(entries: readonly EntryMetadata[]): Promise<boolean[]> {
    if (entries.length === 0) return [];
    const multi = this.connection.multi() as ScriptedPipeline;
    for (const entry of entries) multi.registerEntry(...this.registerArgs(entry));
    const replies = await multi.exec();
    if (!replies) throw new CacheError(ErrorCode.Internal, 'register transaction was discarded');
    return replies.map(([err, result], i) => {
      if (err) throw err;
      return checkResult('registerEntry', entries[i].id, result);
    });
  }

  /** Forgets an entry; true when it existed. */
  async removeEntry(id: string): Promise<boolean> {
    const result = await this.connection.removeEntry(...this.entryKeys(id), this.keys.recordId(id));
    return checkResult('removeEntry', id, result);
  }

  /**
   * Restarts an entry's TTL with `ttlMs` and records an access at `atMs`; false when the entry is
   * not known or is being expired.
   */
  async touchEntry(id: string, atMs: number, ttlMs: number): Promise<boolean> {
    const result = await this.connection.touchEntry(...this.touchArgs(id, atMs, ttlMs));
    return checkResult('touchEntry', id, result);
  }

  /**
   * Marks an entry whose TTL key is gone as expiring, so touches no longer revive it; false when
   * the TTL key exists or the entry is not known (nothing changed).
   */
  async claimExpired(id: string): Promise<boolean> {
    const k = this.keys;
    const result = await this.connection.claimExpired(k.entries(), k.ttl(id), k.recordId(id));
    return checkResult('claimExpired', id, result);
  }

  /**
   * Claims or refreshes this agent's hold on the node id for `holdMs` (0: gives it up if it is
   * this agent's); the other holder's token when another agent holds it, else undefined.
   */
  async claimNode(token: string, holdMs: number): Promise<string | undefined> {
    const result = await this.connection.claimNode(this.keys.owner(), token, holdMs);
    const holder = String(result ?? '');
    return holder === '' ? undefined : holder;
  }

  /**
   * Records in node `holder`'s pending deletes that entry `id` was deleted at `atMs`, keeps that
   * set `keepMs` after this notice, and wakes the holder up (noticeDelete-1.lua). `holder` is
   * another node's KeyBuilder: the script touches only that node's slot.
   */
  async noticeDelete(holder: KeyBuilder, id: string, atMs: number, keepMs: number): Promise<void> {
    const result = await this.connection.noticeDelete(
      holder.deletes(),
      id,
      atMs,
      keepMs,
      holder.deletedChannel(),
    );
    checkResult('noticeDelete', id, result);
  }

  /** Drops a handled notice of this node's unless a newer one replaced it; true when dropped. */
  async dropDelete(id: string, score: string): Promise<boolean> {
    const result = await this.connection.dropDelete(this.keys.deletes(), id, score);
    return checkResult('dropDelete', id, result);
  }

  /**
   * touchEntry for many entries in one pipelined round trip; one boolean per touch. Rejects with
   * the first error if any touch failed (the others may have been applied).
   */
  async touchEntries(touches: readonly EntryTouch[]): Promise<boolean[]> {
    if (touches.length === 0) return [];
    const pipeline = this.connection.pipeline() as ScriptedPipeline;
    for (const t of touches) pipeline.touchEntry(...this.touchArgs(t.id, t.atMs, t.ttlMs));
    const replies = await pipeline.exec();
    if (!replies) throw new CacheError(ErrorCode.Internal, 'touch pipeline was discarded');
    return replies.map(([err, result], i) => {
      if (err) throw err;
      return checkResult('touchEntry', touches[i].id, result);
    });
  }

  /**
   * The commands the agent needs that Redis would refuse the connection's user, checked on the
   * keys of entry `probeId` without running them (checkAccess-5.lua); undefined when the server
   * cannot tell (before Redis 7.0). `db`: the database the connection selects, if not 0.
   */
  async checkAccess(
    probeId: string,
    db: number | undefined,
    cluster: boolean,
  ): Promise<string[] | undefined> {
    const result = await this.connection.checkAccess(
      ...this.entryKeys(probeId),
      this.keys.owner(),
      db ? String(db) : '',
      cluster ? 'cluster' : '',
      this.keys.locations(probeId),
      this.keys.peer(),
      this.keys.deletes(),
      this.keys.deletedChannel(),
      this.keys.nodes(),
    );
    return Array.isArray(result) ? result.map(String) : undefined;
  }

  private entryKeys(id: string): [string, string, string, string] {
    const k = this.keys;
    return [k.entries(), k.ttl(id), k.bytes(), k.count()];
  }

  private touchArgs(id: string, atMs: number, ttlMs: number): ScriptArg[] {
    const k = this.keys;
    return [k.entries(), k.ttl(id), k.recordId(id), atMs.toString(36), ttlMs];
  }
}
