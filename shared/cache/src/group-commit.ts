/**
 * Group commit of small writes (issue #16): entries whose bytes and sidecar are already fsynced in
 * tmp/ wait here to be published together. A group moves all its entries into place, fsyncs each
 * directory they went to once, registers them all in the metadata store in one round trip (all or
 * none), and only then answers each caller. Entries held in memory to be packed (pack-store.ts)
 * join the same groups: a group writes all of its packed entries into one new pack, alongside the
 * renames. No timer: a write that arrives while no group is in flight starts one at once; writes
 * that arrive while one is in flight form the next.
 * Owns: forming groups and telling each caller its own outcome. Never: the index, locks or
 * capacity (EntryWrites), the order of renames and fsyncs (DiskStore.publishAll, PackStore.write).
 */
import type { DiskStore, Publishing } from './disk-store';
import type { EntryMetadata, MetadataStore } from './metadata-store';
import type { PackMember, PackPlace } from './pack-store';

/** Most entries in one group: one MULTI of this many scripts is still a short Redis command. */
const MAX_GROUP = 256;

/** An entry with its own files in tmp/, or one to be packed. */
export type GroupMember = (Publishing | (PackMember & { id: string; packed: true })) & {
  metadata: EntryMetadata;
};

interface Waiting {
  member: GroupMember;
  /** With where a packed member's bytes are; undefined for one with files of its own. */
  resolve: (place: PackPlace | undefined) => void;
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
  publish(member: GroupMember): Promise<PackPlace | undefined> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ member, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  /**
   * publish for each member (a promise each, in order), queued together: a group that starts now
   * takes them all (up to its limit), where members published one by one would see the first
   * start a group alone.
   */
  publishAll(members: readonly GroupMember[]): Promise<PackPlace | undefined>[] {
    const outcomes = members.map(
      (member) =>
        new Promise<PackPlace | undefined>((resolve, reject) => {
          this.waiting.push({ member, resolve, reject });
        }),
    );
    if (!this.running && this.waiting.length > 0) void this.drain();
    return outcomes;
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
    const own: Waiting[] = [];
    const packed: Waiting[] = [];
    for (const w of group) ('packed' in w.member ? packed : own).push(w);
    const errors = new Map<Waiting, unknown>();
    const places = new Map<Waiting, PackPlace>();
    await Promise.all([
      own.length === 0
        ? undefined
        : this.disk.publishAll(own.map((w) => w.member as Publishing)).then(
            (results) => results.forEach((err, i) => err && errors.set(own[i]!, err)),
            (err: unknown) => own.forEach((w) => errors.set(w, err)),
          ),
      packed.length === 0
        ? undefined
        : this.disk.packs.write(packed.map((w) => w.member as PackMember)).then(
            (at) => at.forEach((place, i) => places.set(packed[i]!, place)),
            (err: unknown) => packed.forEach((w) => errors.set(w, err)),
          ),
    ]);
    const published = group.filter((w) => {
      const error = errors.get(w);
      if (error !== undefined) w.reject(error);
      return error === undefined;
    });
    if (published.length === 0) return;
    try {
      await this.metadata.registerAll(published.map((w) => w.member.metadata));
    } catch (err) {
      // All or none were registered: the whole group failed, as one write's register does. A
      // packed entry is taken out of its pack here (its caller has no place to remove it by).
      for (const w of published) {
        const place = places.get(w);
        try {
          if (place)
            this.disk.packs.remove(place, w.member.id, (w.member as PackMember).sidecar.size);
        } catch {
          // Left in its pack: the next start finds it, and reconcile registers it as any entry
          // on disk that Redis does not know.
        }
        w.reject(err);
      }
      return;
    }
    for (const w of published) w.resolve(places.get(w));
  }
}
