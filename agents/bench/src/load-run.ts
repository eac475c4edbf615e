/**
 * npm run load: ghz against a real agent (private redis-server) and, in the same process and with
 * the same server options, the constant grpc-js service (the framework's own limit). Every ghz
 * config in test/load/ runs against both, alternating which goes first, for a few rounds; our
 * rps is reported as a ratio of the constant service's from the same round.
 * Owns: seeding the entries the configs name, and the summary. Never: ghz's settings (the configs
 * hold them; this only scales `total` down for --quick and adds the proto and the host).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CheckpointCacheClient } from '@checkpoint-cache/client';
import { loadAgentConfig } from '@checkpoint-cache/config';
import { silentLogger } from '@checkpoint-cache/logger';
import { GRPC_SERVER_OPTIONS, startNodeAgent } from '@checkpoint-cache/node-agent';
import { CHECKPOINT_CACHE_PROTO, PROTO_ROOT } from '@checkpoint-cache/proto';
import type { BenchOptions } from './bench-options';
import type { CleanupStack } from './cleanup-stack';
import { ConstantCheckpointCacheService } from './constant-checkpoint-cache-service';
import { Ghz, type GhzSummary } from './ghz';
import { formatMachine, type MachineInfo } from './machine-info';
import { median } from './sample-statistics';

const MiB = 1024 * 1024;

/** The entries the configs in test/load/ read; seeded into the agent, claimed by the baseline. */
export const LOAD_ENTRIES: Readonly<Record<string, number>> = Object.freeze({
  'load/small-4MiB': 4 * MiB,
  'load/large-64MiB': 64 * MiB,
});

interface LoadConfig {
  file: string;
  name: string;
  total: number;
  concurrency: number;
  key: string;
  bytesPerCall?: number;
}

interface LoadRow {
  config: LoadConfig;
  agent: GhzSummary[];
  baseline: GhzSummary[];
}

export interface LoadSummary {
  text: string;
  errors: number;
  ghzVersion: string;
  markdown(command: string, machine: MachineInfo): string;
}

export class LoadRun {
  constructor(
    private readonly options: BenchOptions,
    private readonly cleanup: CleanupStack,
    private readonly repoRoot: string,
    private readonly say: (line: string) => void,
  ) {}

  async run(): Promise<LoadSummary> {
    const configs = await this.readConfigs();
    const ghz = await Ghz.ensure(this.repoRoot, this.say);
    const ghzVersion = await ghz.version();
    const { agentAddress, baselineAddress } = await this.startServers();
    const reports = path.join(this.repoRoot, '.load', 'reports');
    await fs.rm(reports, { recursive: true, force: true });

    const rounds = Math.min(this.options.repeats, 3);
    const rows: LoadRow[] = configs.map((config) => ({
      config,
      agent: [],
      baseline: [],
    }));
    for (let round = 0; round < rounds; round++) {
      for (const row of rows) {
        const c = row.config;
        const total = Math.max(c.concurrency * 2, Math.round(c.total * this.options.loadScale));
        const targets: [string, string][] = [
          ['agent', agentAddress],
          ['baseline', baselineAddress],
        ];
        if (round % 2 === 1) targets.reverse();
        for (const [target, host] of targets) {
          const base = path.basename(c.file, '.json');
          const fileTarget = target.replace(/[^A-Za-z0-9.-]/g, '_');
          const report = await ghz.run(
            [
              '--config', c.file,
              '--proto', CHECKPOINT_CACHE_PROTO,
              '--import-paths', PROTO_ROOT,
              '--total', String(total),
              '--name', `${c.name} (${target})`,
              host,
            ], // prettier-ignore
            path.join(reports, `${base}.${fileTarget}.round${round + 1}.json`),
            600_000,
          );
          const summary = Ghz.summarize(report);
          row[target as 'agent' | 'baseline'].push(summary);
          this.say(
            `  round ${round + 1}/${rounds}  ${c.name.padEnd(12)} ${target.padEnd(16)} ` +
              `${summary.rps.toFixed(0).padStart(6)} rps  p50 ${summary.p50Ms.toFixed(2)} ms  ` +
              `p99 ${summary.p99Ms.toFixed(2)} ms  errors ${summary.errors}`,
          );
        }
      }
    }
    const summary = buildSummary(rows, ghzVersion, rounds);
    await fs.writeFile(
      path.join(this.repoRoot, '.load', 'summary.json'),
      JSON.stringify(summary.json, null, 2) + '\n',
    );
    return summary;
  }

