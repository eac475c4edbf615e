/**
 * The domain's EntryInfo as the wire's EntryInfo message. Owns: that one conversion. Never: any
 * other message.
 */
import type { EntryInfo as DomainEntry } from '@checkpoint-cache/cache';
import type { EntryInfo } from '@checkpoint-cache/proto';

export function toProtoEntry(e: DomainEntry): EntryInfo {
  return {
    key: e.key,
    jobId: e.jobId,
    checkpointIds: e.checkpointIds,
    size: e.size,
    crc32c: e.crc32c,
    createdAtMs: e.createdAtMs,
    lastAccessMs: e.lastAccessMs,
    ttlMs: e.ttlMs,
    nodeId: e.nodeId,
  };
}
