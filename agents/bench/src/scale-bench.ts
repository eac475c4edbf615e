/**
 * npm run bench -- --only scale: one agent holding many small entries (issue #16). Measures, on a
 * real ckc-agent child and a private redis-server:
 * - small writes through the agent's Unix socket, 32 at a time (a subset of the entries); and the
 *   same number again as WriteBatch calls of 64 entries, 4 calls at a time, into a separate agent
 *   and cache dir, measured first and removed (Redis flushed) before the rest begins;
 * - the index load at restart (entries/s from the agent's own "cache index loaded" line) and the
 *   agent's peak RSS up to that line (the kernel's VmHWM, start-up included): once without an
 *   index snapshot (as after a crash before the first one: every sidecar is read), once after a
 *   clean stop (from the snapshot it saved);
 * - steady RSS per entry over an agent holding no entries;
 * - Redis commands and the agent's peak RSS over one reconcile pass in steady state (between two
 *   completions of the pass counter on /metrics), as commands per entry per hour;
 * - Redis memory per entry (INFO memory used_memory before and after): the record, the TTL key and
 *   the location-index set each registration writes (one holder), i.e. what an entry costs.
 * The rest of the entries are written straight to the cache dir with the agent's own sidecar
 * encoder and file names (no fsync: crash safety is not what seeding measures); the restarted agent
 * finds Redis not knowing them and its first reconcile pass registers them, as after a Redis that
 * lost its data.
 * Owns: what the scale figures mean and how they are taken. Never: formatting (BenchReport).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { DiskStore, encodeSidecar, entryIdOf, SIDECAR_VERSION } from '@checkpoint-cache/cache';
import { crc32c } from '@checkpoint-cache/checksum';
import { CheckpointCacheClient } from '@checkpoint-cache/client';
import { KeyBuilder } from '@checkpoint-cache/redis';
import { AgentProcess } from './agent-process';
import type { BenchOptions } from './bench-options';
import { BenchResults } from './bench-results';
import type { CleanupStack } from './cleanup-stack';
import { freePort } from './free-port';
import { ManagedChild } from './managed-child';
import { runPool } from './read-probes';
import { RssSampler } from './rss-sampler';
import {
  buildPackedSegments,
  buildSmallFiles,
  packedSegmentsLimit,
  smallFilesLimit,
} from './small-files-limit';

const ENTRY_BYTES = 4096;
const WRITE_CONCURRENCY = 32;
/** Entries per WriteBatch call and calls in flight for scale.write_batch_per_s. */
const BATCH_ENTRIES = 256;
const BATCHES_IN_FLIGHT = 4;
const TTL_MS = 24 * 3600_000;
/** Entries written, not timed, into each agent of measureSeparately before its figure. */
const WARM_UP_ENTRIES = 2_048;
/** Their keys' numbers start here, far from the timed entries'. */
const WARM_UP_FROM = 1 << 30;
/** The agent flag that packs small entries (docs/operations.md, "Packed small entries"). */
const PACKED = ['--pack-max-bytes', '64KiB'];
const BLOCK_SIZE = 64 * 1024;
const MB = 1e6;
const SECTION = 'Scale: one agent holding many 4 KiB entries';
const NODE_ID = 'bench-node';

export interface ScaleRun {
  results: BenchResults;
  setup: object;
}

export class ScaleBench {
  private readonly results = new BenchResults();
  private root = '';
  private redisPort = 0;
  private redis!: Redis;
  private metricsPort = 0;
  private readonly lines: Record<string, unknown>[] = [];

  constructor(
    private readonly options: BenchOptions,
    private readonly cleanup: CleanupStack,
    private readonly say: (line: string) => void,
  ) {}