  private async readConfigs(): Promise<LoadConfig[]> {
    const dir = path.join(this.repoRoot, 'test', 'load');
    const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.json')).sort();
    if (files.length === 0) throw new Error(`no ghz configs (*.json) in ${dir}`);
    const out: LoadConfig[] = [];
    for (const f of files) {
      const file = path.join(dir, f);
      const json = JSON.parse(await fs.readFile(file, 'utf8')) as {
        name?: string;
        total?: number;
        concurrency?: number;
        data?: { key?: string };
        tags?: { bytesPerCall?: string };
      };
      const key = json.data?.key ?? '';
      if (!(key in LOAD_ENTRIES)) {
        throw new Error(
          `${file}: data.key "${key}" is not one of the seeded entries ` +
            `(${Object.keys(LOAD_ENTRIES).join(', ')}; see LOAD_ENTRIES in agents/bench/src/load-run.ts)`,
        );
      }
      out.push({
        file,
        name: json.name ?? path.basename(f, '.json'),
        total: json.total ?? 200,
        concurrency: json.concurrency ?? 50,
        key,
        ...(json.tags?.bytesPerCall ? { bytesPerCall: Number(json.tags.bytesPerCall) } : {}),
      });
    }
    return out;
  }

  private async startServers(): Promise<{
    agentAddress: string;
    baselineAddress: string;
  }> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckc-load-'));
    this.cleanup.push('temp dir', () => fs.rm(dir, { recursive: true, force: true }));
    // No CKC_REDIS_URL: the agent starts its own private redis-server in `dir`.
    const config = loadAgentConfig({
      argv: [
        '--listen', '127.0.0.1:0',
        '--socket', path.join(dir, 'agent.sock'),
        '--cache-dir', path.join(dir, 'cache'),
        '--node-id', 'load-node',
        '--log-level', 'warn',
      ], // prettier-ignore
      env: {},
    });
    const agent = await startNodeAgent(config, { logger: silentLogger });
    this.cleanup.push('agent', () => agent.shutdown(2000));
    const client = new CheckpointCacheClient({ agent: `unix:${agent.socketPath ?? ''}` });
    try {
      for (const [key, size] of Object.entries(LOAD_ENTRIES)) {
        await client.write(key, randomBytes(size), { jobId: 'load', checkpointId: 1 });
      }
    } finally {
      client.close();
    }

    const server = new grpc.Server(GRPC_SERVER_OPTIONS);
    new ConstantCheckpointCacheService(LOAD_ENTRIES).addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.cleanup.push('baseline server', () => server.forceShutdown());
    this.say(
      `agent ${agent.tcpAddress ?? ''} (in this process, private redis-server), ` +
        `constant grpc-js service 127.0.0.1:${port} (same process, same server options)`,
    );
    return {
      agentAddress: agent.tcpAddress ?? '',
      baselineAddress: `127.0.0.1:${port}`,
    };
  }
}

