/**
 * ghz, the gRPC load generator: found or installed as a Go tool (go-tool.ts); run with a config
 * file and a host; its JSON report read back into the few numbers the project reports.
 * Owns: the pinned version and reading ghz's JSON. Never: starting servers.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ensureGoTool, type GoTool } from './go-tool';

const run = promisify(execFile);

export const GHZ_MODULE = 'github.com/bojand/ghz/cmd/ghz';
export const GHZ_VERSION = 'v0.120.0';
const GHZ: GoTool = { name: 'ghz', module: GHZ_MODULE, version: GHZ_VERSION };

/** The parts of ghz's `--format json` report the project uses. */
export interface GhzReport {
  count: number;
  rps: number;
  /** Nanoseconds. */
  average: number;
  latencyDistribution: { percentage: number; latency: number }[] | null;
  errorDistribution: Record<string, number> | null;
  statusCodeDistribution: Record<string, number> | null;
}

export interface GhzSummary {
  count: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Calls that did not end OK. */
  errors: number;
  errorDistribution: Record<string, number>;
}

export class Ghz {
  private constructor(readonly executable: string) {}

  /** ghz from PATH or `<repoRoot>/.load/bin`, installing it there if neither has it. */
  static async ensure(repoRoot: string, say: (line: string) => void): Promise<Ghz> {
    return new Ghz(await ensureGoTool(repoRoot, GHZ, say));
  }

  async version(): Promise<string> {
    const { stdout, stderr } = await run(this.executable, ['--version']);
    const reported = (stdout || stderr).trim();
    // A `go install` build reports "dev"; ours is the pinned version.
    return reported === 'dev' && this.executable.includes(`${path.sep}.load${path.sep}`)
      ? `${GHZ_VERSION} (go install)`
      : reported;
  }

  /**
   * Runs ghz with `args` (a `--config`, overrides, the host) and returns its JSON report, also
   * written to `output`. A run that ghz itself rejects throws with its message.
   */
  async run(args: readonly string[], output: string, timeoutMs: number): Promise<GhzReport> {
    await fs.mkdir(path.dirname(output), { recursive: true });
    try {
      await run(this.executable, [...args, '--format', 'json', '--output', output], {
        timeout: timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (err) {
      const e = err as { stderr?: string; killed?: boolean; message: string };
      throw new Error(
        `ghz ${args.join(' ')} ${e.killed ? `ran longer than ${timeoutMs} ms` : 'failed'}: ` +
          (e.stderr ?? e.message).trim(),
        { cause: err },
      );
    }
    return JSON.parse(await fs.readFile(output, 'utf8')) as GhzReport;
  }

  static summarize(report: GhzReport): GhzSummary {
    const latency = (p: number): number =>
      (report.latencyDistribution?.find((d) => d.percentage === p)?.latency ?? NaN) / 1e6;
    const statuses = report.statusCodeDistribution ?? {};
    const notOk = Object.entries(statuses)
      .filter(([code]) => code !== 'OK')
      .reduce((sum, [, n]) => sum + n, 0);
    const errorDistribution = report.errorDistribution ?? {};
    const errors = Math.max(
      notOk,
      Object.values(errorDistribution).reduce((a, b) => a + b, 0),
    );
    return {
      count: report.count,
      rps: report.rps,
      p50Ms: latency(50),
      p99Ms: latency(99),
      errors,
      errorDistribution,
    };
  }
}
