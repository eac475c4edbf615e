/**
 * Deletes that reach every copy (issue 13). A Delete of one key asked on this node removes the
 * local copy, then tells every other node that the location index lists as holding the entry to
 * delete its copy. A delete of a directory (DeletePrefix) removes the local entries below it, then
 * tells every node known to the cluster (not only holders: the index is keyed by entry id, so it
 * cannot say who holds keys below a directory). Notices travel through DeleteNotices (on Redis a
 * per-node set of pending deletes plus a wake-up message, drained on the message, after every
 * reconnect and every reconcile interval). A notice received from another node removes the local
 * copies made before the delete; a copy written again after it stays.
 * Owns: the order (here first, then the others), what a failure to reach the others means, and the
 * rule for applying a notice. Never: Redis or gRPC; the write-access policy (applied where the
 * delete is asked, by the service, before this runs).
 */
import { silentLogger, ThrottledWarn, type Logger } from '@checkpoint-cache/logger';
import { entryIdOf, validateKeyPrefix } from './entry-key';
import type { NodeCache } from './node-cache';

/**
 * A copy made up to this long after a delete on another node still counts as older than the
 * delete: node clocks differ by this much at most (NTP keeps them within milliseconds). The cost of
 * a too-generous allowance is one cache miss of a key written again right after its delete.
 */
export const NOTICE_CLOCK_ALLOWANCE_MS = 60_000;

/** What another node deleted: one entry (by id), or every entry below a directory (by prefix). */
export type DeleteNotice = { entryId: string } | { prefix: string };

export interface DeleteNotices {
  /**
   * Tells every node other than this one that the location index lists as holding entry `id` to
   * delete its copy made at or before `atMs`; resolves with the nodes told. Rejects with
   * CacheError(Unavailable) when they cannot be told now.
   */
  deleteElsewhere(id: string, atMs: number): Promise<string[]>;
  /**
   * Tells every node other than this one that the cluster knows of to delete its entries whose
   * keys start with `prefix`, made at or before `atMs`; resolves with the nodes told. Rejects
   * with CacheError(Unavailable) when they cannot be told now.
   */
  deletePrefixElsewhere(prefix: string, atMs: number): Promise<string[]>;
}

export interface ClusterDeleteOptions {
  cache: NodeCache;
  notices: DeleteNotices;
  logger?: Logger;
}

/** What a delete by prefix did: here, and how many other nodes were told (-1: none could be). */
export interface PrefixDeleteResult {
  entries: number;
  bytes: number;
  nodesTold: number;
}

export class ClusterDelete {
  private readonly logger: Logger;
  private readonly unreached: ThrottledWarn;

  constructor(private readonly options: ClusterDeleteOptions) {
    this.logger = (options.logger ?? silentLogger).child({ component: 'cluster-delete' });
    this.unreached = new ThrottledWarn(this.logger);
  }

  /**
   * Removes the local copy (true when there was one), then tells the other holders. A delete
   * whose notices cannot be sent (Redis unreachable) still succeeds here, as a Delete did before
   * notices existed: the other copies then stay until their TTL, and a warning says so.
   */
  async delete(key: string): Promise<boolean> {
    const atMs = Date.now();
    const deleted = await this.options.cache.delete(key);
    await this.tell(() => this.options.notices.deleteElsewhere(entryIdOf(key), atMs), { key });
    return deleted;
  }

  /**
   * Removes the local entries below directory `prefix`, then tells every other node. As with
   * delete(), a failure to tell them is a warning, not a failed call (nodesTold = -1): the local
   * part is done, and the caller cannot do better than ask again once Redis is back.
   */
  async deletePrefix(prefix: string): Promise<PrefixDeleteResult> {
    validateKeyPrefix(prefix);
    const atMs = Date.now();
    const here = await this.options.cache.deletePrefix(prefix);
    const told = await this.tell(() => this.options.notices.deletePrefixElsewhere(prefix, atMs), {
      prefix,
    });
    return { ...here, nodesTold: told === undefined ? -1 : told.length };
  }

  /**
   * A notice from another node that an entry, or a directory's entries, were deleted there at
   * `atMs`: removes the local copies unless they were made after that (written again). True when
   * something was removed.
   */
  async applyNotice(notice: DeleteNotice, atMs: number): Promise<boolean> {
    const madeBefore = atMs + NOTICE_CLOCK_ALLOWANCE_MS;
    if ('entryId' in notice) return this.options.cache.deleteMadeBefore(notice.entryId, madeBefore);
    const { entries } = await this.options.cache.deletePrefix(notice.prefix, madeBefore);
    if (entries > 0) {
      this.logger.debug('directory deleted on notice', { prefix: notice.prefix, entries });
    }
    return entries > 0;
  }

  private async tell(
    send: () => Promise<string[]>,
    what: Record<string, unknown>,
  ): Promise<string[] | undefined> {
    try {
      const told = await send();
      if (told.length > 0)
        this.logger.debug('delete sent to other nodes', { ...what, nodes: told });
      this.unreached.reset();
      return told;
    } catch (error) {
      this.unreached.warn(
        'a delete did not reach the other nodes holding copies (Redis unreachable); their ' +
          'copies stay until their TTL unless it is deleted again once Redis is back',
        { ...what, error },
      );
      return undefined;
    }
  }
}