function buildSummary(
  rows: LoadRow[],
  ghzVersion: string,
  rounds: number,
): LoadSummary & { json: object } {
  const MB = 1e6;
  const lines = rows.map((row) => {
    const c = row.config;
    const m = (list: GhzSummary[], f: (s: GhzSummary) => number): number => median(list.map(f));
    const ratios = row.agent
      .map((a, i) => (row.baseline[i] ? a.rps / (row.baseline[i] as GhzSummary).rps : NaN))
      .filter(Number.isFinite);
    return {
      name: c.name,
      concurrency: c.concurrency,
      calls: row.agent[0]?.count ?? 0,
      agentRps: m(row.agent, (s) => s.rps),
      agentP50: m(row.agent, (s) => s.p50Ms),
      agentP99: m(row.agent, (s) => s.p99Ms),
      agentErrors: row.agent.reduce((sum, s) => sum + s.errors, 0),
      baselineRps: m(row.baseline, (s) => s.rps),
      baselineP50: m(row.baseline, (s) => s.p50Ms),
      baselineP99: m(row.baseline, (s) => s.p99Ms),
      baselineErrors: row.baseline.reduce((sum, s) => sum + s.errors, 0),
      ratio: median(ratios),
      ...(c.bytesPerCall
        ? {
            agentMBps: (m(row.agent, (s) => s.rps) * c.bytesPerCall) / MB,
            baselineMBps: (m(row.baseline, (s) => s.rps) * c.bytesPerCall) / MB,
          }
        : {}),
      errorDistribution: Object.assign({}, ...row.agent.map((s) => s.errorDistribution)) as Record<
        string,
        number
      >,
    };
  });
  const errors = lines.reduce((sum, l) => sum + l.agentErrors + l.baselineErrors, 0);
  const fmt = (n: number, d = 0): string =>
    n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  const mbps = (l: (typeof lines)[number]): string =>
    l.agentMBps === undefined ? '' : ` (${fmt(l.agentMBps)} vs ${fmt(l.baselineMBps ?? NaN)} MB/s)`;
  const header = [
    'call',
    'c',
    'agent rps',
    'p50 ms',
    'p99 ms',
    'errors',
    'constant rps',
    'p50 ms',
    'p99 ms',
    'ratio',
  ];
  const table = lines.map((l) => [
    l.name, String(l.concurrency), fmt(l.agentRps), fmt(l.agentP50, 2), fmt(l.agentP99, 2),
    String(l.agentErrors), fmt(l.baselineRps), fmt(l.baselineP50, 2), fmt(l.baselineP99, 2),
    `${fmt(l.ratio, 2)} ×${mbps(l)}`,
  ]); // prettier-ignore
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => (r[i] ?? '').length)));
  const row = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ');
  const text = [
    `ghz ${ghzVersion}; medians of ${rounds} round(s); ratio = agent rps / constant grpc-js rps`,
    row(header),
    ...table.map(row),
    errors > 0 ? `ERRORS: ${errors} calls did not end OK` : 'errors: none',
  ].join('\n');
  return {
    text,
    errors,
    ghzVersion,
    json: { ghzVersion, rounds, rows: lines },
    markdown(command: string, machine: MachineInfo): string {
      return [
        `Taken ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} with \`${command}\`: ghz ${ghzVersion}, ` +
          `configs in \`test/load/\`, reports in \`.load/reports/\`; medians of ${rounds} round(s). ` +
          "The constant service is the same proto on a grpc-js server with the agent's options in " +
          "the same process, answering from constants: the framework's own limit.",
        '',
        `Machine: ${formatMachine(machine)}.`,
        '',
        '| call | concurrency | agent rps | p50 / p99 ms | errors | constant grpc-js rps | p50 / p99 ms | agent ÷ constant |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        ...lines.map(
          (l) =>
            `| ${l.name} | ${l.concurrency} | ${fmt(l.agentRps)} | ${fmt(l.agentP50, 2)} / ${fmt(l.agentP99, 2)} | ` +
            `${l.agentErrors} | ${fmt(l.baselineRps)} | ${fmt(l.baselineP50, 2)} / ${fmt(l.baselineP99, 2)} | ` +
            `${fmt(l.ratio, 2)} ×${mbps(l)} |`,
        ),
      ].join('\n');
    },
  };
}
