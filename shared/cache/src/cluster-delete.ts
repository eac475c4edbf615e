/**
 * Deletes that reach every copy (issue 13): a Delete asked on this node removes the local copy,
 * then tells every other node that the location index lists as holding the entry to delete its
 * copy (DeleteNotices; on Redis a per-node set of pending deletes plus a wake-up message, drained
 * on the message, after every reconnect and every reconcile interval). A notice received from
 * another node removes the local copy unless the copy was made after the delete.
 * Owns: the order (here first, then the others), what a failure to reach the others means, and the
 * rule for applying a notice. Never: Redis or gRPC; the write-access policy (applied where the
 * delete is asked, by the service, before this runs).
 */
import { silentLogger, ThrottledWarn, type Logger } from '@checkpoint-cache/logger';
import { entryIdOf } from './entry-key';
import type { NodeCache } from './node-cache';

/**
 * A copy made up to this long after a delete on another node still counts as older than the
 * delete: node clocks differ by this much at most (NTP keeps them within milliseconds). The cost of
 * a too-generous allowance is one cache miss of a key written again right after its delete.
 */
export const NOTICE_CLOCK_ALLOWANCE_MS = 60_000;

export interface DeleteNotices {
  /**
   * Tells every node other than this one that the location index lists as holding entry `id` to
   * delete its copy made at or before `atMs`; resolves with the nodes told. Rejects with
   * CacheError(Unavailable) when they cannot be told now.
   */
  deleteElsewhere(id: string, atMs: number): Promise<string[]>;
}

export interface ClusterDeleteOptions {
  cache: NodeCache;
  notices: DeleteNotices;
  logger?: Logger;
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
    try {
      const told = await this.options.notices.deleteElsewhere(entryIdOf(key), atMs);
      if (told.length > 0) this.logger.debug('delete sent to other nodes', { key, nodes: told });
      this.unreached.reset();
    } catch (error) {
      this.unreached.warn(
        'a delete did not reach the other nodes holding the entry (Redis unreachable); their ' +
          'copies stay until their TTL unless it is deleted again once Redis is back',
        { key, error },
      );
    }
    return deleted;
  }

  /**
   * A notice from another node that entry `id` was deleted there at `atMs`: removes the local
   * copy unless it was made after that (a write of the key again). True when removed.
   */
  applyNotice(id: string, atMs: number): Promise<boolean> {
    return this.options.cache.deleteMadeBefore(id, atMs + NOTICE_CLOCK_ALLOWANCE_MS);
  }
}
