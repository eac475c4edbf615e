/**
 * Where the agent's settings come from: command-line flags, environment variables and the YAML
 * config file, each turned into the raw text of one option with a label saying where it was
 * written (for messages).
 * Owns: reading the sources, the YAML file's shape, and the wording of flag and file errors.
 * Never: parsing values (parse-option-value.ts) or deciding precedence (load-agent-config.ts);
 * I/O other than reading the YAML file.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { isScalar, parseDocument, parse as parseYaml } from 'yaml';
import { AGENT_OPTIONS } from './agent-options';
import type { OptionSpec } from './option-spec';
import { ConfigError } from './config-error';
import { OFF, type RawValue } from './parse-option-value';

/** True when the arguments ask for `--help` (or `-h`) before any `--`. */
export function helpRequested(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** The flags given, by flag name; a ConfigError naming the flag for anything else. */
export function parseFlags(argv: readonly string[]): Record<string, string | boolean | undefined> {
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

/** The option as the flags, the environment or the file (in that order) give it. */
export function rawValueOf(
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

/** The YAML file's option values, by option name; unknown keys and a malformed file are errors. */
export function readConfigFile(file: string, label: string): Record<string, unknown> {
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
