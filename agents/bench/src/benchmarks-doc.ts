/**
 * docs/benchmarks.md as a mix of prose written by people and blocks written by the bench: each
 * generated block sits between `<!-- ckc-bench:<name>:begin -->` and `...:end -->` markers and is
 * replaced whole; everything outside the markers is left exactly as it was.
 * Owns: the markers. Never: text outside them.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export class BenchmarksDoc {
  constructor(private readonly file: string) {}

  /** Replaces (or, the first time, appends under `heading`) the block called `name`. */
  async replaceBlock(name: string, heading: string, content: string): Promise<void> {
    const begin = `<!-- ckc-bench:${name}:begin -->`;
    const end = `<!-- ckc-bench:${name}:end -->`;
    let text = await fs.readFile(this.file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '# Benchmarks\n';
      throw err;
    });
    const block = `${begin}\n${content.trim()}\n${end}`;
    const from = text.indexOf(begin);
    const to = text.indexOf(end);
    if (from >= 0 && to > from) {
      text = text.slice(0, from) + block + text.slice(to + end.length);
    } else {
      text = `${text.trimEnd()}\n\n## ${heading}\n\n${block}\n`;
    }
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    await fs.writeFile(this.file, text);
  }
}
