/**
 * What a bench run measured: each metric's samples by round, its median, and its ratios to the
 * limits and peers measured in the same run. A ratio is the median of the per-round ratios, so
 * that two figures taken seconds apart share the machine's mood of that moment (this machine
 * swings 2-3x from minute to minute; see docs/benchmarks.md).
 * Owns: the metric catalogue and the arithmetic. Never: measuring or formatting for a medium.
 */
import { median } from './sample-statistics';

/** limit: what the machine/Node can do at best; peer: what a user could deploy instead;
 * framework: grpc-js answering from constants; agent: the product. */
export type MetricKind = 'limit' | 'peer' | 'framework' | 'agent';

export interface MetricSpec {
  id: string;
  /** Section of the table. */
  section: string;
  label: string;
  /** Shorter label for the chart, when `label` is long. */
  chartLabel?: string;
  unit:
    | 'MB/s'
    | 'ms'
    | 's'
    | 'MB'
    | 'CPU s/GB'
    | 'entries/s'
    | 'B/entry'
    | 'ops/entry/h'
    | 'ops/s'
    | 'ops/entry';
  kind: MetricKind;
  /** Ratios printed beside the figure, in order. */
  ratios?: readonly RatioSpec[];
  /** Shown after the label, e.g. "configured, not measured". */
  note?: string;
  /** Whether it goes into the throughput chart. */
  chart?: boolean;
}

export interface RatioSpec {
  /** Metric id of the denominator. */
  to: string;
  /** How the denominator is named beside the ratio. */
  name: string;
  /** Print as "N× faster than" (the inverse), for times where smaller is better. */
  asSpeedup?: boolean;
}

export interface MetricResult extends MetricSpec {
  samples: number[];
  median: number;
  ratioResults: { to: string; name: string; value: number; asSpeedup: boolean }[];
}

export class BenchResults {
  private readonly specs = new Map<string, MetricSpec>();
  /** metric id → round → value */
  private readonly samples = new Map<string, Map<number, number>>();
  readonly notes: string[] = [];

  define(spec: MetricSpec): void {
    if (!this.specs.has(spec.id)) this.specs.set(spec.id, spec);
  }

  record(id: string, round: number, value: number): void {
    if (!this.specs.has(id)) throw new Error(`bench: metric ${id} recorded but never defined`);
    if (!Number.isFinite(value)) return;
    let byRound = this.samples.get(id);
    if (!byRound) this.samples.set(id, (byRound = new Map()));
    byRound.set(round, value);
  }

  /** The value recorded for `round`, if any. */
  sample(id: string, round: number): number | undefined {
    return this.samples.get(id)?.get(round);
  }

  /** Drops a sample recorded for `round` (it turned out not to measure what it claims). */
  forget(id: string, round: number): void {
    this.samples.get(id)?.delete(round);
  }

  isDefined(id: string): boolean {
    return this.specs.has(id);
  }

  has(id: string): boolean {
    return (this.samples.get(id)?.size ?? 0) > 0;
  }

  median(id: string): number {
    return median([...(this.samples.get(id)?.values() ?? [])]);
  }

  /**
   * Median over rounds of `of / to`, pairing samples of the same round; a metric taken once
   * (memory) or a constant (the link rate) pairs with every round of the other.
   */
  ratio(of: string, to: string): number {
    const a = this.samples.get(of);
    const b = this.samples.get(to);
    if (!a?.size || !b?.size) return NaN;
    const paired: number[] = [];
    for (const [round, value] of a) {
      const other = b.get(round) ?? (b.size === 1 ? [...b.values()][0] : undefined);
      if (other !== undefined && other !== 0) paired.push(value / other);
    }
    if (paired.length === 0 && a.size === 1) {
      const value = [...a.values()][0] as number;
      for (const other of b.values()) if (other !== 0) paired.push(value / other);
    }
    return median(paired);
  }

  /** Every metric with samples, grouped by section (sections in order of first definition). */
  results(): MetricResult[] {
    const out: MetricResult[] = [];
    const sections = [...new Set([...this.specs.values()].map((s) => s.section))];
    const ordered = [...this.specs.values()].sort(
      (a, b) => sections.indexOf(a.section) - sections.indexOf(b.section),
    );
    for (const spec of ordered) {
      if (!this.has(spec.id)) continue;
      const ratioResults = (spec.ratios ?? [])
        .filter((r) => this.has(r.to))
        .map((r) => ({
          to: r.to,
          name: r.name,
          value: this.ratio(spec.id, r.to),
          asSpeedup: r.asSpeedup ?? false,
        }))
        .filter((r) => Number.isFinite(r.value));
      out.push({
        ...spec,
        samples: [...(this.samples.get(spec.id)?.entries() ?? [])]
          .sort(([x], [y]) => x - y)
          .map(([, v]) => v),
        median: this.median(spec.id),
        ratioResults,
      });
    }
    return out;
  }
}
