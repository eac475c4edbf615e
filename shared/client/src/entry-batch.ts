/**
 * The client side of WriteBatch: many small entries, each whole in memory, sent a batch per call
 * (at most MAX_BATCH_ITEMS items and about MAX_BATCH_BYTES per call, several calls in flight), so
 * that the agent pays for one call per batch instead of one per entry (issue #16). Each entry gets
 * its own result. An agent that does not know WriteBatch (UNIMPLEMENTED, older than the call) gets
 * the entries as single Writes, and is asked again only after BATCH_RETRY_MS.
 * Owns: splitting, each item's outcome and its check against what was sent, the fallback. Never:
 * retrying an item (its caller knows whether the same bytes may be sent again), streaming large
 * entries (Write does; an entry too large for a batch goes there).
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { crc32c, formatCrc32c } from '@checkpoint-cache/checksum';
import type {
  CheckpointCacheClient as GrpcClient,
  EntryInfo__Output,
  WriteBatchItem,
  WriteBatchResponse__Output,
} from '@checkpoint-cache/proto';
import { CheckpointCacheError } from './checkpoint-cache-error';
import type { WriteOptions, WriteResult } from './entry-upload';

/** Most items the agent takes in one WriteBatch (the contract's limit). */
export const MAX_BATCH_ITEMS = 1000;

/**
 * Bytes of entry data per call. Half the 16 MiB message limit of both sides, which leaves room
 * for the headers (keys up to 1 KiB each) and for framing.
 */
export const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/**
 * Calls in flight at once for one writeBatch. More than one keeps the agent's group commits fed
 * while a call's answer travels back; a handful is enough for that.
 */
export const BATCH_CALLS_IN_FLIGHT = 4;

/** Single Writes in flight at once when the agent answers UNIMPLEMENTED. */
const FALLBACK_WRITES_IN_FLIGHT = 32;

/**
 * How long after an UNIMPLEMENTED answer entries go as single Writes before WriteBatch is tried
 * again (the agent may have been upgraded meanwhile).
 */
export const BATCH_RETRY_MS = 60_000;

/**
 * Deadline of one WriteBatch call beyond the unary deadline: per item, for a disk that commits
 * a few hundred small files a second (docs/benchmarks.md) with other batches in flight beside it.
 */
const DEADLINE_MS_PER_ITEM = 20;

/** One entry of a batch: its key, all its bytes, and the options a write of it takes. */
export interface BatchEntry extends Omit<WriteOptions, 'size' | 'progress'> {
  key: string;
  data: Uint8Array;
}

/**
 * What became of one entry: stored (or already there with the same bytes: `created` false), or
 * the error a Write of it would have ended with (nothing of it was stored, except after a
 * DEADLINE_EXCEEDED or CANCELLED of its call: see WriteBatch in the .proto).
 */
export type BatchEntryResult =
  ({ ok: true } & WriteResult) | { ok: false; error: CheckpointCacheError };

export interface BatchPlan {
  grpc: GrpcClient;
  entries: readonly BatchEntry[];
  unaryMs: number;
  /** One entry as a single Write (for entries too large for a batch, and the fallback). */
  writeOne: (entry: BatchEntry) => Promise<WriteResult>;
  /** True while the agent is known not to serve WriteBatch. */
  batchUnsupported: () => boolean;
  /** Told that the agent answered UNIMPLEMENTED. */
  noteUnsupported: () => void;
}

interface Prepared {
  index: number;
  key: string;
  item: WriteBatchItem;
  size: number;
  crc32c: number;
}

