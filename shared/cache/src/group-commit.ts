/**
 * Group commit of small writes (issue #16): entries whose bytes and sidecar are already fsynced in
 * tmp/ wait here to be published together. A group moves all its entries into place, fsyncs each
 * directory they went to once, registers them all in the metadata store in one round trip (all or
 * none), and only then answers each caller. No timer: a write that arrives while no group is in
 * flight starts one at once; writes that arrive while one is in flight form the next.
 * Owns: forming groups and telling each caller its own outcome. Never: the index, locks or
 * capacity (EntryWrites), the order of renames and fsyncs (DiskStore.publishAll).
 */
import type { DiskStore, Publishing } from './disk-store';
import type { EntryMetadata, MetadataStore } from './metadata-store';

/** Most entries in one group: one MULTI of this many scripts is still a short Redis command. */
const MAX_GROUP = 256;

export interface GroupMember extends Publishing {
  metadata: EntryMetadata;
}

interface Waiting {
  member: GroupMember;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommit {
  private waiting: Waiting[] = [];
  private running = false;

  constructor(
    private readonly disk: DiskStore,
    private readonly metadata: MetadataStore,
  ) {}

  /**
   * Resolves once the entry is in place, durable and registered. Rejects with the error that kept
   * it from being so: when the disk failed its files are gone; when registration failed they are
   * in place and the caller removes them (EntryWrites also takes the entry out of the index).
   */
  publish(member: GroupMember): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ member, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.length > 0) {
        const group = this.waiting.splice(0, MAX_GROUP);
        await this.commit(group);
      }
    } finally {
      this.running = false;
    }
  }

  /** Never rejects: every failure goes to the callers it concerns. */
  private async commit(group: Waiting[]): Promise<void> {
    let errors: (Error | undefined)[];
    try {
      errors = await this.disk.publishAll(group.map((w) => w.member));
    } catch (err) {
      errors = group.map(() => err as Error);
    }
    const published = group.filter((w, i) => {
      const error = errors[i];
      if (error) w.reject(error);
      return !error;
    });
    if (published.length === 0) return;
    try {
      await this.metadata.registerAll(published.map((w) => w.member.metadata));
    } catch (err) {
      // All or none were registered: the whole group failed, as one write's register does.
      for (const w of published) w.reject(err);
      return;
    }
    for (const w of published) w.resolve();
  }
}
