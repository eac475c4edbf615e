/** Writing and reading NodeCache entries directly, for tests below the gRPC service. */
import type { NodeCache } from '@checkpoint-cache/cache';
import { crc32c } from '@checkpoint-cache/checksum';

/** Stores `data` under `key` (job "j", checkpoint 1) with its CRC32C. */
export async function putEntry(
  cache: NodeCache,
  key: string,
  data: Buffer,
  ttlMs?: number,
): Promise<void> {
  const writer = await cache.beginWrite({
    key,
    jobId: 'j',
    checkpointId: 1,
    ...(ttlMs === undefined ? {} : { ttlMs }),
  });
  await writer.append(0, data, crc32c(data));
  await writer.commit();
}

/** The whole entry, read as the service reads it (pooled buffers given back). */
export async function readEntryBytes(cache: NodeCache, key: string): Promise<Buffer> {
  const reader = await cache.openRead(key, { offset: 0 });
  const parts: Buffer[] = [];
  try {
    for await (const chunk of reader.chunks(1 << 20)) {
      parts.push(Buffer.from(chunk.data));
      chunk.release?.();
    }
  } finally {
    await reader.close();
  }
  return Buffer.concat(parts);
}
