/**
 * Parses and checks one option's text against its spec: whole numbers, durations, sizes, enums,
 * booleans, host:port, paths (`~` and relative ones resolved), file modes and URLs.
 * Owns: value syntax and bounds, and the wording of value errors (a URL's password masked).
 * Never: I/O, or rules that involve more than one option (check-together.ts).
 */
import * as path from 'node:path';
import type { OptionSpec } from './option-spec';
import { ConfigError } from './config-error';
import {
  DURATION_EXPECTED,
  SIZE_EXPECTED,
  formatDuration,
  formatSize,
  tryParseDuration,
  tryParseSize,
} from './units';

/** The text that turns off an option that can be disabled. */
export const OFF = 'off';

/** One option's text as a source gave it, before parsing. */
export interface RawValue {
  /** The option as the user wrote it, for messages. */
  label: string;
  /** Text to parse; undefined: explicitly unset (empty or null). */
  text: string | undefined;
  /** Folder relative paths are resolved against. */
  base: string;
}

/** A parsed option value; undefined: unset. */
export type Value = string | number | boolean | undefined;

/** `raw` parsed as `option` says; a ConfigError saying where the value came from and what is expected. */
export function parseValue(option: OptionSpec, raw: RawValue, home: string): Value {
  const { label, text } = raw;
  if (text === undefined) return undefined;
  // A URL may carry a password: messages show it masked.
  const shown = option.type === 'url' ? text.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@') : text;
  const fail = (expected: string): never => {
    throw new ConfigError(`${label}=${JSON.stringify(shown)}: ${expected}`, label);
  };
  const s = text.trim();
  if (option.canDisable && s.toLowerCase() === OFF) return undefined;
  const orOff = option.canDisable ? ', or "off"' : '';
  switch (option.type) {
    case 'string':
      if (option.pattern && !option.pattern.test(s))
        fail(`expected ${option.patternDoc ?? 'a different value'}`);
      return s;
    case 'enum': {
      const match = option.values?.find((v) => v.toLowerCase() === s.toLowerCase());
      return match ?? fail(`expected one of ${(option.values ?? []).join(', ')}`);
    }
    case 'bool': {
      const lower = s.toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(lower)) return true;
      if (['false', 'no', '0', 'off'].includes(lower)) return false;
      return fail('expected true or false');
    }
    case 'int': {
      const n = /^[+-]?\d+$/.test(s) ? Number(s) : NaN;
      if (!Number.isSafeInteger(n)) fail('expected a whole number');
      return inBounds(option, n, String, fail);
    }
    case 'duration': {
      const ms = tryParseDuration(s);
      return ms === undefined
        ? fail(DURATION_EXPECTED)
        : inBounds(option, ms, formatDuration, fail);
    }
    case 'size': {
      const bytes = tryParseSize(s);
      return bytes === undefined ? fail(SIZE_EXPECTED) : inBounds(option, bytes, formatSize, fail);
    }
    case 'hostport':
      return (
        parseHostPort(s) ??
        fail(`expected host:port like 127.0.0.1:7878, 0.0.0.0:7878 or [::]:7878${orOff}`)
      );
    case 'path': {
      if (s.includes('\0')) fail('expected a file system path');
      const expanded = s === '~' ? home : s.startsWith('~/') ? path.join(home, s.slice(2)) : s;
      return path.resolve(raw.base, expanded);
    }
    case 'mode': {
      // Octal as in chmod: 660, 0660 or 0o660; only permission bits (no setuid, sticky).
      const m = /^0?o?([0-7]{3})$/i.exec(s);
      return m
        ? parseInt(m[1] as string, 8)
        : fail('expected an octal file mode like 0660 or 0600');
    }
    case 'url': {
      const protocols = option.protocols ?? [];
      const expected = `expected a URL starting with ${protocols.map((p) => `${p}//`).join(', ')}${orOff}`;
      // A cluster URL lists several seeds (h1:p1,h2:p2), which the WHATWG parser refuses; check
      // each seed as the host of a URL of its own.
      const cluster = /^(rediss?\+cluster:)\/\/(?:[^@/]*@)?([^/?#]+)(\/0?)?$/.exec(s);
      if (cluster && protocols.includes(cluster[1]!)) {
        for (const seed of cluster[2]!.split(',')) {
          let host = '';
          try {
            host = new URL(`redis://${seed}`).hostname;
          } catch {
            // reported below
          }
          if (!host) fail(`cluster seed ${JSON.stringify(seed)} is not host:port`);
        }
        return s;
      }
      let url: URL;
      try {
        url = new URL(s);
      } catch {
        return fail(expected);
      }
      if (!protocols.includes(url.protocol)) fail(expected);
      const unix = url.protocol.endsWith('unix:');
      if (unix && (!['', 'localhost'].includes(url.hostname) || url.pathname.length < 2)) {
        fail(`expected ${url.protocol}///absolute/path/to/redis.sock`);
      }
      if (!unix && url.hostname === '') fail(`expected a host, as in ${url.protocol}//host:6379`);
      return s;
    }
  }
}

function inBounds(
  option: OptionSpec,
  n: number,
  format: (n: number) => string,
  fail: (expected: string) => never,
): number {
  const { min, max } = option;
  if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
    if (min !== undefined && max !== undefined)
      fail(`must be between ${format(min)} and ${format(max)}`);
    if (min !== undefined) fail(`must be at least ${format(min)}`);
    fail(`must be at most ${format(max as number)}`);
  }
  return n;
}

/** `host:port` with a name, an IPv4 address or a bracketed IPv6 address; normalized, or undefined. */
function parseHostPort(s: string): string | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return `${(m[1] as string).toLowerCase()}:${port}`;
}
