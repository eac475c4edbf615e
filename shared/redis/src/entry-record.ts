/**
 * The one format of an entry's record in Redis (key layout 2): one field of the node's hash
 * `<prefix>:{<node>}:e`, its value `<size>.<last access ms>` in base 36 with a leading `!` while
 * claimed as expiring (registerEntry-4.lua, touchEntry-2.lua and claimExpired-2.lua read and write
 * it on the Redis side). Base 36 keeps a 4 KiB entry's value at 12 bytes, in jemalloc's 16-byte class.
 * Never: hold anything the agent's sidecar is the record of (key, labels, CRC32C, times).
 */

/** What Redis keeps of an entry (registerEntry-4.lua); the rest is in the entry's sidecar. */
export interface EntryRecord {
  id: string;
  size: number;
  lastAccessMs: number;
  /** Claimed by claimExpired: its files are being deleted; touches no longer revive it. */
  expiring: boolean;
}

/** The record of an entry of `size` bytes last accessed at `lastAccessMs`. */
export function encodeRecord(size: number, lastAccessMs: number): string {
  return `${size.toString(36)}.${lastAccessMs.toString(36)}`;
}

/** Parses a record "[!]<size base 36>.<last access ms base 36>"; undefined if it is not one. */
export function parseRecord(id: string, value: string): EntryRecord | undefined {
  const match = /^(!?)([0-9a-z]+)\.([0-9a-z]+)$/.exec(value);
  if (!match) return undefined;
  return {
    id,
    size: parseInt(match[2]!, 36),
    lastAccessMs: parseInt(match[3]!, 36),
    expiring: match[1] === '!',
  };
}
