/**
 * Keeps the data files of recently read entries open, so that a read does not pay for an open and
 * a close (15 % of the agent's time under many small range reads, docs/benchmarks.md). Reads use
 * positional reads only, so any number of them share one handle.
 * Owns: the handles, their reference counts and the least recently used order. Never: deciding
 * when an entry goes away (NodeCache calls `forget` before it unlinks an entry's file).
 *
 * A handle is closed once nobody reads through it and it is no longer cached: after `forget`,
 * when it falls out of the LRU, or at `closeAll`. A forgotten handle is never handed out again,
 * so a key deleted and written anew is always read from its new file.
 */
import { promises as fs } from 'node:fs';

export const DEFAULT_OPEN_FILES = 256;

interface Slot {
  opened: Promise<fs.FileHandle>;
  refs: number;
  /** Still in the LRU (can be handed to the next read). */
  cached: boolean;
  closing: Promise<void> | undefined;
}

/** A handle lent to one read; `release` exactly once when the read is done with it. */
export interface LentHandle {
  handle: fs.FileHandle;
  release(): void;
}

export class OpenFiles {
  /** Map order is the LRU order: the first slot is the least recently used. */
  private readonly slots = new Map<string, Slot>();

  constructor(private readonly capacity = DEFAULT_OPEN_FILES) {}

  /** The cached handle of `id`, or `file` opened read-only; rejects as fs.open does. */
  async acquire(id: string, file: string): Promise<LentHandle> {
    let slot = this.slots.get(id);
    if (slot) {
      this.slots.delete(id);
      this.slots.set(id, slot);
    } else {
      const opened = fs.open(file, 'r');
      const fresh: Slot = { opened, refs: 0, cached: this.capacity > 0, closing: undefined };
      slot = fresh;
      if (fresh.cached) {
        this.slots.set(id, fresh);
        opened.catch(() => this.uncache(id, fresh));
        this.trim();
      }
    }
    const lent = slot;
    lent.refs++;
    let handle: fs.FileHandle;
    try {
      handle = await lent.opened;
    } catch (err) {
      lent.refs--;
      throw err;
    }
    let released = false;
    return {
      handle,
      release: () => {
        if (released) return;
        released = true;
        lent.refs--;
        this.closeIfIdle(lent);
      },
    };
  }

  /** Drops the cached handle of `id` (its file is about to go); reads holding it finish first. */
  forget(id: string): void {
    const slot = this.slots.get(id);
    if (slot) this.uncache(id, slot);
  }

  /** Handles currently open or opening, lent or cached (for tests and metrics). */
  get size(): number {
    return this.slots.size;
  }

  /** Uncaches everything and waits for the idle handles to close; lent ones close on release. */
  async closeAll(): Promise<void> {
    const slots = [...this.slots.entries()];
    for (const [id, slot] of slots) this.uncache(id, slot);
    await Promise.all(slots.map(([, slot]) => slot.closing));
  }

  private uncache(id: string, slot: Slot): void {
    if (this.slots.get(id) === slot) this.slots.delete(id);
    slot.cached = false;
    this.closeIfIdle(slot);
  }

  private trim(): void {
    for (const [id, slot] of this.slots) {
      if (this.slots.size <= this.capacity) return;
      this.uncache(id, slot);
    }
  }

  private closeIfIdle(slot: Slot): void {
    if (slot.cached || slot.refs > 0 || slot.closing) return;
    slot.closing = slot.opened.then(
      (handle) => handle.close().catch(() => undefined),
      () => undefined,
    );
  }
}
