/**
 * Parsing of option values as people type them: counts, checkpoint ids, durations.
 * The duration spellings match @checkpoint-cache/config's (`500ms`, `30s`, `15m`, `2h`, `1d`,
 * `1h30m`), which the agent uses for the same values.
 */
import { UsageError } from './usage-error';

const MS_PER_UNIT: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** A non-negative integer option such as `--offset`. */
export function parseCount(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`--${option} ${JSON.stringify(text)}: expected a non-negative integer`);
  }
  return Number(text);
}

/** A duration option such as `--ttl 30m`, in milliseconds. */
export function parseDuration(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const s = text.trim();
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let m = part.exec(s); m; m = part.exec(s)) {
    total += Number(m[1]) * (MS_PER_UNIT[m[2]] as number);
    end = part.lastIndex;
  }
  if (s === '' || end !== s.length || !Number.isFinite(total) || total < 1) {
    throw new UsageError(
      `--${option} ${JSON.stringify(text)}: expected a duration like 500ms, 30s, 15m, 2h or 1d`,
    );
  }
  return Math.round(total);
}
