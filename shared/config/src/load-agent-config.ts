/**
 * Reads the agent's configuration once: flags > environment > YAML file > defaults, each value
 * parsed and checked against AGENT_OPTIONS, into one frozen AgentConfig.
 * Owns: precedence, value syntax and the wording of configuration errors. Never: I/O other than
 * reading the YAML file (node.id, directories and sockets are the agent's business).
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { isScalar, parseDocument, parse as parseYaml } from 'yaml';
import { AGENT_OPTIONS, type AgentConfig, type OptionSpec } from './agent-options';
import { ConfigError } from './config-error';
import {
  DURATION_EXPECTED,
  SIZE_EXPECTED,
  formatDuration,
  formatSize,
  tryParseDuration,
  tryParseSize,
} from './units';

export type { AgentConfig };

export interface LoadAgentConfigInput {
  /** Command-line arguments after the program name. */
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Base of relative paths given by flags and environment; `process.cwd()` by default. */
  cwd?: string;
}

/**
 * Longest Unix socket path, in bytes, that binds everywhere the agent runs: sun_path holds 108
 * bytes on Linux and 104 on macOS, including the terminating NUL.
 */
export const MAX_SOCKET_PATH_BYTES = 103;

/** Where the private Redis puts its socket, relative to the cache dir (the agent uses this too). */
export const EMBEDDED_REDIS_SOCKET = path.join('redis', 'redis.sock');

const CACHE_DIR_TOKEN = '<cacheDir>';
const OFF = 'off';

interface RawValue {
  /** The option as the user wrote it, for messages. */
  label: string;
  /** Text to parse; undefined: explicitly unset (empty or null). */
  text: string | undefined;
  /** Folder relative paths are resolved against. */
  base: string;
}

type Value = string | number | boolean | undefined;

export function loadAgentConfig(input: LoadAgentConfigInput): AgentConfig {
  const cwd = input.cwd ?? process.cwd();
  const home = input.env['HOME'] || os.homedir();
  const flags = parseFlags(input.argv);

  const fileOption = spec('config');
  const fileRaw =
    flags[fileOption.flag] !== undefined
      ? { label: `--${fileOption.flag}`, text: String(flags[fileOption.flag]), base: cwd }
      : input.env[fileOption.env] !== undefined && input.env[fileOption.env] !== ''
        ? { label: fileOption.env, text: input.env[fileOption.env], base: cwd }
        : undefined;
  const configFile = fileRaw ? (parseValue(fileOption, fileRaw, home) as string) : undefined;
  const fileValues = configFile ? readConfigFile(configFile, fileRaw?.label ?? '') : {};

  const values: Record<string, Value> = { config: configFile };
  const labels: Record<string, string> = {};
  // cacheDir first: the socket's default is relative to it.
  const order = [spec('cacheDir'), ...AGENT_OPTIONS.filter((o) => o.name !== 'cacheDir')];
  for (const option of order) {
    if (option.name === 'config') continue;
    const raw = rawValueOf(option, flags, input.env, fileValues, configFile, cwd);
    if (raw) {
      labels[option.name] = raw.label;
      values[option.name] = parseValue(option, raw, home);
    } else if (option.default !== undefined) {
      labels[option.name] = `default of --${option.flag}`;
      const text = option.default.startsWith(CACHE_DIR_TOKEN)
        ? path.join(values['cacheDir'] as string, option.default.slice(CACHE_DIR_TOKEN.length))
        : option.default;
      values[option.name] = parseValue(
        option,
        { label: labels[option.name], text, base: cwd },
        home,
      );
    } else {
      values[option.name] = undefined;
    }
  }

  checkTogether(values, labels);
  const config: Record<string, Value> = {};
  for (const option of AGENT_OPTIONS) config[option.name] = values[option.name];
  return Object.freeze(config) as AgentConfig;
}

/** True when the arguments ask for `--help` (or `-h`) before any `--`. */
export function helpRequested(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

function spec(name: string): OptionSpec {
  const option = AGENT_OPTIONS.find((o) => o.name === name);
  if (!option) throw new Error(`no option named ${name}`);
  return option;
}

function parseFlags(argv: readonly string[]): Record<string, string | boolean | undefined> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const o of AGENT_OPTIONS)
    options[o.flag] = { type: o.type === 'bool' ? 'boolean' : 'string' };
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw flagError(err);
  }
}

