/**
 * The one place Redis keys are made (key layout 2, issue 16: every per-entry byte counts, since a
 * node holds 100,000 entries or more). Every key of a node carries the hash tag `{<nodeId>}`, so
 * a Lua script that touches several keys of one node stays in one Redis Cluster slot.
 *
 *   <prefix>:{<nodeId>}:e            hash: field <rid>, value the entry's record (Scripts)
 *   <prefix>:{<nodeId>}:t:<rid>      string "1" with a PX expiry: the entry's sliding TTL
 *   <prefix>:{<nodeId>}:b            integer: bytes the node holds
 *   <prefix>:{<nodeId>}:n            integer: entries the node holds
 *   <prefix>:{<nodeId>}:owner        string with expiry: token of the agent holding the node id
 *   <prefix>:{<nodeId>}:peer         string: `host:port` other agents reach this node's agent at
 *   <prefix>:{<nodeId>}:deletes      sorted set: ids (or `dir:<prefix>`) other nodes deleted,
 *                                    score the time (ms)
 *   <prefix>:{<nodeId>}:deleted      pub/sub channel: "look at :deletes now"
 *   <prefix>:l:{<rid[0,22)>}         set of node numbers holding a verified copy of the entry
 *                                    (the location index; hash tag per entry, not a node's slot)
 *   <prefix>:nodes                   hash: node number -> node id, for reading the index back;
 *                                    its values are also every node a delete by prefix tells
 *
 * <rid> is the entry id (sha256 of the key, 64 hex digits) in base64url, 43 characters: the same
 * 256 bits, so it maps back without a lookup, and 43 + 4 bytes of sds header fit jemalloc's 48-byte
 * class where 64 hex digits took 80. A node number is the first 52 bits of sha256(node id): small
 * integers keep an index set in Redis's compact intset encoding (one holder: 16 bytes) where node
 * names made it a hash table (~280 bytes); 52 bits stay exact in a JavaScript number.
 * `owner`, `peer`, `deletes` and `deleted` are as in layout 1, so agents of both layouts on one
 * node id still exclude each other and take each other's delete notices (ids there stay hex).
 * Layout 1 (`entry:<id>`, `ttl:<id>`, `lru`, `bytes`, `count`, `loc:{<id>}`) is named only by
 * LegacyKeys, for the migration (legacy-records.ts).
 *
 * Never: build a key anywhere else, or let an entry's key (client text) into a Redis key.
 */
import { createHash } from 'node:crypto';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';

export const DEFAULT_KEY_PREFIX = 'ckc';

// Braces would move the hash tag, whitespace breaks logs and tools, and glob characters would make
// SCAN and PSUBSCRIBE patterns built from these parts match other keys.
const FORBIDDEN_IN_PREFIX = /[{}\s*?[\]\\]/;
// A ':' in the node id would make `<prefix>:{a:b}:...` ambiguous to read back.
const FORBIDDEN_IN_NODE_ID = /[{}\s*?[\]\\:]/;

function check(what: string, value: string, forbidden: RegExp, allowed: string): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new CacheError(ErrorCode.InvalidArgument, `Redis key ${what} is empty; set it`);
  }
  if (forbidden.test(value)) {
    throw new CacheError(
      ErrorCode.InvalidArgument,
      `Redis key ${what} ${JSON.stringify(value)} contains a forbidden character; ` +
        `it must not contain ${allowed}`,
    );
  }
}

export class KeyBuilder {
  readonly prefix: string;
  readonly nodeId: string;
  /** This node in the location index: the first 52 bits of sha256(nodeId). */
  readonly nodeNumber: number;
  /** `<prefix>:{<nodeId>}:`, the start of every key of this node. */
  private readonly base: string;
  private readonly ttlBase: string;

  constructor(prefix: string = DEFAULT_KEY_PREFIX, nodeId: string) {
    check('prefix', prefix, FORBIDDEN_IN_PREFIX, "'{', '}', whitespace or any of * ? [ ] \\");
    check(
      'node id',
      nodeId,
      FORBIDDEN_IN_NODE_ID,
      "':', '{', '}', whitespace or any of * ? [ ] \\",
    );
    this.prefix = prefix;
    this.nodeId = nodeId;
    this.nodeNumber = nodeNumberOf(nodeId);
    this.base = `${prefix}:{${nodeId}}:`;
    this.ttlBase = `${this.base}t:`;
  }

