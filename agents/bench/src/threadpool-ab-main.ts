/**
 * `node agents/bench/lib/threadpool-ab-main.js [writes] [threads]`: small writes through a fresh
 * real agent with libuv's thread pool at the agent's default and at UV_THREADPOOL_SIZE=threads
 * (and at 4, libuv's own default), alternating, three rounds, so that each ratio is taken in the
 * same minute of a shared machine (issue 16; docs/benchmarks.md).
 * Owns: this one comparison. Never: the scale bench's figures (scale-bench.ts).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CheckpointCacheClient } from '@checkpoint-cache/client';
import { AgentProcess } from './agent-process';
import { runPool } from './read-probes';

const CONCURRENCY = 32;

async function writesPerSecond(label: string, threads: string, count: number): Promise<number> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckc-ab-'));
  // AgentProcess passes the bench's environment on (CKC_* aside).
  process.env.UV_THREADPOOL_SIZE = threads;
  const agent = await AgentProcess.start({
    cacheDir: path.join(dir, 'cache'),
    socketPath: path.join(dir, 'agent.sock'),
  });
  const client = new CheckpointCacheClient({ agent: agent.unixAddress });
  try {
    const started = performance.now();
    const items = Array.from({ length: count }, (_, i) => i);
    await runPool(items, CONCURRENCY, async (i) => {
      await client.write(`ab/${label}/${i}`, randomBytes(4096), { jobId: 'ab', size: 4096 });
    });
    return count / ((performance.now() - started) / 1000);
  } finally {
    client.close();
    await agent.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 1000);
  const threads = process.argv[3] ?? '32';
  for (let round = 1; round <= 3; round++) {
    const base = await writesPerSecond('base', '4', count);
    const more = await writesPerSecond('more', threads, count);
    process.stdout.write(
      `round ${round}: UV_THREADPOOL_SIZE=4 ${base.toFixed(0)}/s, =${threads} ` +
        `${more.toFixed(0)}/s, ratio ${(more / base).toFixed(2)}\n`,
    );
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  },
);
