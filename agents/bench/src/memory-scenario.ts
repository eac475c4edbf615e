/**
 * The bench's memory scenario: the agent restarted over the seeded cache, then slow readers on
 * channels of their own (the worst case for what the agent holds); records its RSS after start-up,
 * after the writes, idle, and its peak while serving.
 * Owns: that scenario and its slow reader. Never: the agent's first start (ThroughputBench).
 */
import * as path from 'node:path';
import { CheckpointCacheClient } from '@checkpoint-cache/client';
import { AgentProcess } from './agent-process';
import type { BenchFile } from './bench-data';
import type { BenchOptions } from './bench-options';
import type { BenchResults } from './bench-results';
import type { CleanupStack } from './cleanup-stack';
import { consume } from './read-probes';
import { RssSampler } from './rss-sampler';

const MB = 1e6;
/** The target for the agent's peak RSS in the memory scenario. */
const MEMORY_TARGET_MB = 200;

export interface MemoryScenarioContext {
  options: BenchOptions;
  /** The agent that took the writes of the whole data set; stopped and restarted here. */
  seeded: AgentProcess;
  /** The run's temp dir (the agent's cache is in <root>/agent). */
  root: string;
  large: BenchFile;
  /** The agent's RSS right after start-up, before seeding. */
  agentStartRss: number;
  cleanup: CleanupStack;
  results: BenchResults;
}

export async function memoryScenario(ctx: MemoryScenarioContext): Promise<string> {
  const o = ctx.options;
  const seeded = ctx.seeded;
  // The writes of the whole data set leave their own high-water mark; the scenario is about
  // serving reads, so it runs on a freshly started agent over the same cache dir.
  const afterWrites = await new RssSampler(seeded.pid).current();
  await seeded.stop();
  const dir = path.join(ctx.root, 'agent');
  const agent = await AgentProcess.start({
    cacheDir: path.join(dir, 'cache'),
    socketPath: path.join(dir, 'agent.sock'),
  });
  ctx.cleanup.push('agent (restarted for the memory scenario)', () => agent.stop());
  const sampler = new RssSampler(agent.pid);
  // One channel per reader: several TaskManagers on the node, each with its own flow-control
  // windows, is the worst case for what the agent holds.
  const clients = Array.from(
    { length: o.memoryStreams },
    () => new CheckpointCacheClient({ agent: agent.tcpAddress }),
  );
  try {
    // The restarted agent finds its entries on disk; wait until it serves the file again.
    await consume(clients[0]!.read(ctx.large.key, { length: 1 }));
    const idle = await sampler.current();
    await sampler.start();
    const delivered = await Promise.all(
      clients.map((c) =>
        slowRead(c, ctx.large.key, o.memoryReaderBytesPerSecond, o.memorySeconds * 1000),
      ),
    );
    const reading = await sampler.stop();
    const peak = Math.max(reading.kernelPeak, reading.sampledPeak);
    ctx.results.record('memory.target', 0, MEMORY_TARGET_MB);
    ctx.results.record('memory.start', 0, ctx.agentStartRss / MB);
    ctx.results.record('memory.afterWrites', 0, afterWrites / MB);
    ctx.results.record('memory.idle', 0, idle / MB);
    ctx.results.record('memory.peak', 0, peak / MB);
    if (!reading.peakReset) {
      ctx.results.notes.push(
        'memory: VmHWM could not be reset (no permission on /proc/<pid>/clear_refs); the peak ' +
          'is the largest sampled VmRSS (every 50 ms) or VmHWM since start, whichever is larger',
      );
    }
    const rate = delivered.reduce((a, b) => a + b, 0) / MB / o.memorySeconds;
    return (
      `after writes ${(afterWrites / MB).toFixed(0)} MB; restarted: idle ${(idle / MB).toFixed(0)} MB, ` +
      `peak ${(peak / MB).toFixed(0)} MB (VmHWM ${(reading.kernelPeak / MB).toFixed(0)}, ` +
      `sampled ${(reading.sampledPeak / MB).toFixed(0)}), readers took ${rate.toFixed(0)} MB/s in all`
    );
  } finally {
    for (const c of clients) c.close();
  }
}

/** Reads `key` no faster than `bytesPerSecond` for `durationMs`, then cancels; returns bytes. */
function slowRead(
  client: CheckpointCacheClient,
  key: string,
  bytesPerSecond: number,
  durationMs: number,
): Promise<number> {
  const stream = client.read(key);
  const started = performance.now();
  let bytes = 0;
  return new Promise((resolve, reject) => {
    const stop = (): void => {
      clearTimeout(timer);
      stream.destroy();
      resolve(bytes);
    };
    const timer = setTimeout(stop, durationMs);
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      const aheadMs = (bytes / bytesPerSecond) * 1000 - (performance.now() - started);
      if (aheadMs > 2) {
        stream.pause();
        setTimeout(() => stream.resume(), aheadMs);
      }
    });
    stream.on('end', stop);
    stream.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