  async run(): Promise<ScaleRun> {
    this.define();
    const n = this.options.entries;
    const written = Math.min(n, this.options.quick ? 2_000 : 5_000);
    this.root = await fs.mkdtemp(path.join(os.tmpdir(), 'ckc-scale-'));
    if (this.options.keep) this.say(`temp dir (kept): ${this.root}`);
    else this.cleanup.push('temp dir', () => fs.rm(this.root, { recursive: true, force: true }));
    await this.startRedis();
    const cacheDir = path.join(this.root, 'cache');

    // 0. The same small writes as WriteBatch calls, and packed (single Writes and WriteBatch),
    // each into an agent of its own; it and its Redis keys are gone before the figures below begin.
    // Timed over more entries than `written`: a second of writes is mostly noise on a shared machine.
    const timed = this.options.quick ? 5_000 : 20_000;
    // Single unpacked Writes the same way: the figure the others are compared with.
    await this.measureSeparately('scale.write_single_per_s', 'single', timed, [], false);
    await this.measureSeparately('scale.write_batch_per_s', 'batch', timed, [], true);
    await this.measureSeparately('scale.write_packed_per_s', 'packed', timed, PACKED, false);
    await this.measureSeparately(
      'scale.write_packed_batch_per_s',
      'packed-batch',
      timed,
      PACKED,
      true,
    );

    // 1. An empty agent: the baseline of RSS and Redis memory, then small writes through it.
    let agent = await this.startAgent(cacheDir);
    await sleep(2_000);
    const emptyRss = await new RssSampler(agent.pid).current();
    const redisBefore = await this.redisUsedMemory();
    this.say(
      `writing ${written} entries of 4 KiB through the agent, ${WRITE_CONCURRENCY} at a time`,
    );
    const writePerS = await this.writeThroughAgent(agent, written);
    this.results.record('scale.write_per_s', 0, writePerS);
    this.say(`  ${writePerS.toFixed(0)} entries/s`);
    await agent.stop();
    await this.measureSmallFilesLimit(written);

    // 2. The rest straight to disk, as the agent lays them out.
    this.say(`writing ${n - written} more entries straight into the cache dir`);
    await this.seedOnDisk(cacheDir, written, n);

    // 3. Restart without a snapshot (the first agent's covers only its own writes): the slow
    // index load, then the first reconcile pass registers what Redis lacks.
    await fs.rm(path.join(cacheDir, 'index.snapshot'), { force: true });
    agent = await this.restartAndLoad(
      cacheDir,
      'scale.load_cold_per_s',
      'scale.load_cold_peak_rss_mb',
    );
    await this.waitForCount(n, 900_000);
    const redisAfter = await this.redisUsedMemory();
    this.results.record('scale.redis_b_per_entry', 0, (redisAfter - redisBefore) / n);

    // 4. Steady state: one whole reconcile interval. Steady RSS is the lowest RSS sampled in it
    // (V8 gives memory back only after a major GC); the peak is the kernel's VmHWM over it.
    await this.waitForPasses((await this.reconcilePasses()) + 1, 600_000);
    const sampler = new RssSampler(agent.pid);
    const passes = await this.reconcilePasses();
    await sampler.start(100);
    const commandsBefore = await this.redisCommands();
    const windowStart = performance.now();
    await this.waitForPasses(passes + 1, 600_000);
    const hours = (performance.now() - windowStart) / 3600_000;
    const commands = (await this.redisCommands()) - commandsBefore - 1; // our own INFO
    const steadyRss = (await sampler.stop()).sampledLow;
    this.results.record('scale.steady_rss_mb', 0, steadyRss / MB);
    this.results.record('scale.steady_b_per_entry', 0, (steadyRss - emptyRss) / n);
    this.results.record('scale.reconcile_ops_per_entry_hour', 0, commands / n / hours);
    this.results.record('scale.reconcile_ops_per_s', 0, commands / (hours * 3600));

    // 5. The costliest pass: a full one, as after a Redis reconnect (the agent's connection is
    // killed, not ours: SKIPME yes).
    const full = new RssSampler(agent.pid);
    await full.start(100);
    const fullBefore = await this.redisCommands();
    const passesBefore = await this.reconcilePasses();
    await this.redis.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await this.waitForPasses(passesBefore + 1, 600_000);
    const fullCommands = (await this.redisCommands()) - fullBefore - 2;
    const reading = await full.stop();
    const reconcilePeak = reading.peakReset ? reading.kernelPeak : reading.sampledPeak;
    this.results.record('scale.reconcile_peak_rss_mb', 0, reconcilePeak / MB);
    this.results.record('scale.full_pass_ops_per_entry', 0, fullCommands / n);
    this.say(
      `  steady RSS ${(steadyRss / MB).toFixed(0)} MB (empty agent ${(emptyRss / MB).toFixed(0)} MB); ` +
        `one reconcile interval: ${commands} Redis commands in ${(hours * 3600).toFixed(1)} s, ` +
        `a full pass after a reconnect: ${fullCommands} commands, peak RSS ${(reconcilePeak / MB).toFixed(0)} MB`,
    );
    this.results.notes.push(
      `${n} entries of 4 KiB; ${written} written through the agent, the rest placed on disk and ` +
        'registered by the restarted agent; the cold load reads every sidecar (no snapshot), the ' +
        'load at restart follows a clean stop (from the index snapshot); peak RSS during a load is ' +
        'VmHWM from the agent start to its "cache index loaded" line; reconcile commands cover one interval (default 1 min) in ' +
        'steady state, the reconcile peak RSS a full pass after a Redis reconnect; Redis commands counted with INFO stats (touches: none, nothing is read); ' +
        'steady RSS is the lowest RSS sampled in that interval',
    );
    // 6. A clean stop saves the index snapshot; the restart loads from it.
    await agent.stop();
    agent = await this.restartAndLoad(cacheDir, 'scale.load_per_s', 'scale.load_peak_rss_mb');
    // 100,000 files take longer to remove than a cleanup step may; the agent goes first.
    await agent.stop();
    if (!this.options.keep) await fs.rm(cacheDir, { recursive: true, force: true });
    return {
      results: this.results,
      setup: {
        entries: n,
        writtenThroughAgent: written,
        timedSmallWrites: timed,
        warmUpEntries: WARM_UP_ENTRIES,
        entryBytes: ENTRY_BYTES,
        root: this.root,
      },
    };
  }

