/**
 * Reads the agent's configuration once: flags > environment > YAML file > defaults, each value
 * parsed and checked against AGENT_OPTIONS, into one frozen AgentConfig. The sources are read by
 * config-sources.ts, each value parsed by parse-option-value.ts, and the rules that involve
 * several options are in check-together.ts.
 * Owns: precedence, defaults (`<cacheDir>` resolved) and the order options are resolved in.
 * Never: I/O other than reading the YAML file (node.id, directories and sockets are the agent's
 * business).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { AGENT_OPTIONS, optionNamed as spec, type AgentConfig } from './agent-options';
import { checkTogether } from './check-together';
import { parseFlags, rawValueOf, readConfigFile } from './config-sources';
import { parseValue, type Value } from './parse-option-value';

export type { AgentConfig };
export { EMBEDDED_REDIS_SOCKET, MAX_SOCKET_PATH_BYTES } from './check-together';
export { helpRequested } from './config-sources';

export interface LoadAgentConfigInput {
  /** Command-line arguments after the program name. */
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Base of relative paths given by flags and environment; `process.cwd()` by default. */
  cwd?: string;
}

const CACHE_DIR_TOKEN = '<cacheDir>';

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
