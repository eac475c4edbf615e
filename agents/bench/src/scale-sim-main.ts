/**
 * `node agents/bench/lib/scale-sim-main.js [--nodes 500] [--held 1000] [--model 100000]
 * [--seconds 30] [--speedup 1] [--touch-per-entry-day 1] [--connections 16]
 * [--redis-url redis://host:port]`: the simulation of issue 16 (scale-sim.ts) against a private
 * redis-server on a free port (no persistence), or an existing Redis given by --redis-url: one
 * server, or `redis+cluster://` listing every master (a test Redis only: it adds keys under the
 * prefix `sim`, turns on expired-key events and resets INFO statistics). Prints one
 * JSON line with the figures docs/benchmarks.md records.
 * Never: used by the agent or the tests.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './free-port';
import { ManagedChild } from './managed-child';
import { runScaleSim } from './scale-sim';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`--${name} must be a positive number, got ${process.argv[i + 1]}`);
  }
  return value;
}

async function main(): Promise<void> {
  const urlAt = process.argv.indexOf('--redis-url');
  let redisUrl = urlAt >= 0 ? process.argv[urlAt + 1] : undefined;
  let child: ManagedChild | undefined;
  let dir: string | undefined;
  if (!redisUrl) {
    const port = await freePort();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckc-sim-'));
    child = ManagedChild.spawn({
      name: 'redis-server',
      command: 'redis-server',
      args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--dir', dir], // prettier-ignore
    });
    await child.waitForLine((l) => (l.includes('Ready to accept') ? true : undefined), 20_000);
    redisUrl = `redis://127.0.0.1:${port}`;
  }
  try {
    const options = {
      redisUrl,
      nodes: arg('nodes', 500),
      heldEntries: arg('held', 1_000),
      modelEntries: arg('model', 100_000),
      seconds: arg('seconds', 30),
      speedup: arg('speedup', 1),
      touchPerEntryDay: arg('touch-per-entry-day', 1),
      connections: arg('connections', 16),
      say: (line: string) => process.stderr.write(`${line}\n`),
    };
    const result = await runScaleSim(options);
    const shown = { ...options, redisUrl: urlAt >= 0 ? 'given' : 'private', say: undefined };
    process.stdout.write(`${JSON.stringify({ options: shown, ...result })}\n`);
  } finally {
    await child?.stop('SIGKILL', 1_000);
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `scale-sim: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
