/**
 * WriteBatch's handler body: each item stored as one Write of it would be, all items at once, so
 * that they share the group commits (their directory fsyncs and their Redis round trip) and the
 * batch pays for one call instead of one per entry (issue #16). An item's failure is its own
 * result, with the status a Write of it would have ended with; the call itself fails only when
 * the batch is malformed (or, before this runs, refused by the access policy or the wire check).
 * Owns: the item count limit, each item's result and what a cancelled call leaves. Never: who may
 * call (the access policy), the checks of an entry (the cache's write path, the same as Write's).
 */
import { status } from '@grpc/grpc-js';
import type {
  EntryWriter,
  HeldBytes,
  WholeEntry,
  WholeOutcome,
  WriteSpec,
} from '@checkpoint-cache/cache';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { Logger } from '@checkpoint-cache/logger';
import type {
  WriteBatchItem__Output,
  WriteBatchRequest__Output,
  WriteBatchResponse,
  WriteBatchResult,
} from '@checkpoint-cache/proto';
import { statusOf } from './handlers';
import { toProtoEntry } from './proto-entry';
import { writeOutcomeOf, type ServiceObserver } from './service-observer';
import { writeSpecOf } from './write-spec';

/** Most items one WriteBatch may carry (the contract's limit). */
export const MAX_BATCH_ITEMS = 1000;

/**
 * Most bytes of items all WriteBatch calls in progress hold together (the contract's limit). Each
 * message is in memory whole until its items are stored; without a bound, many clients sending at
 * once could hold gigabytes (the DaemonSet's limit is 1 GiB).
 */
export const MAX_BATCH_BYTES_HELD = 256 * 1024 * 1024;

/**
 * What a batch needs of the cache: Write's own path, item by item, and the fast road for small new
 * entries (NodeCache.writeWhole), which leaves every item it does not take to the first.
 */
export interface BatchTarget {
  beginWrite(spec: WriteSpec): Promise<EntryWriter>;
  writeWhole?(
    entries: readonly WholeEntry[],
    refusal: () => unknown,
  ): Promise<(WholeOutcome | undefined)[]>;
}

export interface WriteBatchContext {
  cache: BatchTarget;
  /** True once the caller cancelled the call or its deadline passed. */
  cancelled: () => boolean;
  /** Bytes of items held by the calls in progress (MAX_BATCH_BYTES_HELD unless a test says). */
  held: HeldBytes;
  observer?: ServiceObserver | undefined;
  logger: Logger;
}

export async function writeBatchCall(
  req: WriteBatchRequest__Output,
  ctx: WriteBatchContext,
): Promise<WriteBatchResponse> {
  const { items } = req;
  if (items.length === 0 || items.length > MAX_BATCH_ITEMS) {
    throw new CacheError(
      ErrorCode.InvalidArgument,
      `a WriteBatch carries 1 to ${MAX_BATCH_ITEMS} items, not ${items.length}; send more ` +
        'entries in several calls',
    );
  }
  let bytes = 0;
  for (const item of items) bytes += item.data.length;
  if (!ctx.held.take(bytes)) {
    throw new CacheError(
      ErrorCode.ResourceExhausted,
      `this batch's ${items.length} items (${bytes} bytes) were not stored: the agent already ` +
        `holds ${ctx.held.held} bytes of WriteBatch items being stored (at most ` +
        `${ctx.held.limit}); retry in a moment, or send the entries with Write`,
    );
  }
  ctx.observer?.writeBatchStarted(items.length);
  try {
    // The fast road's items first, then the rest at once: a group commit takes whatever is waiting
    // when the previous one ends, so the items of each step (and of the batches in flight beside
    // it) are published together. A batch with items of both kinds (rare: a key cached already,
    // bytes other than announced) pays for the two steps' group commits one after the other.
    const fast = await writeWhole(items, ctx);
    const results = await Promise.all(
      items.map((item, i) => {
        const outcome = fast[i];
        return outcome ? resultOf(outcome, ctx) : writeItem(item, i, ctx);
      }),
    );
    return { results };
  } finally {
    ctx.held.give(bytes);
    ctx.observer?.writeBatchFinished();
  }
}

/** The fast road's outcomes, by item; undefined for an item it left to writeItem. */
async function writeWhole(
  items: readonly WriteBatchItem__Output[],
  ctx: WriteBatchContext,
): Promise<(WholeOutcome | undefined)[]> {
  const out: (WholeOutcome | undefined)[] = new Array(items.length).fill(undefined);
  if (!ctx.cache.writeWhole) return out;
  const at: number[] = [];
  const entries: WholeEntry[] = [];
  items.forEach((item, i) => {
    if (!item.header) return;
    at.push(i);
    entries.push({ spec: writeSpecOf(item.header), data: item.data });
  });
  const outcomes = await ctx.cache.writeWhole(entries, () =>
    ctx.cancelled() ? cancelledBeforeCommit() : undefined,
  );
  outcomes.forEach((o, j) => (out[at[j]!] = o));
  return out;
}

/** An item the fast road took, as writeItem would have answered it. */
function resultOf(outcome: WholeOutcome, ctx: WriteBatchContext): WriteBatchResult {
  if ('error' in outcome) return failed(outcome.error, ctx);
  ctx.observer?.writeBatchItemFinished('created', outcome.entry.size);
  return { code: status.OK, message: '', entry: toProtoEntry(outcome.entry), created: true };
}

function failed(err: unknown, ctx: WriteBatchContext): WriteBatchResult {
  ctx.observer?.writeBatchItemFinished(writeOutcomeOf(err, ctx.cancelled()), 0);
  const { code, details } = statusOf(err, ctx.logger, 'WriteBatch');
  return { code: code ?? status.INTERNAL, message: details ?? '' };
}

function cancelledBeforeCommit(): CacheError {
  return new CacheError(
    ErrorCode.Cancelled,
    'the client cancelled the batch before this item was committed; it was not stored',
  );
}

/** Never rejects: every failure is the item's result. */
async function writeItem(
  item: WriteBatchItem__Output,
  index: number,
  ctx: WriteBatchContext,
): Promise<WriteBatchResult> {
  try {
    if (!item.header) {
      throw new CacheError(
        ErrorCode.InvalidArgument,
        `items[${index}] has no header; every item needs its WriteHeader (key, size, crc32c)`,
      );
    }
    const writer = await ctx.cache.beginWrite(writeSpecOf(item.header));
    try {
      // The bytes as protobufjs decoded them: a slice of the received message, not a copy.
      await writer.append(0, item.data);
      // The last moment an item can still be left out: once its commit has begun it is stored
      // (its fsyncs and the group's publication are not interrupted), as a Write cancelled after
      // its last message may be.
      if (ctx.cancelled()) throw cancelledBeforeCommit();
      const { entry, created } = await writer.commit();
      ctx.observer?.writeBatchItemFinished(created ? 'created' : 'exists', entry.size);
      return { code: status.OK, message: '', entry: toProtoEntry(entry), created };
    } finally {
      await writer.abort();
    }
  } catch (err) {
    return failed(err, ctx);
  }
}
