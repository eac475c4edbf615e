/**
 * Coalesces the TTL touches of reads and stats into one pipelined metadata call per tick, off the
 * first-byte path. A failed flush is logged (at most once per minute) and dropped: a hit never
 * turns into a failure because the metadata store is slow or down, and while it is down nothing
 * expires anyway.
 */
import { ThrottledWarn, type Logger } from '@checkpoint-cache/logger';
import type { EntryTouch, MetadataStore } from './metadata-store';

export class TouchBatcher {
  private pending = new Map<string, EntryTouch>();
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  private readonly drops: ThrottledWarn;

  constructor(
    private readonly metadata: MetadataStore,
    logger: Logger,
  ) {
    this.drops = new ThrottledWarn(logger);
  }

  touch(touch: EntryTouch): void {
    this.pending.set(touch.id, touch);
    if (!this.scheduled && !this.flushing) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  /** Sends what is pending; resolves when every touch queued before the call was attempted. */
  async flush(): Promise<void> {
    this.scheduled = false;
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.flushing = this.send(batch);
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
    if (this.pending.size > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  private async send(batch: EntryTouch[]): Promise<void> {
    try {
      await this.metadata.touch(batch);
    } catch (error) {
      this.drops.warn('TTL touches dropped: metadata store unavailable', {
        dropped: batch.length,
        error,
      });
    }
  }
}
