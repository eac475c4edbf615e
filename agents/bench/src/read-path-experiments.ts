/**
 * The "make it fast" experiments of issue 4, measured in the same rounds as the main table
 * (`npm run bench -- --experiments`), each as a ratio to its own "before" taken seconds apart:
 *  - server read-loop levers (read-ahead, pooled buffers, 1 MiB blocks; and pre-encoding, already
 *    applied, as objects vs today) in ExperimentalReadService, against its replica of today's
 *    loop, which is itself checked against the real agent;
 *  - client levers against the real agent: flow-control window, chunk size, HTTP/2 frame size;
 *  - the ceiling of a same-node short-circuit read: the agent's own entry file read directly and
 *    verified block by block against its sidecar, against the raw file read.
 * Owns: the experiment catalogue and the experiment server child. Never: changing the product.
 */
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { DiskStore, entryIdOf } from '@checkpoint-cache/cache';
import { crc32c } from '@checkpoint-cache/checksum';
import { CheckpointCacheClient, type CheckpointCacheClientOptions } from '@checkpoint-cache/client';
import type { AgentProcess } from './agent-process';
import type { BenchFile } from './bench-data';
import type { BenchResults, MetricSpec } from './bench-results';
import type { CleanupStack } from './cleanup-stack';
import { READ_VARIANTS } from './experimental-read-service';
import { ManagedChild } from './managed-child';
import { openFile } from './read-probes';
import { RAW_PIPE_READ_SIZE } from './raw-pipe-server';

export interface ExperimentContext {
  large: BenchFile;
  agent: AgentProcess;
  agentCacheDir: string;
  results: BenchResults;
  cleanup: CleanupStack;
  /** ThroughputBench's timed, length-checked read that also records sender/reader CPU. */
  transfer(
    id: string,
    round: number,
    expectedBytes: number,
    open: () => Readable | Promise<Readable>,
    senderPids?: readonly number[],
  ): Promise<string>;
}

const MiB = 1024 * 1024;
export const EXPERIMENTS_SECTION = 'Experiments';

/** Client-side levers, each a client of the real agent that differs from the default in one way. */
const CLIENT_LEVERS: {
  id: string;
  label: string;
  options?: Partial<CheckpointCacheClientOptions>;
  readChunk?: number;
  maxFrameSize?: number;
}[] = [
  { id: 'exp.window.64k', label: 'client flow-control window 64 KiB (grpc-js default)', options: { channelOptions: { 'grpc-node.flow_control_window': 65_535 } } },
  { id: 'exp.window.32m', label: 'client flow-control window 32 MiB', options: { channelOptions: { 'grpc-node.flow_control_window': 32 * MiB } } },
  { id: 'exp.chunk.64k', label: 'client asks for 64 KiB chunks (max_chunk_size)', readChunk: 64 * 1024 },
  { id: 'exp.frame.1m', label: 'client HTTP/2 SETTINGS_MAX_FRAME_SIZE 1 MiB (http2.connect patched)', maxFrameSize: MiB },
]; // prettier-ignore

export class ReadPathExperiments {
  private experimentClient: CheckpointCacheClient | undefined;
  private experimentPid: number | undefined;
  private readonly agentClient: CheckpointCacheClient;
  private readonly leverClients = new Map<string, CheckpointCacheClient>();

  constructor(private readonly ctx: ExperimentContext) {
    // Own subchannels: these clients must not share a connection with the main table's clients.
    this.agentClient = this.client({});
  }

  async start(): Promise<void> {
    const child = ManagedChild.spawn({
      name: 'experiment server',
      command: process.execPath,
      args: [path.join(__dirname, 'experiment-server-main.js'), this.ctx.large.path],
    });
    this.ctx.cleanup.push('experiment server', () => child.stop());
    const address = await child.waitForLine((line) => {
      if (!line.startsWith('{"ready"')) return undefined;
      return (JSON.parse(line) as { ready: string }).ready;
    }, 120_000);
    this.experimentPid = child.pid;
    this.experimentClient = this.client({ agent: address });
    for (const lever of CLIENT_LEVERS) {
      const client = this.client(lever.options ?? {});
      this.leverClients.set(lever.id, client);
      if (lever.maxFrameSize) await connectWithMaxFrameSize(client, lever.maxFrameSize);
    }
    const clients = [this.agentClient, this.experimentClient, ...this.leverClients.values()];
    this.ctx.cleanup.push('experiment clients', () => clients.forEach((c) => c.close()));
  }

