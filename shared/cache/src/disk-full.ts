/**
 * A full cache file system (ENOSPC, or EDQUOT under a quota) as the caller should see it: a
 * ResourceExhausted naming the file system, its free bytes and what to do, not an unexpected
 * error. It happens when --min-free-percent is 0 or another process fills the disk during a write.
 * Owns: recognising those errors and the one throttled warning about them. Never: freeing space
 * (NodeCache evicts, within its configured limits).
 */
import { promises as fs } from 'node:fs';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { ThrottledWarn, type Logger } from '@checkpoint-cache/logger';

export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export class DiskFull {
  private readonly warning: ThrottledWarn;

  constructor(
    private readonly root: string,
    logger: Logger,
  ) {
    this.warning = new ThrottledWarn(logger);
  }

  /** What `work` returns; a full file system becomes CacheError(ResourceExhausted) about `key`. */
  async guard<T>(key: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw await this.explain(key, err);
    }
  }

  /** `err` as guard would throw it: a full file system as ResourceExhausted, anything else as is. */
  async explain(key: string, err: unknown): Promise<unknown> {
    return isNoSpace(err) ? this.refusal(key, err as NodeJS.ErrnoException) : err;
  }

  private async refusal(key: string, err: NodeJS.ErrnoException): Promise<CacheError> {
    const freeBytes = await fs.statfs(this.root).then(
      (s) => s.bavail * s.bsize,
      () => undefined,
    );
    const state = err.code === 'EDQUOT' ? 'over its disk quota' : 'full';
    this.warning.warn('cache file system full: writes fail until space is freed', {
      root: this.root,
      freeBytes,
      code: err.code,
    });
    return new CacheError(
      ErrorCode.ResourceExhausted,
      `${key} is not stored: the cache file system at ${this.root} is ${state} ` +
        `(${freeBytes ?? 'unknown'} bytes free). Free space on it, or have the agent keep some ` +
        'free (--min-free-percent above 0 makes writes evict idle entries first); read this file ' +
        'from the remote store',
      { cause: err },
    );
  }
}
