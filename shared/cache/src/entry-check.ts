/**
 * A full check of one entry on disk, for when a client reports that an entry's bytes did not add
 * up: the sidecar against its file name and whole-entry CRC32C, then every block of the data file.
 * Owns: reading and checking. Never: removing what fails (NodeCache quarantines it).
 */
import { promises as fs } from 'node:fs';
import { checkBlocks } from '@checkpoint-cache/checksum';
import { isNotFound } from './disk-store';
import { sidecarProblem, type Sidecar } from './sidecar';
import { READ_SPAN } from './verified-reader';

/**
 * Why entry `id` (its bytes in `file` from `fileOffset`, described by `sidecar`) is corrupt, or
 * undefined when every check passes or the file is gone (removed meanwhile: nothing to quarantine).
 */
export async function entryProblem(
  id: string,
  file: string,
  sidecar: Sidecar,
  fileOffset = 0,
): Promise<string | undefined> {
  const problem = sidecarProblem(id, sidecar);
  if (problem) return `its sidecar is unusable: ${problem}`;
  const { blockSize, blockCrcs, size } = sidecar;
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  try {
    const span = Math.max(blockSize, Math.floor(READ_SPAN / blockSize) * blockSize);
    const buffer = Buffer.allocUnsafe(span);
    for (let start = 0; start < size; start += span) {
      const want = Math.min(span, size - start);
      const { bytesRead } = await handle.read(buffer, 0, want, fileOffset + start);
      if (bytesRead !== want) return `its file ends at ${start + bytesRead} of ${size} bytes`;
      const check = checkBlocks(
        buffer.subarray(0, want),
        start / blockSize,
        blockSize,
        (b) => blockCrcs[b],
      );
      if (!check.ok) return `block ${check.block} fails its CRC32C`;
    }
    return undefined;
  } finally {
    await handle.close();
  }
}