  private define(): void {
    const d = (id: string, label: string, unit: Parameters<BenchResults['define']>[0]['unit']) =>
      this.results.define({ id, section: SECTION, label, unit, kind: 'agent' });
    this.results.define({
      id: 'scale.write_batch_per_s',
      section: SECTION,
      label: `small writes as WriteBatch calls (4 KiB, ${BATCH_ENTRIES} per call, ${BATCHES_IN_FLIGHT} calls at a time, Unix socket; after ${WARM_UP_ENTRIES} not timed)`,
      unit: 'entries/s',
      kind: 'agent',
      ratios: [
        { to: 'scale.write_native_layout_per_s', name: 'native, same layout' },
        { to: 'scale.write_native_file_per_s', name: 'native, one file' },
        { to: 'scale.write_single_per_s', name: 'single Writes' },
      ],
    });
    const packedRatios = [
      { to: 'scale.write_native_packed_per_s', name: 'native, packed' },
      { to: 'scale.write_native_layout_per_s', name: 'native, own files' },
    ];
    this.results.define({
      id: 'scale.write_packed_per_s',
      section: SECTION,
      label: `small writes into packs (4 KiB, 32 at a time, --pack-max-bytes 64KiB; after ${WARM_UP_ENTRIES} not timed)`,
      unit: 'entries/s',
      kind: 'agent',
      ratios: [...packedRatios, { to: 'scale.write_single_per_s', name: 'unpacked' }],
    });
    this.results.define({
      id: 'scale.write_packed_batch_per_s',
      section: SECTION,
      label: `small writes into packs as WriteBatch calls (${BATCH_ENTRIES} per call, ${BATCHES_IN_FLIGHT} at a time; after ${WARM_UP_ENTRIES} not timed)`,
      unit: 'entries/s',
      kind: 'agent',
      ratios: [
        ...packedRatios,
        { to: 'scale.write_single_per_s', name: 'single Writes, unpacked' },
      ],
    });
    this.results.define({
      id: 'scale.write_single_per_s',
      section: SECTION,
      label: `small writes (4 KiB, 32 at a time, Unix socket; after ${WARM_UP_ENTRIES} not timed)`,
      unit: 'entries/s',
      kind: 'agent',
      ratios: [
        { to: 'scale.write_native_layout_per_s', name: 'native, same layout' },
        { to: 'scale.write_native_file_per_s', name: 'native, one file' },
      ],
    });
    this.results.define({
      id: 'scale.write_per_s',
      section: SECTION,
      label: 'small writes into a fresh agent, not warmed up (4 KiB, 32 at a time, Unix socket)',
      unit: 'entries/s',
      kind: 'agent',
      ratios: [
        { to: 'scale.write_native_layout_per_s', name: 'native, same layout' },
        { to: 'scale.write_native_file_per_s', name: 'native, one file' },
      ],
    });
    const limit = (id: string, label: string) =>
      this.results.define({ id, section: SECTION, label, unit: 'entries/s', kind: 'limit' });
    limit(
      'scale.write_native_layout_per_s',
      "native small writes, the agent's layout (C: data + sidecar fsynced, renamed, dir fsync per group)",
    );
    limit('scale.write_native_file_per_s', 'native small writes, one fsynced file per entry (C)');
    limit(
      'scale.write_native_packed_per_s',
      'native small writes appended to a segment file, fdatasync per 32 (C)',
    );
    d('scale.load_cold_per_s', 'index load without a snapshot (every sidecar read)', 'entries/s');
    d('scale.load_per_s', 'index load at restart after a clean stop (index snapshot)', 'entries/s');
    d(
      'scale.load_cold_per_cpu_s',
      'index load without a snapshot, per CPU second of the agent',
      'entries/s',
    );
    d(
      'scale.load_per_cpu_s',
      'index load from the snapshot, per CPU second of the agent',
      'entries/s',
    );
    d('scale.steady_rss_mb', 'agent RSS in steady state', 'MB');
    d('scale.steady_b_per_entry', 'agent RSS per entry (over an empty agent)', 'B/entry');
    d('scale.reconcile_ops_per_entry_hour', 'reconcile Redis commands per entry', 'ops/entry/h');
    d('scale.reconcile_ops_per_s', 'Redis commands per second this node causes (idle)', 'ops/s');
    d(
      'scale.redis_b_per_entry',
      'Redis used_memory per entry (location index included)',
      'B/entry',
    );
    d('scale.full_pass_ops_per_entry', 'Redis commands per entry of a full pass', 'ops/entry');
    const toSteady = [{ to: 'scale.steady_rss_mb', name: 'steady RSS' }];
    this.results.define({
      id: 'scale.load_cold_peak_rss_mb',
      section: SECTION,
      label: 'agent peak RSS up to the end of the load without a snapshot',
      unit: 'MB',
      kind: 'agent',
      ratios: toSteady,
    });
    this.results.define({
      id: 'scale.load_peak_rss_mb',
      section: SECTION,
      label: 'agent peak RSS up to the end of the load from the snapshot',
      unit: 'MB',
      kind: 'agent',
      ratios: toSteady,
    });
    this.results.define({
      id: 'scale.reconcile_peak_rss_mb',
      section: SECTION,
      label: 'agent peak RSS over a full reconcile pass (after a Redis reconnect)',
      unit: 'MB',
      kind: 'agent',
      ratios: toSteady,
    });
  }

