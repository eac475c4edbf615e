/**
 * A WriteHeader message as the domain's WriteSpec, for Write and Ingest. Owns: that one
 * conversion (absent optional fields stay absent: "not checked"). Never: validation (the domain
 * checks the values).
 */
import type { WriteSpec } from '@checkpoint-cache/cache';
import type { WriteHeader__Output } from '@checkpoint-cache/proto';

export function writeSpecOf(h: WriteHeader__Output): WriteSpec {
  return {
    key: h.key,
    jobId: h.jobId,
    checkpointId: h.checkpointId,
    ...(h.size === undefined || h.size === null ? {} : { size: h.size }),
    ...(h.crc32c === undefined || h.crc32c === null ? {} : { crc32c: h.crc32c }),
    ttlMs: h.ttlMs,
  };
}
