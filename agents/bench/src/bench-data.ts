/**
 * The bytes every scenario reads: one large file and a multi-file checkpoint, random (so no
 * layer can compress or deduplicate them), written once per run into the run's temp dir, which
 * nginx and the raw pipes serve and the agent caches a copy of.
 * Owns: file names, sizes and cache keys. Never: serving them.
 */
import { randomFill } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { once } from 'node:events';

export interface BenchFile {
  /** Path relative to the data dir, with `/` (also the URL path under nginx). */
  name: string;
  path: string;
  size: number;
  /** Cache key under which the agent holds it. */
  key: string;
}

const WRITE_BLOCK = 4 * 1024 * 1024;

export class BenchData {
  private constructor(
    readonly dir: string,
    readonly large: BenchFile,
    readonly checkpoint: readonly BenchFile[],
  ) {}

  static async create(
    dir: string,
    sizes: { size: number; files: number; fileSize: number },
  ): Promise<BenchData> {
    await fs.mkdir(path.join(dir, 'chk-1'), { recursive: true });
    const large = file(dir, 'large.bin', sizes.size, 'bench/large');
    const checkpoint = Array.from({ length: sizes.files }, (_, i) => {
      const name = `chk-1/part-${String(i).padStart(3, '0')}`;
      return file(dir, name, sizes.fileSize, `bench/${name}`);
    });
    for (const f of [large, ...checkpoint]) await writeRandom(f.path, f.size);
    return new BenchData(dir, large, checkpoint);
  }

  get checkpointBytes(): number {
    return this.checkpoint.reduce((sum, f) => sum + f.size, 0);
  }

  get all(): BenchFile[] {
    return [this.large, ...this.checkpoint];
  }
}

function file(dir: string, name: string, size: number, key: string): BenchFile {
  return { name, path: path.join(dir, ...name.split('/')), size, key };
}

async function writeRandom(target: string, size: number): Promise<void> {
  const out = createWriteStream(target);
  for (let done = 0; done < size; done += WRITE_BLOCK) {
    const block = Buffer.allocUnsafe(Math.min(WRITE_BLOCK, size - done));
    await new Promise<void>((resolve, reject) =>
      randomFill(block, (err) => (err ? reject(err) : resolve())),
    );
    if (!out.write(block)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
}
