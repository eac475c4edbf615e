/**
 * The bench's client scenarios over the agent's client stubs and their peers: small range reads
 * (time to first byte against pread, nginx and the grpc-js constant server), concurrent streams
 * over the multi-file checkpoint (against nginx), and the restore of that checkpoint from the
 * shaped remote, from the cache, and through the short circuit.
 * Owns: one round of each. Never: setting anything up (ThroughputBench does, and passes it here).
 */
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { CheckpointCacheClient } from '@checkpoint-cache/client';
import type { BenchData, BenchFile } from './bench-data';
import type { BenchOptions } from './bench-options';
import type { BenchResults } from './bench-results';
import { consume, openHttp, runPool, timeFirstByte, timePread } from './read-probes';
import { percentile, seededRandom } from './sample-statistics';

const MB = 1e6;

/** What the scenarios read through; absent parts leave their figures out. */
export interface ClientScenarioContext {
  options: BenchOptions;
  data: BenchData;
  results: BenchResults;
  tcpClient: CheckpointCacheClient | undefined;
  unixClient: CheckpointCacheClient | undefined;
  directClient: CheckpointCacheClient | undefined;
  constantClient: CheckpointCacheClient | undefined;
  nginxUrl: string | undefined;
  remoteUrl: string | undefined;
  httpAgent: http.Agent;
}

export async function rangeScenario(
  ctx: ClientScenarioContext,
  round: number,
  reads: number,
): Promise<string> {
  const large = ctx.data.large;
  const size = Math.min(ctx.options.rangeSize, large.size);
  const random = seededRandom(1000 + round);
  const offsets = Array.from({ length: reads }, () =>
    Math.floor(random() * (large.size - size + 1)),
  );
  const lat: Record<'fs' | 'nginx' | 'constant' | 'agent', number[]> = {
    fs: [],
    nginx: [],
    constant: [],
    agent: [],
  };
  const handle = await fs.open(large.path, 'r');
  const buffer = Buffer.allocUnsafe(size);
  const nginxAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (const offset of offsets) {
      const range = { offset, length: size };
      lat.fs.push(await timePread(handle, buffer, offset, size));
      if (ctx.nginxUrl) {
        const url = `${ctx.nginxUrl}/${large.name}`;
        lat.nginx.push(await timeFirstByte(() => openHttp(url, { agent: nginxAgent, range })));
      }
      const constant = ctx.constantClient;
      if (constant) lat.constant.push(await timeFirstByte(() => constant.read(large.key, range)));
      const client = ctx.tcpClient as CheckpointCacheClient;
      lat.agent.push(await timeFirstByte(() => client.read(large.key, range)));
    }
  } finally {
    await handle.close();
    nginxAgent.destroy();
  }
  const parts: string[] = [];
  for (const [name, values] of Object.entries(lat)) {
    if (values.length === 0) continue;
    const p50 = percentile(values, 50);
    const p99 = percentile(values, 99);
    if (round >= 0) {
      ctx.results.record(`range.${name}.p50`, round, p50);
      ctx.results.record(`range.${name}.p99`, round, p99);
    }
    parts.push(`${name} ${p50.toFixed(3)}/${p99.toFixed(3)}`);
  }
  return `p50/p99 ms: ${parts.join(', ')}`;
}

export async function concurrencyScenario(
  ctx: ClientScenarioContext,
  round: number,
  streams: number,
): Promise<string> {
  // At least as many reads as streams, so that every stream has work.
  const files: BenchFile[] = [];
  while (files.length < streams || files.length < ctx.data.checkpoint.length) {
    files.push(...ctx.data.checkpoint);
  }
  const total = files.reduce((sum, f) => sum + f.size, 0);
  const client = ctx.tcpClient as CheckpointCacheClient;
  const runs: [string, (f: BenchFile) => Promise<number>][] = [
    [`conc.agent.${streams}`, (f) => consume(client.read(f.key))],
  ];
  const nginxUrl = ctx.nginxUrl;
  if (nginxUrl) {
    runs.push([
      `conc.nginx.${streams}`,
      async (f) => consume(await openHttp(`${nginxUrl}/${f.name}`, { agent: ctx.httpAgent })),
    ]);
  }
  if (round % 2 === 1) runs.reverse();
  const parts: string[] = [];
  for (const [id, read] of runs) {
    const started = performance.now();
    let bytes = 0;
    await runPool(files, streams, async (f) => {
      const n = await read(f);
      bytes += n;
    });
    if (bytes !== total) throw new Error(`${id}: read ${bytes} bytes, expected ${total}`);
    const mbps = total / MB / ((performance.now() - started) / 1000);
    ctx.results.record(id, round, mbps);
    parts.push(`${id.split('.')[1]} ${mbps.toFixed(0)}`);
  }
  return `${parts.join(', ')} MB/s`;
}

export async function recoveryScenario(ctx: ClientScenarioContext, round: number): Promise<string> {
  const client = ctx.unixClient as CheckpointCacheClient;
  const remoteUrl = ctx.remoteUrl as string;
  const ckpt = ctx.data.checkpoint;
  const total = ctx.data.checkpointBytes;
  const restore = async (which: 'remote' | 'cache' | 'direct'): Promise<string> => {
    const reader = which === 'direct' ? (ctx.directClient as CheckpointCacheClient) : client;
    const shortCircuited = (): number =>
      (reader.stats() as { bytesShortCircuit?: number }).bytesShortCircuit ?? 0;
    const before = reader.stats();
    const directBefore = shortCircuited();
    const started = performance.now();
    let bytes = 0;
    await runPool(ckpt, ctx.options.restoreParallelism, async (f) => {
      // A cold node: keys it never cached, so every read misses and continues from the remote.
      const key = which === 'remote' ? `bench/never-cached/${f.name}` : f.key;
      const n = await consume(reader.read(key, { remote: `${remoteUrl}/${f.name}` }));
      bytes += n;
    });
    const seconds = (performance.now() - started) / 1000;
    if (bytes !== total) throw new Error(`restore ${which}: ${bytes} bytes, expected ${total}`);
    const fromRemote = reader.stats().bytesFromRemote - before.bytesFromRemote;
    if (which === 'direct' && shortCircuited() - directBefore !== total) {
      ctx.results.notes.push(
        `round ${round + 1}: the short-circuit restore did not read every byte directly; ` +
          'its figures are left out',
      );
      return 'direct: not short-circuited';
    }
    ctx.results.record(`restore.${which}.s`, round, seconds);
    ctx.results.record(`restore.${which}.mbps`, round, total / MB / seconds);
    ctx.results.record(`restore.${which}.fromRemote`, round, fromRemote / MB);
    return `${which} ${seconds.toFixed(2)} s (${(fromRemote / MB).toFixed(0)} MB from remote)`;
  };
  const kinds = ['remote', 'cache', 'direct'] as const;
  const order = [...kinds.slice(round % 3), ...kinds.slice(0, round % 3)];
  const parts: string[] = [];
  for (const which of order) parts.push(await restore(which));
  return parts.join(', ');
}