/** Turns node:util parseArgs errors into one short line naming the flag. */
function flagError(err: unknown): ConfigError {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string }).code;
  const quoted = /'(-[^' ]+)/.exec(message)?.[1] ?? '';
  const flag = quoted.split('=')[0] ?? quoted;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const hint = suggest(
      flag.replace(/^-+/, ''),
      AGENT_OPTIONS.map((o) => o.flag),
    );
    return new ConfigError(
      `unknown option ${flag}${hint ? ` (did you mean --${hint}?)` : ''}; see --help`,
      flag,
      { cause: err },
    );
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const arg = /'([^']*)'/.exec(message)?.[1] ?? '';
    return new ConfigError(
      `unexpected argument ${JSON.stringify(arg)}: every setting is an option such as --listen <host:port>; see --help`,
      arg,
      { cause: err },
    );
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag) {
    const option = AGENT_OPTIONS.find((o) => `--${o.flag}` === flag);
    const wants =
      option?.type === 'bool' ? 'takes no value' : `needs a value ${option?.metavar ?? ''}`;
    return new ConfigError(
      `${flag} ${wants.trim()} (write ${flag}=<value> for values starting with "-")`,
      flag,
      {
        cause: err,
      },
    );
  }
  return new ConfigError(`${message}; see --help`, flag, { cause: err });
}

function rawValueOf(
  option: OptionSpec,
  flags: Record<string, string | boolean | undefined>,
  env: Readonly<Record<string, string | undefined>>,
  file: Record<string, unknown>,
  configFile: string | undefined,
  cwd: string,
): RawValue | undefined {
  const flag = flags[option.flag];
  if (flag !== undefined) return explicit(option, `--${option.flag}`, String(flag), cwd);
  const fromEnv = env[option.env];
  if (fromEnv !== undefined) return explicit(option, option.env, fromEnv, cwd);
  if (configFile && Object.prototype.hasOwnProperty.call(file, option.name)) {
    const label = `${configFile}: ${option.name}`;
    return explicit(option, label, yamlScalar(label, file[option.name]), path.dirname(configFile));
  }
  return undefined;
}

/** An explicitly given value; empty (or YAML null) means off, unset, or is an error. */
function explicit(
  option: OptionSpec,
  label: string,
  text: string | null,
  base: string,
): RawValue | undefined {
  if (text !== null && text.trim() !== '') return { label, text, base };
  if (option.canDisable) return { label, text: OFF, base };
  // An option without a default is legitimately unset; say so explicitly rather than guess.
  if (option.default === undefined) return { label, text: undefined, base };
  throw new ConfigError(
    `${label}=${JSON.stringify(text ?? '')}: needs a value ${option.metavar} (default ${option.default})`,
    label,
  );
}

function yamlScalar(label: string, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new ConfigError(
    `${label}: expected a single value, not ${Array.isArray(value) ? 'a list' : 'a mapping'}`,
    label,
  );
}

function readConfigFile(file: string, label: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err as Error).message;
    throw new ConfigError(
      `${label}=${JSON.stringify(file)}: cannot read the file (${code})`,
      label,
      {
        cause: err,
      },
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const detail = ((err as Error).message ?? '').split('\n')[0];
    throw new ConfigError(`${label}=${JSON.stringify(file)}: not valid YAML: ${detail}`, label, {
      cause: err,
    });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(
      `${label}=${JSON.stringify(file)}: expected a mapping of option names to values`,
      label,
    );
  }
  const known = AGENT_OPTIONS.filter((o) => o.inFile !== false).map((o) => o.name);
  for (const key of Object.keys(doc)) {
    if (known.includes(key)) continue;
    const option = AGENT_OPTIONS.find((o) => o.name === key);
    const hint = option ? '' : suggest(key, known);
    const why = option
      ? `${key} cannot be set in the config file`
      : `unknown key ${JSON.stringify(key)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}`;
    throw new ConfigError(`${file}: ${why}; valid keys: ${known.join(', ')}`, `${file}: ${key}`);
  }
  const values = doc as Record<string, unknown>;
  // YAML reads a file mode written 0o660 as the number 432: take the text as written instead.
  for (const option of AGENT_OPTIONS.filter((o) => o.type === 'mode')) {
    if (typeof values[option.name] !== 'number') continue;
    const node = parseDocument(text).get(option.name, true);
    if (isScalar(node) && node.source !== undefined) values[option.name] = node.source;
  }
  return values;
}

