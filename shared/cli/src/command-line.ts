/**
 * The `ckc` command line: its help text and its parsing into one typed command.
 * Owns: command names, option spellings and which options each command takes. Never: I/O.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { parseCount, parseDuration } from './cli-values';
import { FALLBACK_AGENT_TCP } from './default-agent';
import { UsageError } from './usage-error';

export const HELP = `Usage: ckc [--agent <address>] [--json] <command> [arguments]

Talks to the checkpoint-cache node agent: stores checkpoint files in this node's cache and reads
them back, local first, from a remote store when the cache cannot serve them.

Commands:
  put <key> <file|->              Store a file (- = stdin) under <key>.
      [--job <id>] [--checkpoint <n>] [--ttl <duration>]
      [--ingest-dir <dir>]        Hand a file over through the agent's ingest directory <dir>
                                  (default $CKC_INGEST_DIR; Unix socket only): copied there
                                  once, then linked into the cache by the agent. Streamed
                                  instead when the agent cannot take it.
  get <key> <out|->               Read an entry into <out> (- = stdout). With --remote, bytes
      [--remote <uri>]            the cache cannot serve come from <uri> (file://, http(s)://
      [--offset <n>] [--length <n>]  or an absolute path); stderr says where they came from.
  stat <key> [--no-touch]         Describe an entry (and reset its TTL unless --no-touch).
  ls [--job <id>] [--checkpoint <n>]  List this node's entries.
  rm <key>                        Remove an entry from this node.
  release --job <id> [--below <n>]  Drop a job's entries of checkpoints below <n> (all without).
  touch <key> [--checkpoint <n>] [--ttl <duration>]  Reset an entry's TTL.

Options:
  --agent <address>   host:port, unix:/path or unix:///path. Default: $CKC_AGENT, else the
                      socket that ckc-agent would use in this environment (CKC_SOCKET,
                      CKC_CACHE_DIR, CKC_CONFIG) when it exists, else its --listen address
                      (${FALLBACK_AGENT_TCP} by default).
  --json              Print results as JSON (stat, ls, put, touch, release).
  -h, --help          Show this help.

Durations: 500ms, 30s, 15m, 2h, 1d, 1h30m.
Exit status: 0 done, 1 the operation failed (the status and message are printed), 2 usage error.
`;

export type Command =
  | { name: 'help' }
  | {
      name: 'put';
      key: string;
      file: string;
      jobId?: string;
      checkpointId?: number;
      ttlMs?: number;
      ingestDir?: string;
    }
  | {
      name: 'get';
      key: string;
      out: string;
      remote?: string;
      offset?: number;
      length?: number;
    }
  | { name: 'stat'; key: string; noTouch: boolean }
  | { name: 'ls'; jobId?: string; checkpointId?: number }
  | { name: 'rm'; key: string }
  | { name: 'release'; jobId: string; belowCheckpointId?: number }
  | { name: 'touch'; key: string; checkpointId?: number; ttlMs?: number };

export interface CommandLine {
  command: Command;
  /** From --agent; undefined means the default. */
  agent: string | undefined;
  json: boolean;
}

const OPTIONS = {
  agent: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  job: { type: 'string' },
  checkpoint: { type: 'string' },
  ttl: { type: 'string' },
  remote: { type: 'string' },
  offset: { type: 'string' },
  length: { type: 'string' },
  'no-touch': { type: 'boolean' },
  below: { type: 'string' },
  'ingest-dir': { type: 'string' },
} as const;

type OptionName = keyof typeof OPTIONS;

const GLOBAL: readonly OptionName[] = ['agent', 'json', 'help'];

/** Positional arguments and the options each command accepts besides the global ones. */
const COMMANDS: Readonly<Record<Command['name'], { args: string[]; options: OptionName[] }>> = {
  help: { args: [], options: [] },
  put: { args: ['key', 'file'], options: ['job', 'checkpoint', 'ttl', 'ingest-dir'] },
  get: { args: ['key', 'out'], options: ['remote', 'offset', 'length'] },
  stat: { args: ['key'], options: ['no-touch'] },
  ls: { args: [], options: ['job', 'checkpoint'] },
  rm: { args: ['key'], options: [] },
  release: { args: [], options: ['job', 'below'] },
  touch: { args: ['key'], options: ['checkpoint', 'ttl'] },
};

export function parseCommandLine(argv: readonly string[]): CommandLine {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const agent = values.agent;
  const json = values.json ?? false;
  if (values.help || positionals.length === 0 || positionals[0] === 'help') {
    if (!values.help && positionals.length === 0) throw new UsageError('no command given');
    return { command: { name: 'help' }, agent, json };
  }

  const name = positionals[0];
  if (!isCommandName(name)) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  const spec = COMMANDS[name];
  for (const option of Object.keys(values) as OptionName[]) {
    if (!GLOBAL.includes(option) && !spec.options.includes(option)) {
      throw new UsageError(`--${option} does not apply to ${name}`);
    }
  }
  const args = positionals.slice(1);
  if (args.length !== spec.args.length) {
    const wanted = spec.args.map((a) => `<${a}>`).join(' ');
    throw new UsageError(
      `usage: ckc ${name} ${wanted}`.trimEnd() + ` (got ${args.length} arguments)`,
    );
  }
  if (spec.args[0] === 'key' && args[0] === '') throw new UsageError('<key> is empty');
  const key = args[0];

  switch (name) {
    case 'put':
      return {
        command: {
          name,
          key,
          file: args[1],
          jobId: values.job,
          checkpointId: parseCount('checkpoint', values.checkpoint),
          ttlMs: parseDuration('ttl', values.ttl),
          ingestDir: nonEmpty('ingest-dir', values['ingest-dir']),
        },
        agent,
        json,
      };
    case 'get':
      return {
        command: {
          name,
          key,
          out: args[1],
          remote: values.remote === undefined ? undefined : remoteUri(values.remote),
          offset: parseCount('offset', values.offset),
          length: parseCount('length', values.length),
        },
        agent,
        json,
      };
    case 'stat':
      return { command: { name, key, noTouch: values['no-touch'] ?? false }, agent, json };
    case 'ls':
      if (values.checkpoint !== undefined && values.job === undefined) {
        throw new UsageError('--checkpoint needs --job');
      }
      return {
        command: {
          name,
          jobId: values.job,
          checkpointId: parseCount('checkpoint', values.checkpoint),
        },
        agent,
        json,
      };
    case 'rm':
      return { command: { name, key }, agent, json };
    case 'release':
      if (!values.job) throw new UsageError('release needs --job <id>');
      return {
        command: { name, jobId: values.job, belowCheckpointId: parseCount('below', values.below) },
        agent,
        json,
      };
    case 'touch':
      return {
        command: {
          name,
          key,
          checkpointId: parseCount('checkpoint', values.checkpoint),
          ttlMs: parseDuration('ttl', values.ttl),
        },
        agent,
        json,
      };
    default:
      return { command: { name: 'help' }, agent, json };
  }
}

function isCommandName(name: string): name is Command['name'] {
  return Object.prototype.hasOwnProperty.call(COMMANDS, name);
}

/** A URI as given, or a relative path made absolute (the remote stores take absolute paths). */
function remoteUri(text: string): string {
  if (text === '') throw new UsageError('--remote is empty');
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(text) || path.isAbsolute(text)) return text;
  return path.resolve(text);
}

function nonEmpty(option: string, value: string | undefined): string | undefined {
  if (value === '') throw new UsageError(`--${option} is empty`);
  return value;
}