  defineMetrics(): void {
    const S = EXPERIMENTS_SECTION;
    const define = (spec: Omit<MetricSpec, 'section'> & { section?: string }): void =>
      this.ctx.results.define({ section: S, experiment: true, ...spec });
    const cpu = (id: string, label: string, kind: MetricSpec['kind'], to: { to: string; name: string }[]): void => {
      define({ id: `cpu.server.${id}`, section: `${S}: sender CPU per GB`, label, unit: 'CPU s/GB', kind, ratios: to.map((r) => ({ to: `cpu.server.${r.to}`, name: r.name })) });
      define({ id: `cpu.client.${id}`, section: `${S}: reader (client stub) CPU per GB`, label, unit: 'CPU s/GB', kind, ratios: to.map((r) => ({ to: `cpu.client.${r.to}`, name: r.name })) });
    };
    define({ id: 'exp.agent', label: 'agent today, client stub over TCP (default options)', unit: 'MB/s', kind: 'agent', ratios: [{ to: 'tcp', name: 'raw TCP' }, { to: 'nginx', name: 'nginx' }] });
    cpu('exp.agent', 'agent today', 'agent', []);
    for (const v of READ_VARIANTS) {
      const ratios = v === 'today'
        ? [{ to: 'exp.agent', name: 'agent today' }]
        : v === 'objects'
          ? [{ to: 'exp.v.today', name: 'today replica (pre-encoded)' }]
          : [{ to: 'exp.v.today', name: 'today replica' }];
      define({ id: `exp.v.${v}`, label: `read loop: ${v}`, unit: 'MB/s', kind: 'framework', ratios: [...ratios, { to: 'tcp', name: 'raw TCP' }, { to: 'nginx', name: 'nginx' }] });
      cpu(`exp.v.${v}`, `read loop: ${v}`, 'framework', ratios);
    }
    for (const lever of CLIENT_LEVERS) {
      define({ id: lever.id, label: lever.label, unit: 'MB/s', kind: 'agent', ratios: [{ to: 'exp.agent', name: 'agent today (8 MiB window, 256 KiB chunks)' }] });
      cpu(lever.id, lever.label, 'agent', [{ to: 'exp.agent', name: 'agent today' }]);
    }
    define({ id: 'exp.file', label: 'file read, fs.createReadStream (256 KiB) → nothing', unit: 'MB/s', kind: 'limit' });
    define({ id: 'exp.shortcircuit.serial', label: 'short-circuit ceiling, serial: read block, verify, hand over, read next', unit: 'MB/s', kind: 'agent', ratios: [{ to: 'exp.file', name: 'raw file read' }] });
    define({ id: 'exp.shortcircuit', label: 'short-circuit ceiling, read-ahead: next block read while this one is verified', unit: 'MB/s', kind: 'agent', ratios: [{ to: 'exp.file', name: 'raw file read' }, { to: 'exp.shortcircuit.serial', name: 'serial' }] });
  } // prettier-ignore