function parseValue(option: OptionSpec, raw: RawValue, home: string): Value {
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

/** Rules that involve more than one option. */
function checkTogether(values: Record<string, Value>, labels: Record<string, string>): void {
  if (values['listen'] === undefined && values['socket'] === undefined) {
    throw new ConfigError(
      `${labels['listen']}=off and ${labels['socket']}=off: the agent needs at least one listener`,
      labels['listen'] ?? '',
    );
  }
  const socket = values['socket'];
  if (typeof socket === 'string') {
    const derived = labels['socket']?.startsWith('default') ?? true;
    if (derived) {
      const cacheDir = values['cacheDir'] as string;
      checkSocketPath(
        socket,
        labels['cacheDir'] ?? '--cache-dir',
        'choose a shorter --cache-dir or set --socket',
        cacheDir,
      );
    } else {
      checkSocketPath(socket, labels['socket'] ?? '--socket', 'choose a shorter path');
    }
  }
  checkTls(values, labels);
  if (values['redisUrl'] === undefined) {
    const cacheDir = values['cacheDir'] as string;
    checkSocketPath(
      path.join(cacheDir, EMBEDDED_REDIS_SOCKET),
      labels['cacheDir'] ?? '--cache-dir',
      'choose a shorter --cache-dir or set --redis-url',
      cacheDir,
    );
  }
}

/** TLS options that only make sense together, or with the listener or URL they apply to. */
function checkTls(values: Record<string, Value>, labels: Record<string, string>): void {
  const set = (name: string): boolean => values[name] !== undefined;
  const pair = (a: string, b: string): void => {
    if (set(a) !== set(b)) {
      const [given, missing] = set(a) ? [a, b] : [b, a];
      throw new ConfigError(
        `${labels[given]} is set but ${spec(missing).env} (--${spec(missing).flag}) is not: ` +
          'the certificate and its key go together',
        labels[given] ?? '',
      );
    }
  };
  pair('tlsCert', 'tlsKey');
  if (set('tlsClientCa') && !set('tlsCert')) {
    throw new ConfigError(
      `${labels['tlsClientCa']} needs ${spec('tlsCert').env} and ${spec('tlsKey').env}: ` +
        'mutual TLS is TLS with client certificates',
      labels['tlsClientCa'] ?? '',
    );
  }
  if (set('tlsCert') && !set('listen')) {
    throw new ConfigError(
      `${labels['tlsCert']} is set but ${labels['listen']}=off: TLS applies to the TCP ` +
        'listener only (the Unix socket is guarded by its file mode)',
      labels['tlsCert'] ?? '',
    );
  }
  if (values['writeAccess'] === 'mtls' && !set('tlsClientCa')) {
    throw new ConfigError(
      `${labels['writeAccess']}=mtls needs ${spec('tlsClientCa').env} (--tls-client-ca): ` +
        'without it no TCP client has a certificate to be trusted by',
      labels['writeAccess'] ?? '',
    );
  }
  pair('redisTlsCert', 'redisTlsKey');
  const redisTls = ['redisTlsCa', 'redisTlsCert'].find(set);
  const url = values['redisUrl'];
  if (redisTls && !(typeof url === 'string' && /^rediss(\+cluster)?:/i.test(url))) {
    throw new ConfigError(
      `${labels[redisTls]} is set but ${spec('redisUrl').env} is ` +
        `${url === undefined ? 'unset' : 'not a rediss:// URL'}: Redis TLS files apply to ` +
        'rediss:// and rediss+cluster:// only',
      labels[redisTls] ?? '',
    );
  }
}

function checkSocketPath(socket: string, label: string, remedy: string, shown = socket): void {
  const bytes = Buffer.byteLength(socket);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new ConfigError(
      `${label}=${JSON.stringify(shown)}: the socket path ${socket} is ${bytes} bytes, ` +
        `longer than the ${MAX_SOCKET_PATH_BYTES} a Unix socket allows; ${remedy}`,
      label,
    );
  }
}

/** The candidate closest to `word` if it is plausibly a typo of it. */
function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + cost,
      );
    }
    prev = row;
  }
  return prev[b.length] as number;
}
