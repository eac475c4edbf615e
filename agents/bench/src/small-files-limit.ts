/**
 * The machine's limit for small durable writes (issue #16): `native/small-files.c`, compiled with
 * `cc` into the run's temp dir, writes 4 KiB entries with the agent's on-disk sequence (data and
 * sidecar each fsynced in tmp/, renamed into a shard dir, each dir fsynced once per group) and,
 * for comparison, with one fsynced file per entry. As every limit of the bench, the fastest the
 * machine does: the best of a few thread counts, 32 entries in flight in all as in the agent's run.
 * For packed entries (--pack-max-bytes) the limit is `native/packed-segments.c`: each entry a
 * record appended to a long-lived segment file, one fdatasync per group of 32, the fastest durable
 * layout for grouped small writes measured here (the agent writes a new pack per group instead).
 * Owns: compiling and running the programs. Never: recording metrics.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SOURCE = path.join(__dirname, '..', 'native', 'small-files.c');
const PACKED_SOURCE = path.join(__dirname, '..', 'native', 'packed-segments.c');
const IN_FLIGHT = 32;
const THREAD_COUNTS = [1, 4, 16];
export const CC_INSTALL_HINT = 'apt-get install -y gcc';

export interface SmallFilesLimit {
  /** Entries/s with the agent's layout: data + sidecar per entry. */
  layoutPerS: number;
  /** Entries/s with one fsynced file per entry. */
  filePerS: number;
}

/** Compiles the program into `dir`; returns its path, or why it cannot run here. */
export function buildSmallFiles(dir: string): Promise<{ bin?: string; missing?: string }> {
  return build(dir, SOURCE);
}

/** Compiles packed-segments.c into `dir`, as buildSmallFiles. */
export function buildPackedSegments(dir: string): Promise<{ bin?: string; missing?: string }> {
  return build(dir, PACKED_SOURCE);
}

/**
 * Entries/s of `entries` 4 KiB records appended by one thread, fdatasync'ed in groups of 32 (the
 * agent's writes in flight), in 64 MiB segments.
 */
export async function packedSegmentsLimit(
  bin: string,
  dir: string,
  entries: number,
): Promise<number> {
  const target = path.join(dir, 'packed-segments-run');
  await fs.mkdir(target, { recursive: true });
  try {
    const { stdout } = await run(bin, [target, String(entries), '1', String(IN_FLIGHT), '64']);
    return Number(stdout.trim().split(' ')[0]);
  } finally {
    await fs.rm(target, { recursive: true, force: true });
  }
}

async function build(dir: string, source: string): Promise<{ bin?: string; missing?: string }> {
  const bin = path.join(dir, path.basename(source, '.c'));
  try {
    await run('cc', ['-O2', '-pthread', '-o', bin, source]);
    return { bin };
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'cc not found' : String(err);
    return { missing: `${why} (${CC_INSTALL_HINT}); the native small-write limit is missing` };
  }
}

/** Runs `entries` writes per variant and thread count under `dir`; keeps each variant's best. */
export async function smallFilesLimit(
  bin: string,
  dir: string,
  entries: number,
): Promise<SmallFilesLimit> {
  const best = async (filesPerEntry: number): Promise<number> => {
    let fastest = 0;
    for (const threads of THREAD_COUNTS) {
      const target = path.join(dir, `small-files-${filesPerEntry}-${threads}`);
      await fs.mkdir(target, { recursive: true });
      try {
        const group = Math.max(1, Math.floor(IN_FLIGHT / threads));
        const { stdout } = await run(bin, [
          target,
          String(entries),
          String(threads),
          String(filesPerEntry),
          String(group),
        ]);
        fastest = Math.max(fastest, Number(stdout.trim().split(' ')[0]));
      } finally {
        await fs.rm(target, { recursive: true, force: true });
      }
    }
    return fastest;
  };
  return { layoutPerS: await best(2), filePerS: await best(1) };
}
