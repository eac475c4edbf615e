/**
 * Durations (`500ms`, `30s`, `1h30m`) and sizes (`256KiB`, `1MiB`, `4096`) as people write them.
 * Owns: the accepted spellings and their wording in messages. Never: reading the environment.
 */
import { ConfigError } from './config-error';

export const DURATION_EXPECTED = 'expected a duration like 500ms, 30s, 15m, 2h or 1d';
export const SIZE_EXPECTED = 'expected a size like 4096, 256KiB, 1MiB or 2GiB';

const MS_PER_UNIT: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const BYTES_PER_UNIT: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  ki: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  ti: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
};

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;

/** Milliseconds, or undefined when `text` is not a duration. A bare `0` needs no unit. */
export function tryParseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '0') return 0;
  if (s === '') return undefined;
  DURATION_PART.lastIndex = 0;
  let total = 0;
  let end = 0;
  for (let m = DURATION_PART.exec(s); m; m = DURATION_PART.exec(s)) {
    total += Number(m[1]) * (MS_PER_UNIT[m[2] as string] as number);
    end = DURATION_PART.lastIndex;
  }
  if (end !== s.length || !Number.isFinite(total)) return undefined;
  return Math.round(total);
}

/** Bytes, or undefined when `text` is not a whole number of bytes with an optional unit. */
export function tryParseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = BYTES_PER_UNIT[(m[2] as string).toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Number(m[1]) * unit;
  if (!Number.isSafeInteger(bytes)) return undefined;
  return bytes;
}

/**
 * Parses a duration such as `500ms`, `30s`, `15m`, `2h`, `1d` or `1h30m` into milliseconds.
 * Throws ConfigError naming the value otherwise.
 */
export function parseDuration(text: string): number {
  const ms = tryParseDuration(text);
  if (ms === undefined) throw new ConfigError(`${JSON.stringify(text)}: ${DURATION_EXPECTED}`);
  return ms;
}

/**
 * Parses a size such as `4096`, `256KiB`, `1MiB` (powers of 1024; `Ki`, `Mi`, `K`, `M` too) or
 * `1MB` (powers of 1000) into bytes. Throws ConfigError naming the value otherwise.
 */
export function parseSize(text: string): number {
  const bytes = tryParseSize(text);
  if (bytes === undefined) throw new ConfigError(`${JSON.stringify(text)}: ${SIZE_EXPECTED}`);
  return bytes;
}

/** The shortest exact spelling: 90000 → `1m30s`, 1500 → `1500ms`, 0 → `0`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  let rest = ms;
  let out = '';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = MS_PER_UNIT[unit] as number;
    if (rest >= size && (rest % 1000 === 0 || unit !== 's')) {
      const n = Math.floor(rest / size);
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}

/** Exact binary spelling when there is one: 1048576 → `1MiB`, 4096 → `4KiB`, 1000 → `1000B`. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['TiB', 1024 ** 4],
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