  private async startRedis(): Promise<void> {
    this.redisPort = await freePort();
    const dir = path.join(this.root, 'redis');
    await fs.mkdir(dir);
    const child = ManagedChild.spawn({
      name: 'redis-server',
      command: 'redis-server',
      args: ['--port', String(this.redisPort), '--bind', '127.0.0.1', '--save', '',
        '--appendonly', 'no', '--dir', dir], // prettier-ignore
    });
    this.cleanup.push('redis-server', () => child.stop('SIGKILL', 1_000));
    await child.waitForLine((l) => (l.includes('Ready to accept') ? true : undefined), 20_000);
    this.redis = new Redis(this.redisPort, '127.0.0.1');
    const redis = this.redis;
    this.cleanup.push('redis connection', () => redis.disconnect());
  }

  /** Starts the agent and records its index load: entries/s and the peak RSS up to its end. */
  private async restartAndLoad(
    cacheDir: string,
    rateId: string,
    peakId: string,
  ): Promise<AgentProcess> {
    this.lines.length = 0;
    const started = performance.now();
    const agent = await this.startAgent(cacheDir);
    const loaded = await this.waitForRecord((r) => r.message === 'cache index loaded', 600_000);
    const loadPeak = (await new RssSampler(agent.pid).stop()).kernelPeak;
    const loadMs = Math.max(1, Number(loaded.ms));
    this.results.record(rateId, 0, (Number(loaded.entries) / loadMs) * 1000);
    const cpuMs = Math.max(1, Number(loaded.cpuMs));
    this.results.record(
      `${rateId.replace(/_per_s$/, '')}_per_cpu_s`,
      0,
      (Number(loaded.entries) / cpuMs) * 1000,
    );
    this.results.record(peakId, 0, loadPeak / MB);
    this.say(
      `  index of ${String(loaded.entries)} entries (${String(loaded.fromSnapshot)} from the ` +
        `snapshot) loaded in ${loadMs} ms (${String(loaded.cpuMs)} ms of CPU) ` +
        `(${((performance.now() - started) / 1000).toFixed(1)} s after spawn), peak RSS ${(loadPeak / MB).toFixed(0)} MB`,
    );
    return agent;
  }

