/**
 * The bench's `write` scenario: a durable write of the large file by `dd conv=fdatasync` into the
 * cache's file system next to an agent Write of the same bytes (client stub's writeFile, Unix
 * socket, chunks framed without grpc-js's copy when main installed the patch) and an Ingest of
 * them (the caller writes a spool file into the agent's ingest directory with the client's
 * copyForHandOver, computing its CRC32C as it goes, then the agent copies it; timed: the copy
 * alone, and with the spool write, not the spool's fsync between them), and a hand-over of such a
 * spool file (Ingest with hand_over: timed from the spool's first byte to the answer, the spool's
 * only fsync being the agent's), in
 * turn, the order rotating each round; the agent's entry is deleted after each so every one
 * writes anew.
 * Owns: that round. Never: starting the agent.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { copyForHandOver, type CheckpointCacheClient } from '@checkpoint-cache/client';
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
  /** The agent's --ingest-dir. */
  ingestDir: string,
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
    [
      'write.ingest',
      async () => {
        const key = `bench/ingest/${round}`;
        const started = performance.now();
        const { path: spool, crc32c: crc } = await copyForHandOver(large.path, ingestDir);
        const spoolSeconds = (performance.now() - started) / 1000;
        // Not timed: the spool's dirty pages would otherwise be written back during the copy,
        // which measures the disk's write-back of the spool, not the Ingest (docs/benchmarks.md).
        await syncFile(spool);
        const copyStarted = performance.now();
        await client.ingest(key, path.basename(spool), {
          jobId: 'bench-write',
          checkpointId: round + 1,
          size: large.size,
          crc32c: crc,
        });
        const copySeconds = (performance.now() - copyStarted) / 1000;
        await fs.rm(spool);
        await client.delete(key);
        results.record('write.spool_ingest', round, large.size / MB / (spoolSeconds + copySeconds));
        return large.size / MB / copySeconds;
      },
    ],
    [
      'write.handover',
      async () => {
        const key = `bench/handover/${round}`;
        // As dd: from the source's first byte to bytes durable on disk, written there once. What
        // CheckpointCacheClient.handOverFile (`ckc put --ingest-dir`) does, in two steps so that
        // the link can be seen before the copy's name goes.
        const started = performance.now();
        const { path: spool, crc32c: crc } = await copyForHandOver(large.path, ingestDir);
        const callStarted = performance.now();
        let stored, ended, linked;
        try {
          stored = await client.ingest(key, path.basename(spool), {
            jobId: 'bench-write',
            checkpointId: round + 1,
            size: large.size,
            crc32c: crc,
            handOver: true,
          });
          ended = performance.now();
          linked = (await fs.stat(spool)).nlink === 2;
        } finally {
          await fs.rm(spool);
        }
        await client.delete(key);
        if (!stored.created || !linked) {
          throw new Error(`the hand-over of ${spool} was not linked into the cache (copied?)`);
        }
        results.record(
          'write.handover_call',
          round,
          (large.size / MB) * (1000 / (ended - callStarted)),
        );
        return (large.size / MB) * (1000 / (ended - started));
      },
    ],
  ];
  // Each round starts with the next one, so no writer always follows the same other.
  for (let i = 0; i < round % runs.length; i++) runs.push(runs.shift()!);
  const parts: string[] = [];
  for (const [id, write] of runs) {
    const mbps = await write();
    results.record(id, round, mbps);
    parts.push(`${id.slice(6)} ${mbps.toFixed(0)}`);
  }
  return `${parts.join(', ')} MB/s`;
}

async function syncFile(file: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
