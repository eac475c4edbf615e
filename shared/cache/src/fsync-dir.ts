/**
 * Making a directory's entries durable: a name created, renamed or removed in it survives a crash
 * only once the directory itself is fsynced. Owns: that one call. Never: which directories need it.
 */
import { closeSync, fsync, fsyncSync, openSync } from 'node:fs';
import { promisify } from 'node:util';

const fsyncFd = promisify(fsync);

/** fsyncs directory `dir` (the wait for the device on the thread pool). */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsyncDir, blocking: for start-up, before anything is served. */
export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
