/**
 * `ckc-agent --help`, generated from AGENT_OPTIONS so that it cannot drift from what is accepted.
 */
import { AGENT_OPTIONS } from './agent-options';
import type { OptionSpec } from './option-spec';

const WIDTH = 100;
const INDENT = '      ';

export function formatHelp(program = 'ckc-agent'): string {
  const lines = [
    `Usage: ${program} [options]`,
    '',
    ...wrap(
      "Serves this node's checkpoint cache over gRPC (TCP and/or a Unix socket), keeping entry " +
        'metadata and TTLs in Redis.',
      '',
    ),
    '',
    ...wrap(
      'Every option can also be set by its environment variable, or by its camelCase name as a key ' +
        'in the YAML file given by --config. Flags win over the environment, the environment over ' +
        'the file, the file over defaults. Durations are written 500ms, 30s, 15m, 2h, 1d or 1h30m; ' +
        'sizes 4096, 256KiB, 1MiB.',
      '',
    ),
    '',
    'Options:',
  ];
  for (const option of AGENT_OPTIONS) {
    lines.push(`  --${option.flag} ${option.metavar}`);
    lines.push(...wrap(`env ${option.env}; ${defaultText(option)}`, INDENT));
    lines.push(...wrap(option.doc, INDENT));
  }
  lines.push('  -h, --help', `${INDENT}Print this help and exit.`, '');
  return lines.join('\n');
}

function defaultText(option: OptionSpec): string {
  if (option.default !== undefined) return `default ${option.default}`;
  return `unset: ${option.unsetDoc ?? 'off'}`;
}

function wrap(text: string, indent: string): string[] {
  const out: string[] = [];
  let line = indent;
  for (const word of text.split(/\s+/)) {
    if (line.length > indent.length && line.length + 1 + word.length > WIDTH) {
      out.push(line);
      line = indent;
    }
    line += (line.length > indent.length ? ' ' : '') + word;
  }
  if (line.length > indent.length) out.push(line);
  return out;
}
