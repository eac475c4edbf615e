/**
 * Ingest's handler body: the message as the domain's request, and the domain's copy or link.
 * Owns: that conversion and the refusals that depend on the agent's set-up. Never: who may call
 * (the access policy: the Unix socket only), the file's checks (ingestFile).
 */
import { ingestFile, type Ingested, type IngestTarget } from '@checkpoint-cache/cache';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { IngestRequest__Output } from '@checkpoint-cache/proto';
import { writeSpecOf } from './write-spec';

export async function ingestCall(
  cache: IngestTarget,
  ingestDir: string | undefined,
  req: IngestRequest__Output,
  signal?: AbortSignal,
): Promise<Ingested> {
  if (!ingestDir) {
    throw new CacheError(
      ErrorCode.FailedPrecondition,
      'this agent has no ingest directory (--ingest-dir, CKC_INGEST_DIR): stream the bytes with ' +
        'Write instead, or have the operator set one shared with the TaskManagers',
    );
  }
  if (!req.header) {
    throw new CacheError(ErrorCode.InvalidArgument, 'Ingest needs a header (key, size, crc32c)');
  }
  return ingestFile(cache, {
    dir: ingestDir,
    fileName: req.fileName,
    spec: writeSpecOf(req.header),
    handOver: req.handOver,
    ...(signal ? { signal } : {}),
  });
}
