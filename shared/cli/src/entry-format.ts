/**
 * How `ckc` shows entries and sizes to people; `--json` output bypasses this.
 */
import { formatCrc32c, type EntryInfo } from '@checkpoint-cache/client';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `1.5 MiB`; whole bytes below 1 KiB. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** `108.3`, `200.0 MiB`: two sizes in the unit of the larger one. */
export function formatBytesPair(part: number, whole: number): [string, string] {
  let unit = 0;
  while (whole >= 1024 ** (unit + 1) && unit < UNITS.length - 1) unit++;
  if (unit === 0) return [`${part}`, `${whole} B`];
  const scale = 1024 ** unit;
  return [(part / scale).toFixed(1), `${(whole / scale).toFixed(1)} ${UNITS[unit]}`];
}

function formatTime(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : '-';
}

/** `stat` output: one `name: value` line per field. */
export function formatEntry(entry: EntryInfo): string {
  const rows: [string, string][] = [
    ['key', entry.key],
    ['size', `${entry.size} (${formatBytes(entry.size)})`],
    ['crc32c', formatCrc32c(entry.crc32c)],
    ['job', entry.jobId || '-'],
    ['checkpoints', entry.checkpointIds.join(', ') || '-'],
    ['created', formatTime(entry.createdAtMs)],
    ['last access', formatTime(entry.lastAccessMs)],
    ['ttl', entry.ttlMs > 0 ? `${Math.round(entry.ttlMs / 1000)}s` : '-'],
    ['node', entry.nodeId || '-'],
  ];
  return rows.map(([name, value]) => `${`${name}:`.padEnd(13)}${value}`).join('\n') + '\n';
}

export const LIST_HEADER = `${'SIZE'.padStart(10)}  ${'JOB'.padEnd(20)}  ${'CHECKPOINTS'.padEnd(12)}  ${'LAST ACCESS'.padEnd(24)}  KEY\n`;

/** One `ls` line, aligned under LIST_HEADER. */
export function formatListLine(entry: EntryInfo): string {
  const checkpoints = entry.checkpointIds.join(',') || '-';
  return (
    `${formatBytes(entry.size).padStart(10)}  ${(entry.jobId || '-').padEnd(20)}  ` +
    `${checkpoints.padEnd(12)}  ${formatTime(entry.lastAccessMs).padEnd(24)}  ${entry.key}\n`
  );
}