  private async startAgent(
    cacheDir: string,
    nodeId = NODE_ID,
    flags: readonly string[] = [],
  ): Promise<AgentProcess> {
    this.metricsPort = await freePort();
    const agent = await AgentProcess.start({
      cacheDir,
      socketPath: path.join(this.root, 'agent.sock'),
      nodeId,
      extraArgs: [
        '--redis-url', `redis://127.0.0.1:${this.redisPort}`,
        '--metrics-listen', `127.0.0.1:${this.metricsPort}`,
        ...flags,
      ], // prettier-ignore
      onLine: (line) => {
        if (!line.startsWith('{')) return;
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a log record
        }
      },
    });
    this.cleanup.push('agent', () => agent.stop());
    return agent;
  }

  /** Entries `from` to `from + count` as single Writes, WRITE_CONCURRENCY at a time. */
  private async writeThroughAgent(agent: AgentProcess, count: number, from = 0): Promise<number> {
    const client = new CheckpointCacheClient({ agent: agent.unixAddress });
    try {
      const started = performance.now();
      await runPool(indices(from, from + count), WRITE_CONCURRENCY, async (i) => {
        await client.write(keyOf(i), randomBytes(ENTRY_BYTES), {
          jobId: 'bench',
          checkpointId: 1,
          size: ENTRY_BYTES,
          ttlMs: TTL_MS,
        });
      });
      return count / ((performance.now() - started) / 1000);
    } finally {
      client.close();
    }
  }

  /**
   * Metric `id`: `count` entries through the client stub, as WriteBatch calls (`batched`) or
   * single Writes, into an agent of their own started with `flags` (another cache dir and node
   * id); then the agent, its dir and every Redis key are removed, so the rest of the run starts
   * as it did without this.
   */
  private async measureSeparately(
    id: string,
    name: string,
    count: number,
    flags: readonly string[],
    batched: boolean,
  ): Promise<void> {
    const cacheDir = path.join(this.root, `cache-${name}`);
    const agent = await this.startAgent(cacheDir, `${NODE_ID}-${name}`, flags);
    this.say(
      `writing ${count} entries of 4 KiB ` +
        (batched
          ? `as WriteBatch calls of ${BATCH_ENTRIES}, ${BATCHES_IN_FLIGHT} calls at a time`
          : `${WRITE_CONCURRENCY} at a time`) +
        (flags.length > 0 ? ` (agent: ${flags.join(' ')})` : ''),
    );
    try {
      // Not timed: the agent's first writes run before V8 has compiled its write path, and a
      // node agent lives for days (the figure is the rate it sustains).
      if (batched) await this.writeBatches(agent, WARM_UP_ENTRIES, WARM_UP_FROM);
      else await this.writeThroughAgent(agent, WARM_UP_ENTRIES, WARM_UP_FROM);
      const perS = batched
        ? await this.writeBatches(agent, count)
        : await this.writeThroughAgent(agent, count);
      this.results.record(id, 0, perS);
      this.say(`  ${perS.toFixed(0)} entries/s`);
    } finally {
      await agent.stop();
    }
    await fs.rm(cacheDir, { recursive: true, force: true });
    await this.redis.flushall();
  }

  /**
   * Entries `from` to `from + count` as WriteBatch calls of BATCH_ENTRIES, BATCHES_IN_FLIGHT at a
   * time.
   */
  private async writeBatches(agent: AgentProcess, count: number, from = 0): Promise<number> {
    const client = new CheckpointCacheClient({ agent: agent.unixAddress });
    try {
      const batches = Array.from({ length: Math.ceil(count / BATCH_ENTRIES) }, (_, b) =>
        indices(from + b * BATCH_ENTRIES, from + Math.min(count, (b + 1) * BATCH_ENTRIES)),
      );
      const started = performance.now();
      await runPool(batches, BATCHES_IN_FLIGHT, async (batch) => {
        const results = await client.writeBatch(
          batch.map((i) => ({
            key: keyOf(i),
            data: randomBytes(ENTRY_BYTES),
            jobId: 'bench',
            checkpointId: 1,
            ttlMs: TTL_MS,
          })),
        );
        for (const r of results) if (!r.ok) throw r.error;
      });
      return count / ((performance.now() - started) / 1000);
    } finally {
      client.close();
    }
  }

  /** The disk's own rate for the same writes (small-files-limit.ts), on the same file system. */
  private async measureSmallFilesLimit(count: number): Promise<void> {
    const { bin, missing } = await buildSmallFiles(this.root);
    if (!bin) {
      this.say(`  ${missing}`);
      return;
    }
    const limit = await smallFilesLimit(bin, this.root, count);
    const packed = await buildPackedSegments(this.root);
    if (packed.bin) {
      // Ten times the entries: at this rate a few thousand take well under a second.
      const perS = await packedSegmentsLimit(packed.bin, this.root, count * 10);
      this.results.record('scale.write_native_packed_per_s', 0, perS);
      this.say(`  native packed (C, segments, fdatasync per 32): ${perS.toFixed(0)} entries/s`);
    }
    this.results.record('scale.write_native_layout_per_s', 0, limit.layoutPerS);
    this.results.record('scale.write_native_file_per_s', 0, limit.filePerS);
    this.say(
      `  native (C, fastest of 1/4/16 threads): ${limit.layoutPerS.toFixed(0)} entries/s with ` +
        `the agent's layout, ${limit.filePerS.toFixed(0)} with one fsynced file per entry`,
    );
  }

  private async seedOnDisk(cacheDir: string, from: number, to: number): Promise<void> {
    const disk = new DiskStore(cacheDir);
    for (let s = 0; s < 256; s++) {
      await fs.mkdir(path.join(disk.entriesDir, s.toString(16).padStart(2, '0')), {
        recursive: true,
      });
    }
    const now = Date.now();
    await runPool(indices(from, to), 64, async (i) => {
      const key = keyOf(i);
      const id = entryIdOf(key);
      const data = randomBytes(ENTRY_BYTES);
      const crc = crc32c(data);
      await fs.writeFile(disk.dataPath(id), data);
      const sidecar = encodeSidecar({
        version: SIDECAR_VERSION,
        key,
        jobId: 'bench',
        checkpointIds: [1],
        size: ENTRY_BYTES,
        crc32c: crc,
        createdAtMs: now,
        ttlMs: TTL_MS,
        blockSize: BLOCK_SIZE,
        blockCrcs: Uint32Array.of(crc),
      });
      await fs.writeFile(disk.sidecarPath(id), sidecar);
    });
  }

  private async waitForRecord(
    match: (r: Record<string, unknown>) => boolean,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`scale bench: no such agent log line in time`);
      await sleep(20);
    }
  }

  private async waitForCount(n: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = -1;
    for (;;) {
      const count = Number((await this.redis.get(new KeyBuilder('ckc', NODE_ID).count())) ?? 0);
      if (count >= n) return;
      if (count !== last) this.say(`  registered in Redis: ${count}/${n}`);
      last = count;
      if (Date.now() > deadline) throw new Error(`scale bench: only ${count}/${n} registered`);
      await sleep(5_000);
    }
  }

  private async waitForPasses(passes: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.reconcilePasses()) < passes) {
      if (Date.now() > deadline) throw new Error('scale bench: no reconcile pass in time');
      await sleep(250);
    }
  }

  /** Completed reconcile passes, from the agent's /metrics. */
  private async reconcilePasses(): Promise<number> {
    const text = await httpGet(`http://127.0.0.1:${this.metricsPort}/metrics`);
    const match = /^ckc_reconcile_runs_total\{result="ok"\} (\d+)/m.exec(text);
    return match ? Number(match[1]) : 0;
  }

  private async redisUsedMemory(): Promise<number> {
    return infoField(await this.redis.info('memory'), 'used_memory');
  }

  private async redisCommands(): Promise<number> {
    return infoField(await this.redis.info('stats'), 'total_commands_processed');
  }
}

function indices(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

function keyOf(i: number): string {
  return `hdfs://nn/flink/checkpoints/job-bench/shared/${i.toString(16).padStart(8, '0')}-state`;
}

function infoField(info: string, field: string): number {
  const match = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  if (!match) throw new Error(`scale bench: INFO has no ${field}`);
  return Number(match[1]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}
