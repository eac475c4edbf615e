/**
 * Parsing of option values as people type them: counts, checkpoint ids, durations.
 * Durations are parsed by @checkpoint-cache/config, so `ckc` and the agent spell them alike.
 */
import { tryParseDuration } from '@checkpoint-cache/config';
import { UsageError } from './usage-error';

/** A non-negative integer option such as `--offset`. */
export function parseCount(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`--${option} ${JSON.stringify(text)}: expected a non-negative integer`);
  }
  return Number(text);
}

/** A duration option such as `--ttl 30m`, in milliseconds, spelled as the agent's options are. */
export function parseDuration(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = tryParseDuration(text);
  if (ms === undefined || ms < 1) {
    throw new UsageError(
      `--${option} ${JSON.stringify(text)}: expected a duration like 500ms, 30s, 15m, 2h or 1d`,
    );
  }
  return ms;
}
