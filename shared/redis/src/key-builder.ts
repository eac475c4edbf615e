/**
 * The one place Redis keys are made. Every key of a node carries the hash tag `{<nodeId>}`, so a
 * Lua script that touches several keys of one node stays in one Redis Cluster slot.
 *
 *   <prefix>:{<nodeId>}:entry:<id>   hash: the entry's metadata
 *   <prefix>:{<nodeId>}:ttl:<id>     string with a PX expiry: the sliding TTL
 *   <prefix>:{<nodeId>}:lru          sorted set: member id, score last access (ms)
 *   <prefix>:{<nodeId>}:bytes        integer: bytes the node holds
 *   <prefix>:{<nodeId>}:count        integer: entries the node holds
 *   <prefix>:{<nodeId>}:owner        string with expiry: token of the agent holding the node id
 *   <prefix>:{<nodeId>}:peer         string: `host:port` other agents reach this node's agent at
 *   <prefix>:{<nodeId>}:deletes      sorted set: ids (or `dir:<prefix>`) other nodes deleted,
 *                                    score the time (ms)
 *   <prefix>:{<nodeId>}:deleted      pub/sub channel: "look at :deletes now"
 *   <prefix>:loc:{<id>}              set: node ids holding a verified copy of entry <id> (the
 *                                    location index; hash tag per entry, so not in a node's slot)
 *   <prefix>:nodes                   set: every node id that ever ran an agent here (who a delete
 *                                    by prefix must tell; its own slot)
 *
 * Never: build a key anywhere else, or let an entry's key (client text) into a Redis key.
 */
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
    this.base = `${prefix}:{${nodeId}}:`;
    this.ttlBase = `${this.base}ttl:`;
  }

  /** Hash with the entry's metadata fields. */
  entry(id: string): string {
    return `${this.base}entry:${checkId(id)}`;
  }

  /** String whose expiry is the entry's sliding TTL. */
  ttl(id: string): string {
    return `${this.ttlBase}${checkId(id)}`;
  }

  /** Sorted set of the node's entry ids by last access (ms since the epoch). */
  lru(): string {
    return `${this.base}lru`;
  }

  /** Integer: bytes held by the node's entries. */
  bytes(): string {
    return `${this.base}bytes`;
  }

  /** Integer: number of entries the node holds. */
  count(): string {
    return `${this.base}count`;
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
   * Set of node ids holding a verified copy of entry `id`: the location index. Its hash tag is
   * the entry id, not a node id, so it lives in another slot than the node's keys and is never
   * changed in the same Lua call (see RedisMetadataStore for how the two stay in step).
   */
  locations(id: string): string {
    return `${this.prefix}:loc:{${checkId(id)}}`;
  }

  /** Set of every node id an agent ran under (the nodes a delete by prefix tells). */
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

  /** SCAN pattern matching exactly the entry hashes of this node. */
  entryPattern(): string {
    return `${this.base}entry:*`;
  }

  /**
   * The entry id of one of this node's TTL keys (e.g. from an expired-key event), or undefined
   * for any other key: other nodes, other prefixes, other kinds of key.
   */
  idOfTtlKey(key: string): string | undefined {
    if (!key.startsWith(this.ttlBase)) return undefined;
    const id = key.slice(this.ttlBase.length);
    return id.length > 0 ? id : undefined;
  }
}

function checkId(id: string): string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new CacheError(ErrorCode.InvalidArgument, 'entry id is empty; pass sha256(key) in hex');
  }
  return id;
}
