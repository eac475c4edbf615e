/**
 * The `ckc-bench` process: `npm run bench` (ThroughputBench, then the table, JSON, SVG chart and
 * docs/benchmarks.md) and `npm run load` (LoadRun: ghz). Whatever happens, including Ctrl-C, the
 * CleanupStack undoes what was set up: child processes, nginx, the network namespace, temp dirs.
 * Exit codes: 0 done, 1 failed, 2 bad options, 130 interrupted.
 * Owns: the process (signals, exit codes, where outputs go). Never: measuring.
 */
import { installZeroCopyWrites } from '@checkpoint-cache/client';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { renderBarChart } from './bar-chart-svg';
import { parseBenchOptions, USAGE, type BenchOptions } from './bench-options';
import { BenchReport, formatRatio } from './bench-report';
import { BenchmarksDoc } from './benchmarks-doc';
import { CleanupStack } from './cleanup-stack';
import { LoadRun } from './load-run';
import { describeMachine } from './machine-info';
import { ScaleBench } from './scale-bench';
import { ThroughputBench } from './throughput-bench';

/** agents/bench/lib → the repository. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const DOCS = path.join(REPO_ROOT, 'docs');

function say(line = ''): void {
  process.stdout.write(line + '\n');
}

/** The command as the user typed it, for the docs. */
function commandLine(argv: readonly string[]): string {
  const script = process.env.npm_lifecycle_event;
  const rest = script === 'load' ? argv.filter((a) => a !== '--load') : argv;
  if (script === 'bench' || script === 'load') {
    return `npm run ${script}${rest.length ? ` -- ${rest.join(' ')}` : ''}`;
  }
  return `node agents/bench/bin/ckc-bench.js${argv.length ? ` ${argv.join(' ')}` : ''}`;
}

async function bench(options: BenchOptions, cleanup: CleanupStack, argv: string[]): Promise<void> {
  const startedAt = new Date();
  say(`ckc-bench: ${commandLine(argv)}`);
  const run = await new ThroughputBench(options, cleanup, (l) => say(l)).run();
  const machine = await describeMachine({ nginx: run.setup.nginxVersion });
  const report = new BenchReport({
    command: commandLine(argv),
    startedAt,
    machine,
    metrics: run.results.results(),
    notes: run.results.notes,
    rounds: options.repeats,
    setup: { ...run.setup, options: { ...options, only: [...options.only] } },
  });
  say();
  say(report.text());

  const outDir = options.docs ? path.join(DOCS, 'benchmarks') : path.join(REPO_ROOT, '.bench');
  await fs.mkdir(outDir, { recursive: true });
  await fs.writeFile(
    path.join(outDir, 'latest.json'),
    JSON.stringify(report.json(), null, 2) + '\n',
  );
  const bars = run.results
    .results()
    .filter((m) => m.chart && m.unit === 'MB/s')
    .map((m) => ({
      section: m.section,
      label: (m.chartLabel ?? m.label) + (m.note ? ` (${m.note})` : ''),
      value: m.median,
      kind: m.kind,
      ...(m.ratioResults[0] ? { annotation: formatRatio(m.ratioResults[0]) } : {}),
    }));
  const svg = renderBarChart(
    `checkpoint-cache read throughput, MB/s (median of ${options.repeats} rounds, ${startedAt.toISOString().slice(0, 10)})`,
    'MB/s',
    bars,
  );
  await fs.writeFile(path.join(outDir, 'throughput.svg'), svg);
  if (options.docs) {
    await new BenchmarksDoc(path.join(DOCS, 'benchmarks.md')).replaceBlock(
      'bench',
      'Latest run: npm run bench',
      report.markdown('benchmarks/throughput.svg'),
    );
  }
  say(
    options.docs
      ? `wrote docs/benchmarks.md, docs/benchmarks/latest.json, docs/benchmarks/throughput.svg`
      : `wrote ${path.relative(REPO_ROOT, outDir)}/latest.json and throughput.svg (docs untouched: --quick)`,
  );
}

/** npm run bench -- --only scale: its own table and block in docs/benchmarks.md. */
async function scale(options: BenchOptions, cleanup: CleanupStack, argv: string[]): Promise<void> {
  const startedAt = new Date();
  say(`ckc-bench: ${commandLine(argv)}`);
  const run = await new ScaleBench(options, cleanup, (l) => say(l)).run();
  const machine = await describeMachine({});
  const report = new BenchReport({
    command: commandLine(argv),
    startedAt,
    machine,
    metrics: run.results.results(),
    notes: run.results.notes,
    rounds: 1,
    setup: { ...run.setup, options: { ...options, only: [...options.only] } },
  });
  say();
  say(report.text());
  // .bench/latest.json always (the ids the issue names); with --docs also its own file beside
  // the throughput run's docs/benchmarks/latest.json, which it must not overwrite.
  const json = JSON.stringify(report.json(), null, 2) + '\n';
  const outputs = [path.join(REPO_ROOT, '.bench', 'latest.json')];
  if (options.docs) outputs.push(path.join(DOCS, 'benchmarks', 'scale-latest.json'));
  for (const file of outputs) {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, json);
  }
  if (options.docs) {
    await new BenchmarksDoc(path.join(DOCS, 'benchmarks.md')).replaceBlock(
      'scale',
      'Latest run: npm run bench -- --only scale',
      report.markdown(undefined),
    );
    outputs.push(path.join(DOCS, 'benchmarks.md'));
  }
  say(`wrote ${outputs.map((f) => path.relative(REPO_ROOT, f)).join(', ')}`);
}

async function load(options: BenchOptions, cleanup: CleanupStack, argv: string[]): Promise<void> {
  say(`ckc-bench --load: ${commandLine(argv)}`);
  const summary = await new LoadRun(options, cleanup, REPO_ROOT, (l) => say(l)).run();
  say();
  say(summary.text);
  if (options.docs) {
    const machine = await describeMachine({ ghz: summary.ghzVersion });
    await new BenchmarksDoc(path.join(DOCS, 'benchmarks.md')).replaceBlock(
      'load',
      'Latest run: npm run load (ghz)',
      summary.markdown(commandLine(argv), machine),
    );
    say('wrote the summary into docs/benchmarks.md');
  }
  if (summary.errors > 0)
    throw new Error(`${summary.errors} ghz calls failed (see .load/reports/)`);
}

async function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(argv);
  } catch (err) {
    process.stderr.write(`ckc-bench: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (options.mode === 'help') {
    say(USAGE);
    return 0;
  }
  // Write chunks leave the client stub framed, as they do from `ckc put` (write-framing.ts).
  installZeroCopyWrites();
  const cleanup = new CleanupStack();
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = signal;
    process.stderr.write(`\nckc-bench: ${signal}: cleaning up\n`);
    void cleanup.run().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    if (options.mode === 'load') await load(options, cleanup, argv);
    else if (options.only.has('scale')) await scale(options, cleanup, argv);
    else await bench(options, cleanup, argv);
    return 0;
  } catch (err) {
    if (interrupted) return 130;
    process.stderr.write(
      `ckc-bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return 1;
  } finally {
    await cleanup.run();
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Leftover handles (a keep-alive socket) must not keep a finished run alive.
  setTimeout(() => process.exit(code), 500).unref();
});