  /** One pass over every experiment; alternate rounds go in reverse order. */
  async run(round: number): Promise<string> {
    const size = this.ctx.large.size;
    const key = this.ctx.large.key;
    const agentPid = [this.ctx.agent.pid];
    const expPid = this.experimentPid === undefined ? [] : [this.experimentPid];
    const steps: [string, () => Promise<string>][] = [
      ['file', () => this.ctx.transfer('exp.file', round, size, () => openFile(this.ctx.large.path, RAW_PIPE_READ_SIZE))],
      ['short-circuit', () => this.ctx.transfer('exp.shortcircuit', round, size, () => this.shortCircuitRead(true))],
      ['short-circuit serial', () => this.ctx.transfer('exp.shortcircuit.serial', round, size, () => this.shortCircuitRead(false))],
      ['agent', () => this.ctx.transfer('exp.agent', round, size, () => this.agentClient.read(key), agentPid)],
      ...READ_VARIANTS.map((v): [string, () => Promise<string>] => [
        v,
        () => this.ctx.transfer(`exp.v.${v}`, round, size, () => (this.experimentClient as CheckpointCacheClient).read(v), expPid),
      ]),
      ...CLIENT_LEVERS.map((lever): [string, () => Promise<string>] => [
        lever.id.slice(4),
        () => {
          const client = this.leverClients.get(lever.id) as CheckpointCacheClient;
          const options = lever.readChunk ? { maxChunkSize: lever.readChunk } : {};
          return this.ctx.transfer(lever.id, round, size, () => client.read(key, options), agentPid);
        },
      ]),
    ]; // prettier-ignore
    if (round % 2 === 1) steps.reverse();
    const parts: string[] = [];
    for (const [name, step] of steps) parts.push(`${name} ${await step()}`);
    return `${parts.join(', ')} MB/s`;
  }

  /**
   * What a same-node client would do with a leased path: read it and verify every block against
   * the sidecar, the next block's read (threadpool) overlapping this block's CRC (main thread).
   */
  private async shortCircuitRead(readahead: boolean): Promise<Readable> {
    const disk = new DiskStore(this.ctx.agentCacheDir);
    const id = entryIdOf(this.ctx.large.key);
    const sidecar = await disk.readSidecar(id);
    if (!sidecar)
      throw new Error(`no sidecar for ${this.ctx.large.key} in ${this.ctx.agentCacheDir}`);
    const { blockSize, blockCrcs, size } = sidecar;
    const handle = await fs.open(disk.dataPath(id), 'r');
    const readBlock = async (index: number): Promise<Buffer> => {
      const length = Math.min(blockSize, size - index * blockSize);
      const buffer = Buffer.allocUnsafe(length);
      for (let done = 0; done < length;) {
        const { bytesRead } = await handle.read(
          buffer,
          done,
          length - done,
          index * blockSize + done,
        );
        if (bytesRead === 0) throw new Error(`entry file ends at block ${index}`);
        done += bytesRead;
      }
      return buffer;
    };
    async function* verified(): AsyncGenerator<Buffer> {
      try {
        let next = blockCrcs.length > 0 ? readBlock(0) : undefined;
        for (let i = 0; next; i++) {
          const block = await next;
          const more = i + 1 < blockCrcs.length;
          next = more && readahead ? readBlock(i + 1) : undefined;
          if (crc32c(block) !== blockCrcs[i]) throw new Error(`block ${i} fails its CRC32C`);
          yield block;
          if (more && !readahead) next = readBlock(i + 1);
        }
      } finally {
        await handle.close();
      }
    }
    return Readable.from(verified(), { objectMode: false });
  }

  private client(options: Partial<CheckpointCacheClientOptions>): CheckpointCacheClient {
    return new CheckpointCacheClient({
      agent: this.ctx.agent.tcpAddress,
      ...options,
      channelOptions: { 'grpc.use_local_subchannel_pool': 1, ...options.channelOptions },
    });
  }
}

/**
 * Opens the client's connection while http2.connect adds `maxFrameSize` to the SETTINGS it sends:
 * grpc-js has no option for it, so the module function is wrapped for the moment of the connect.
 */
async function connectWithMaxFrameSize(client: CheckpointCacheClient, size: number): Promise<void> {
  const http2 = createRequire(__filename)('node:http2') as typeof import('node:http2');
  const original = http2.connect;
  const patched = ((authority: string | URL, options?: object, listener?: () => void) =>
    original(
      authority,
      {
        ...options,
        settings: {
          ...(options as { settings?: object } | undefined)?.settings,
          maxFrameSize: size,
        },
      },
      listener,
    )) as typeof http2.connect;
  http2.connect = patched;
  try {
    // Any call connects the channel; the key need not exist.
    await client.stat('ckc-bench/connect').catch(() => undefined);
  } finally {
    http2.connect = original;
  }
}
