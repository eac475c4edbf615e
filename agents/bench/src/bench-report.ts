/**
 * A bench run's results as people and tools read them: the table on stdout, the same table in
 * Markdown for docs/benchmarks.md, and the JSON written to docs/benchmarks/latest.json.
 * Owns: number formatting and ratio wording. Never: measuring.
 */
import type { MetricResult } from './bench-results';
import { formatMachine, type MachineInfo } from './machine-info';

export interface BenchReportInput {
  command: string;
  startedAt: Date;
  machine: MachineInfo;
  metrics: MetricResult[];
  notes: readonly string[];
  rounds: number;
  setup: object;
}

export class BenchReport {
  constructor(private readonly input: BenchReportInput) {}

  /** Plain-text table: section headings, then label, figure, ratios. */
  text(): string {
    const rows = this.input.metrics;
    const width = Math.max(...rows.map((r) => labelOf(r).length), 20);
    const lines: string[] = [];
    let section = '';
    for (const r of rows) {
      if (r.section !== section) {
        section = r.section;
        lines.push('', section);
      }
      const value = formatValue(r).padStart(14);
      const ratios = r.ratioResults.map(formatRatio).join(', ');
      lines.push(`  ${labelOf(r).padEnd(width)}  ${value}${ratios ? `  = ${ratios}` : ''}`);
    }
    for (const note of this.input.notes) lines.push('', `NOTE: ${note}`);
    return lines.join('\n').replace(/^\n/, '') + '\n';
  }

  /** A Markdown block for docs/benchmarks.md with the metrics `pick` selects. */
  markdown(chartPath: string | undefined, pick: (m: MetricResult) => boolean = () => true): string {
    const i = this.input;
    const metrics = i.metrics.filter(pick);
    const lines = [
      `Taken ${i.startedAt.toISOString().replace(/\.\d+Z$/, 'Z')} with \`${i.command}\` ` +
        `(${i.rounds} round${i.rounds > 1 ? 's' : ''}; each figure is the median, each ratio the ` +
        'median of the per-round ratios).',
      '',
      `Machine: ${formatMachine(i.machine)}.`,
      '',
    ];
    for (const note of i.notes) lines.push(`> **Note:** ${note}`, '');
    let section = '';
    for (const r of metrics) {
      if (r.section !== section) {
        if (section) lines.push('');
        section = r.section;
        lines.push(`**${section}**`, '', '| figure | value | ratio to limit / peer (same run) |');
        lines.push('| --- | ---: | --- |');
      }
      const ratios =
        r.ratioResults.map(formatRatio).join('; ') || (r.kind === 'limit' ? 'limit' : '');
      lines.push(`| ${labelOf(r).replace(/\|/g, '\\|')} | ${formatValue(r)} | ${ratios} |`);
    }
    if (chartPath) lines.push('', `![throughput, MB/s](${chartPath})`);
    return lines.join('\n');
  }

  json(): object {
    const i = this.input;
    return {
      generatedAt: i.startedAt.toISOString(),
      command: i.command,
      machine: i.machine,
      rounds: i.rounds,
      setup: i.setup,
      notes: i.notes,
      metrics: i.metrics.map((m) => ({
        id: m.id,
        section: m.section,
        label: m.label,
        unit: m.unit,
        kind: m.kind,
        median: round(m.median),
        samples: m.samples.map(round),
        ratios: m.ratioResults.map((r) => ({ to: r.to, name: r.name, value: round(r.value) })),
      })),
    };
  }
}

function labelOf(r: MetricResult): string {
  return r.note ? `${r.label} (${r.note})` : r.label;
}

export function formatValue(r: { median: number; unit: string }): string {
  const v = r.median;
  const digits =
    r.unit === 'ms' ? 3 : ['s', 'CPU s/GB', 'ops/entry/h', 'ops/entry'].includes(r.unit) ? 2 : 0;
  return `${v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })} ${r.unit}`;
}

export function formatRatio(r: { value: number; name: string; asSpeedup: boolean }): string {
  if (r.asSpeedup) return `${(1 / r.value).toFixed(1)}× faster than ${r.name}`;
  return `${r.value.toFixed(2)} × ${r.name}`;
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