export async function writeBatchEntries(plan: BatchPlan): Promise<BatchEntryResult[]> {
  const results = new Array<BatchEntryResult>(plan.entries.length);
  const batches: Prepared[][] = [];
  const alone: number[] = [];
  let batch: Prepared[] = [];
  let batchBytes = 0;
  plan.entries.forEach((entry, index) => {
    const cost = entry.data.byteLength + Buffer.byteLength(entry.key) + 64;
    if (cost > MAX_BATCH_BYTES) {
      alone.push(index);
      return;
    }
    if (batch.length === MAX_BATCH_ITEMS || batchBytes + cost > MAX_BATCH_BYTES) {
      batches.push(batch);
      batch = [];
      batchBytes = 0;
    }
    batch.push(prepare(entry, index));
    batchBytes += cost;
  });
  if (batch.length > 0) batches.push(batch);

  const single = async (index: number): Promise<void> => {
    const entry = plan.entries[index] as BatchEntry;
    try {
      results[index] = { ok: true, ...(await plan.writeOne(entry)) };
    } catch (err) {
      results[index] = { ok: false, error: asClientError(err, entry.key) };
    }
  };
  const sendBatch = async (prepared: Prepared[]): Promise<void> => {
    if (!plan.batchUnsupported()) {
      const answered = await callWriteBatch(plan, prepared);
      if (answered !== 'unimplemented') {
        prepared.forEach((p, i) => (results[p.index] = answered[i] as BatchEntryResult));
        return;
      }
      plan.noteUnsupported();
    }
    await inPool(
      prepared.map((p) => p.index),
      FALLBACK_WRITES_IN_FLIGHT,
      single,
    );
  };
  await Promise.all([
    inPool(batches, BATCH_CALLS_IN_FLIGHT, sendBatch),
    inPool(alone, BATCH_CALLS_IN_FLIGHT, single),
  ]);
  return results;
}

function prepare(entry: BatchEntry, index: number): Prepared {
  const data = Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength);
  // An item has no chunk checksums: the header's CRC32C is what catches bytes damaged on the way.
  const crc = entry.crc32c === undefined ? crc32c(data) : entry.crc32c >>> 0;
  return {
    index,
    key: entry.key,
    size: data.length,
    crc32c: crc,
    item: {
      header: {
        key: entry.key,
        jobId: entry.jobId ?? '',
        checkpointId: entry.checkpointId ?? 0,
        size: data.length,
        crc32c: crc,
        ttlMs: entry.ttlMs ?? 0,
      },
      data,
    },
  };
}

/** Each item's result, or 'unimplemented' when the agent does not know WriteBatch. */
function callWriteBatch(
  plan: BatchPlan,
  prepared: Prepared[],
): Promise<BatchEntryResult[] | 'unimplemented'> {
  const deadline = Date.now() + plan.unaryMs + prepared.length * DEADLINE_MS_PER_ITEM;
  return new Promise((resolve) => {
    plan.grpc.writeBatch(
      { items: prepared.map((p) => p.item) },
      { deadline },
      (err: ServiceError | null, res?: WriteBatchResponse__Output) => {
        if (err?.code === status.UNIMPLEMENTED) return resolve('unimplemented');
        if (err) {
          // The call failed as a whole (refused, or cut short): every item shares its status.
          return resolve(
            prepared.map((p) => ({
              ok: false,
              error: CheckpointCacheError.fromServiceError(err, 'WriteBatch', p.key),
            })),
          );
        }
        const answers = res?.results ?? [];
        if (answers.length !== prepared.length) {
          return resolve(
            prepared.map((p) => ({
              ok: false,
              error: new CheckpointCacheError(
                status.INTERNAL,
                `the agent answered ${answers.length} results for ${prepared.length} items`,
                'WriteBatch',
                { key: p.key },
              ),
            })),
          );
        }
        resolve(prepared.map((p, i) => resultOf(p, answers[i] as (typeof answers)[number])));
      },
    );
  });
}

function resultOf(
  p: Prepared,
  answer: WriteBatchResponse__Output['results'][number],
): BatchEntryResult {
  if (answer.code !== status.OK) {
    const error = new CheckpointCacheError(answer.code, answer.message, 'WriteBatch', {
      key: p.key,
    });
    return { ok: false, error };
  }
  const entry: EntryInfo__Output | null = answer.entry;
  if (!entry) {
    return {
      ok: false,
      error: new CheckpointCacheError(
        status.INTERNAL,
        'the agent answered without an entry',
        'WriteBatch',
        { key: p.key },
      ),
    };
  }
  // As for Write: what the agent says it stored must be what was sent.
  if (entry.size !== p.size || entry.crc32c !== p.crc32c) {
    return {
      ok: false,
      error: new CheckpointCacheError(
        status.DATA_LOSS,
        `the agent stored ${entry.size} bytes with CRC32C ${formatCrc32c(entry.crc32c)}, ` +
          `the client sent ${p.size} bytes with ${formatCrc32c(p.crc32c)}`,
        'WriteBatch',
        { key: p.key },
      ),
    };
  }
  return { ok: true, entry, created: answer.created };
}

function asClientError(err: unknown, key: string): CheckpointCacheError {
  if (err instanceof CheckpointCacheError) return err;
  return new CheckpointCacheError(status.INTERNAL, String(err), 'Write', { cause: err, key });
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function inPool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