  /** Hash of the node's entry records: field recordId(id), value the record. */
  entries(): string {
    return `${this.base}e`;
  }

  /** The entry's field in entries() and its part of every per-entry key (base64url, 43 chars). */
  recordId(id: string): string {
    return Buffer.from(checkId(id), 'hex').toString('base64url');
  }

  /** The entry id (hex) of a field of entries(), or undefined for anything that is not one. */
  idOfRecord(recordId: string): string | undefined {
    if (!RECORD_ID.test(recordId)) return undefined;
    return Buffer.from(recordId, 'base64url').toString('hex');
  }

  /** String whose expiry is the entry's sliding TTL. */
  ttl(id: string): string {
    return `${this.ttlBase}${this.recordId(id)}`;
  }

  /** Integer: bytes held by the node's entries. */
  bytes(): string {
    return `${this.base}b`;
  }

  /** Integer: number of entries the node holds. */
  count(): string {
    return `${this.base}n`;
  }

  /** String: the token of the agent holding this node id, expiring unless refreshed. */
  owner(): string {
    return `${this.base}owner`;
  }

  /** String: `host:port` at which other agents reach this node's agent (--peer-address). */
  peer(): string {
    return `${this.base}peer`;
  }

  /** Sorted set: ids of entries deleted on other nodes that this node must delete, score ms. */
  deletes(): string {
    return `${this.base}deletes`;
  }

  /** Pub/sub channel: a message says that deletes() has something new. */
  deletedChannel(): string {
    return `${this.base}deleted`;
  }

  /**
   * Set of the numbers of nodes holding a verified copy of entry `id`: the location index. Its
   * hash tag is the entry, not a node, so it lives in another slot than the node's keys and is
   * never changed in the same Lua call (see LocationIndex for how the two stay in step).
   */
  locations(id: string): string {
    // Never read back into an id, so the first 128 bits do (22 characters: the key fits
    // jemalloc's 48-byte class, not 64); two entries sharing them (~2^-64 among 2^32 entries)
    // would share a set, which costs at most a stale holder, as a missed SREM does.
    return `${this.prefix}:l:{${this.recordId(id).slice(0, 22)}}`;
  }

  /**
   * Hash: node number -> node id, so that the location index can be read back as node ids; its
   * values are every node id an agent ran under, the nodes a delete by prefix tells.
   */
  nodes(): string {
    return `${this.prefix}:nodes`;
  }

  /** The keys of another node under the same prefix (its deletes, its peer address). */
  forNode(nodeId: string): KeyBuilder {
    return nodeId === this.nodeId ? this : new KeyBuilder(this.prefix, nodeId);
  }

  /** SCAN/PSUBSCRIBE pattern matching exactly the TTL keys of this node. */
  ttlPattern(): string {
    return `${this.ttlBase}*`;
  }

  /**
   * The entry id (hex) of one of this node's TTL keys (e.g. from an expired-key event), or
   * undefined for any other key: other nodes, other prefixes, other kinds of key, layout 1.
   */
  idOfTtlKey(key: string): string | undefined {
    if (!key.startsWith(this.ttlBase)) return undefined;
    return this.idOfRecord(key.slice(this.ttlBase.length));
  }
}

/** A node's number in the location index: the first 52 bits of sha256(nodeId), exact in a double. */
export function nodeNumberOf(nodeId: string): number {
  return parseInt(createHash('sha256').update(nodeId).digest('hex').slice(0, 13), 16);
}

const ENTRY_ID = /^[0-9a-f]{64}$/;
const RECORD_ID = /^[A-Za-z0-9_-]{43}$/;

function checkId(id: string): string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new CacheError(ErrorCode.InvalidArgument, 'entry id is empty; pass sha256(key) in hex');
  }
  if (!ENTRY_ID.test(id)) {
    throw new CacheError(
      ErrorCode.InvalidArgument,
      `entry id ${JSON.stringify(id.slice(0, 80))} is not sha256(key) in lower-case hex (64 digits)`,
    );
  }
  return id;
}
