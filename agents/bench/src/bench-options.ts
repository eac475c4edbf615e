/**
 * Options of `ckc-bench` (npm run bench / npm run load), each default written once beside its
 * reason, and the parsing of argv into one frozen object.
 * Owns: flag names, defaults, `--help`. Never: running anything.
 */
import { parseArgs } from 'node:util';
import { parseSize } from '@checkpoint-cache/config';

const MiB = 1024 * 1024;

/** Scenario groups that `--only` can pick. */
export const SCENARIO_GROUPS = [
  'limits',
  'nginx',
  'agent',
  'range',
  'concurrency',
  'recovery',
  'memory',
  'java',
  'write',
  'scale',
] as const;
export type ScenarioGroup = (typeof SCENARIO_GROUPS)[number];
/** What runs without --only: every group but scale (minutes of seeding; run it on its own). */
const DEFAULT_GROUPS = SCENARIO_GROUPS.filter((g) => g !== 'scale');

export interface BenchOptions {
  mode: 'bench' | 'load' | 'help';
  quick: boolean;
  /** Size of the single large file. */
  size: number;
  /** The multi-file checkpoint: `files` files of `fileSize` bytes. */
  files: number;
  fileSize: number;
  /** Rounds; each figure is the median over them. */
  repeats: number;
  /** Small range reads per round and scenario, and their size. */
  rangeReads: number;
  rangeSize: number;
  /** Concurrent stream counts. */
  streams: readonly number[];
  /** Files restored at once in the recovery scenario (Flink restores with several threads). */
  restoreParallelism: number;
  /** Rate of the shaped link to the remote store, bits per second. */
  linkBitsPerSecond: number;
  /** Memory scenario: concurrent streams, how long, and how fast each slow reader reads. */
  memoryStreams: number;
  memorySeconds: number;
  memoryReaderBytesPerSecond: number;
  only: ReadonlySet<ScenarioGroup>;
  /** Update docs/benchmarks.md, docs/benchmarks/latest.json and throughput.svg. */
  docs: boolean;
  /** Keep the temp dir (data, cache, logs) for a look. */
  keep: boolean;
  /** Scale bench: entries held by the agent (4 KiB each). */
  entries: number;
  /** Load mode: scale ghz totals down for a fast check. */
  loadScale: number;
}

export const USAGE = `Usage: npm run bench [-- options]      the throughput / latency / recovery / memory table
       npm run load  [-- options]      ghz against the agent and a trivial grpc-js handler

  --quick                 ~128 MiB data, 2 rounds: a fast check (writes .bench/, not docs/)
  --size <size>           the large file (default 1GiB; quick 128MiB)
  --files <n>             files in the multi-file checkpoint (default 32; quick 8)
  --file-size <size>      size of each of them (default 32MiB; quick 16MiB)
  --repeats <n>           rounds, each figure is the median (default 3; quick 2)
  --range-reads <n>       small range reads per round and server (default 1000; quick 300)
  --range-size <size>     size of each (default 4KiB)
  --streams <list>        concurrent streams (default 1,4,16)
  --restore-parallelism <n>  files restored at once (default 4)
  --link-mbit <n>         shaped link to the remote store (default 1000)
  --memory-streams <n>    slow readers in the memory scenario (default 8)
  --memory-seconds <n>    how long they read (default 10; quick 4)
  --memory-reader-rate <size>  bytes per second each slow reader takes (default 16MiB)
  --only <groups>         comma list of ${DEFAULT_GROUPS.join(', ')}; or scale alone
  --entries <n>           scale: 4 KiB entries the agent holds (default 100000; quick 20000)
  --docs / --no-docs      update docs/benchmarks.md and docs/benchmarks/ (default: on unless --quick)
  --keep                  keep the temp dir
  --load                  npm run load: ghz configs from test/load/ (with --quick: fewer calls)
Needs: redis-server, nginx (apt-get install -y nginx-light), iperf3 (apt-get install -y iperf3),
Java 17 and Maven for the group java, root for the shaped link (else a
throttled loopback server stands in, and the output says so), Go for installing ghz.`;

export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowNegative: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      load: { type: 'boolean' },
      quick: { type: 'boolean' },
      size: { type: 'string' },
      files: { type: 'string' },
      'file-size': { type: 'string' },
      repeats: { type: 'string' },
      'range-reads': { type: 'string' },
      'range-size': { type: 'string' },
      streams: { type: 'string' },
      'restore-parallelism': { type: 'string' },
      'link-mbit': { type: 'string' },
      'memory-streams': { type: 'string' },
      'memory-seconds': { type: 'string' },
      'memory-reader-rate': { type: 'string' },
      only: { type: 'string' },
      entries: { type: 'string' },
      docs: { type: 'boolean' },
      keep: { type: 'boolean' },
    },
  });
  const quick = values.quick ?? false;
  const only = new Set<ScenarioGroup>();
  for (const g of (values.only ?? DEFAULT_GROUPS.join(',')).split(',')) {
    const group = g.trim() as ScenarioGroup;
    if (!SCENARIO_GROUPS.includes(group)) {
      throw new RangeError(`--only: unknown group "${g}" (known: ${SCENARIO_GROUPS.join(', ')})`);
    }
    only.add(group);
  }
  if (only.has('scale') && only.size > 1) {
    throw new RangeError('--only: scale runs on its own (it seeds its own agent and Redis)');
  }
  const streams = (values.streams ?? '1,4,16').split(',').map((s) => count('--streams', s, 1));
  return Object.freeze({
    mode: values.help ? 'help' : values.load ? 'load' : 'bench',
    quick,
    size: size('--size', values.size ?? (quick ? '128MiB' : '1GiB')),
    files: count('--files', values.files ?? (quick ? '8' : '32'), 1),
    fileSize: size('--file-size', values['file-size'] ?? (quick ? '16MiB' : '32MiB')),
    repeats: count('--repeats', values.repeats ?? (quick ? '2' : '3'), 1),
    rangeReads: count('--range-reads', values['range-reads'] ?? (quick ? '300' : '1000'), 10),
    rangeSize: size('--range-size', values['range-size'] ?? '4KiB'),
    streams,
    restoreParallelism: count('--restore-parallelism', values['restore-parallelism'] ?? '4', 1),
    linkBitsPerSecond: count('--link-mbit', values['link-mbit'] ?? '1000', 1) * 1e6,
    memoryStreams: count('--memory-streams', values['memory-streams'] ?? '8', 1),
    memorySeconds: count('--memory-seconds', values['memory-seconds'] ?? (quick ? '4' : '10'), 1),
    memoryReaderBytesPerSecond: size(
      '--memory-reader-rate',
      values['memory-reader-rate'] ?? '16MiB',
    ),
    only,
    docs: values.docs ?? !quick,
    keep: values.keep ?? false,
    entries: count('--entries', values.entries ?? (quick ? '20000' : '100000'), 100),
    loadScale: quick ? 0.2 : 1,
  });
}

function count(flag: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new RangeError(`${flag}: expected an integer >= ${min}, got "${text}"`);
  }
  return n;
}

function size(flag: string, text: string): number {
  const n = parseSize(text);
  if (!(n >= 1) || n > 64 * 1024 * MiB) {
    throw new RangeError(`${flag}: expected a size from 1 byte to 64GiB, got "${text}"`);
  }
  return n;
}
