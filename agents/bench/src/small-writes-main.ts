/**
 * `node agents/bench/lib/small-writes-main.js [writes] [concurrency] [rounds] [batch] [agent
 * flags...]`: 4 KiB
 * writes through a fresh real agent (its embedded Redis, the Unix socket), reporting entries/s and
 * the CPU the agent and this client spent per entry (issue 16). Without `batch` (or with 1): single
 * Writes, `concurrency` at a time. With `batch` N > 1: WriteBatch calls of N entries each
 * (the client stub's writeBatch), `concurrency` calls at a time. Entries/s swings with the load of
 * a shared machine; CPU per entry much less. Further arguments are the agent's flags, e.g.
 * `--pack-max-bytes 64KiB`. For a before/after, run it in two checkouts
 * alternately (docs/benchmarks.md, "Scale").
 * Owns: this one measurement. Never: the scale bench's figures (scale-bench.ts).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CheckpointCacheClient } from '@checkpoint-cache/client';
import { AgentProcess } from './agent-process';
import { ownCpuSeconds, processCpuSeconds } from './cpu-time';
import { runPool } from './read-probes';

const ENTRY_BYTES = 4096;

async function round(
  count: number,
  concurrency: number,
  batch: number,
  agentFlags: readonly string[],
): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckc-small-writes-'));
  const agent = await AgentProcess.start({
    cacheDir: path.join(dir, 'cache'),
    socketPath: path.join(dir, 'agent.sock'),
    extraArgs: agentFlags,
  });
  const client = new CheckpointCacheClient({ agent: agent.unixAddress });
  try {
    const items = Array.from({ length: count }, (_, i) => i);
    // Batches of indices; the bytes of each are made just before they are sent, as for Write.
    const batches = Array.from({ length: Math.ceil(count / batch) }, (_, b) =>
      items.slice(b * batch, (b + 1) * batch),
    );
    const agentCpu = await processCpuSeconds(agent.pid);
    const ownCpu = ownCpuSeconds();
    const started = performance.now();
    if (batch <= 1) {
      await runPool(items, concurrency, async (i) => {
        await client.write(`hdfs://nn/small-writes/${i}`, randomBytes(ENTRY_BYTES), {
          jobId: 'bench',
          checkpointId: 1,
          size: ENTRY_BYTES,
        });
      });
    } else {
      await runPool(batches, concurrency, async (indices) => {
        const results = await client.writeBatch(
          indices.map((i) => ({
            key: `hdfs://nn/small-writes/${i}`,
            data: randomBytes(ENTRY_BYTES),
            jobId: 'bench',
            checkpointId: 1,
          })),
        );
        for (const r of results) if (!r.ok) throw r.error;
      });
    }
    const seconds = (performance.now() - started) / 1000;
    const agentUs = (((await processCpuSeconds(agent.pid)) - agentCpu) / count) * 1e6;
    const clientUs = ((ownCpuSeconds() - ownCpu) / count) * 1e6;
    return (
      `${(count / seconds).toFixed(0)} entries/s, agent CPU ${agentUs.toFixed(0)} µs/entry, ` +
      `client CPU ${clientUs.toFixed(0)} µs/entry, load average ${os.loadavg()[0].toFixed(1)}`
    );
  } finally {
    client.close();
    await agent.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 2000);
  const concurrency = Number(process.argv[3] ?? 32);
  const rounds = Number(process.argv[4] ?? 1);
  const batch = Number(process.argv[5] ?? 1);
  const agentFlags = process.argv.slice(6);
  for (let r = 1; r <= rounds; r++) {
    process.stdout.write(`${await round(count, concurrency, batch, agentFlags)}\n`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  },
);
