/**
 * The bench's `write` scenario: a durable write of the large file by `dd conv=fdatasync` into the
 * cache's file system next to an agent Write of the same bytes (client stub's writeFile, Unix
 * socket, chunks framed without grpc-js's copy when main installed the patch), in
 * alternating order; the agent's entry is deleted after each round so every round writes anew.
 * Owns: that round. Never: starting the agent.
 */
import * as path from 'node:path';
import type { CheckpointCacheClient } from '@checkpoint-cache/client';
import type { AgentProcess } from './agent-process';
import type { BenchFile } from './bench-data';
import type { BenchResults } from './bench-results';
import { ddDurableWrite } from './native-limits';

const MB = 1e6;

/**
 * A durable write of the large file: `dd conv=fdatasync` into the cache's file system, and an
 * agent Write of the same bytes under a new key (deleted after, so every round writes anew).
 */
export async function writeScenario(
  round: number,
  large: BenchFile,
  agent: AgentProcess,
  client: CheckpointCacheClient,
  results: BenchResults,
): Promise<string> {
  const runs: [string, () => Promise<number>][] = [
    [
      'write.dd',
      () => ddDurableWrite(large.path, path.join(path.dirname(agent.cacheDir), 'dd-write.out')),
    ],
    [
      'write.agent',
      async () => {
        const key = `bench/write/${round}`;
        const started = performance.now();
        // What `ckc put` does with a file: read straight into the chunks sent.
        await client.writeFile(key, large.path, {
          jobId: 'bench-write',
          checkpointId: round + 1,
          size: large.size,
        });
        const seconds = (performance.now() - started) / 1000;
        await client.delete(key);
        return large.size / MB / seconds;
      },
    ],
  ];
  if (round % 2 === 1) runs.reverse();
  const parts: string[] = [];
  for (const [id, write] of runs) {
    const mbps = await write();
    results.record(id, round, mbps);
    parts.push(`${id.slice(6)} ${mbps.toFixed(0)}`);
  }
  return `${parts.join(', ')} MB/s`;
}
