/** Private temporary directories for tests, and their removal. */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Creates `<tmpdir>/<prefix>-XXXXXX` and returns its path. */
export function makeTempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
}

/** Removes a directory made by makeTempDir with everything in it; missing is fine. */
export async function removeTempDir(dir: string): Promise<void> {
  const tmp = path.resolve(os.tmpdir());
  if (path.dirname(path.resolve(dir)) !== tmp) {
    throw new Error(`refusing to remove ${dir}: not a directory made by makeTempDir`);
  }
  await fs.rm(dir, { recursive: true, force: true });
}
