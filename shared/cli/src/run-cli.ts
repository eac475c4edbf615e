/**
 * Runs one `ckc` command line against the node agent and returns the exit status.
 * Owns: what each command prints and its exit status (0 done, 1 failed, 2 usage).
 * Never: process.exit (main.ts sets the exit code once the channel is closed).
 */
import {
  CheckpointCacheClient,
  CheckpointCacheError,
  IngestDirError,
  RemoteStoreError,
  RemoteStores,
  type CheckpointReadStream,
  type EntryInfo,
  type WriteOptions,
  type WriteResult,
} from '@checkpoint-cache/client';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { lstat, realpath, rename, stat, unlink } from 'node:fs/promises';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseCommandLine, HELP, type Command, type CommandLine } from './command-line';
import { defaultAgent } from './default-agent';
import { formatBytes, formatEntry, formatListLine, LIST_HEADER } from './entry-format';
import { ProgressBar, type ProgressTarget } from './progress-bar';
import { UsageError } from './usage-error';

export interface CliIo {
  /** A function: touching process.stdin would open it even for commands that never read it. */
  stdin: () => Readable;
  stdout: Writable;
  stderr: Writable & ProgressTarget;
  env: NodeJS.ProcessEnv;
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let line: CommandLine;
  let client: CheckpointCacheClient;
  try {
    line = parseCommandLine(argv);
    if (line.command.name === 'help') {
      io.stdout.write(HELP);
      return 0;
    }
    client = connect(line.agent ?? defaultAgent(io.env));
  } catch (err) {
    return usageFailure(io, err);
  }
  const bars: ProgressBar[] = [];
  try {
    await run(line, client, io, bars);
    return 0;
  } catch (err) {
    bars.forEach((bar) => bar.clear());
    if (err instanceof UsageError) return usageFailure(io, err);
    io.stderr.write(`ckc: ${line.command.name} failed: ${describe(err, client.agent)}\n`);
    return 1;
  } finally {
    client.close();
  }
}

function connect(agent: string): CheckpointCacheClient {
  try {
    return new CheckpointCacheClient({ agent });
  } catch (err) {
    throw new UsageError(`--agent: ${(err as Error).message}`);
  }
}

function usageFailure(io: CliIo, err: unknown): number {
  if (!(err instanceof UsageError)) throw err;
  io.stderr.write(`ckc: ${err.message}\nRun 'ckc --help' for usage.\n`);
  return 2;
}

function describe(err: unknown, agent: string): string {
  if (err instanceof CheckpointCacheError) {
    const hint = err.codeName === 'UNAVAILABLE' ? ` (is the agent running at ${agent}?)` : '';
    return `${err.codeName}: ${err.details}${hint}`;
  }
  if (err instanceof RemoteStoreError) return `remote ${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

async function run(
  line: CommandLine,
  client: CheckpointCacheClient,
  io: CliIo,
  bars: ProgressBar[],
): Promise<void> {
  const { command, json } = line;
  const out = (text: string): Promise<void> => write(io.stdout, text);
  switch (command.name) {
    case 'put': {
      const result = await put(command, client, io, bars);
      if (json) await out(JSON.stringify(result, null, 2) + '\n');
      else {
        const { entry, created } = result;
        await out(
          `${created ? 'stored' : 'already cached (same bytes)'}: ${entry.key} ` +
            `${entry.size} bytes (${formatBytes(entry.size)})\n`,
        );
      }
      return;
    }
    case 'get':
      await get(command, client, io, bars);
      return;
    case 'stat': {
      const entry = await client.stat(command.key, { noTouch: command.noTouch });
      await out(json ? JSON.stringify(entry, null, 2) + '\n' : formatEntry(entry));
      return;
    }
    case 'touch': {
      const entry = await client.touch(command.key, {
        checkpointId: command.checkpointId,
        ttlMs: command.ttlMs,
      });
      await out(json ? JSON.stringify(entry, null, 2) + '\n' : formatEntry(entry));
      return;
    }
    case 'ls': {
      let count = 0;
      for await (const entry of client.listAll({
        jobId: command.jobId,
        checkpointId: command.checkpointId,
      })) {
        if (json) await out(`${count === 0 ? '[\n' : ',\n'}${JSON.stringify(entry)}`);
        else await out((count === 0 ? LIST_HEADER : '') + formatListLine(entry));
        count++;
      }
      if (json) await out(count === 0 ? '[]\n' : '\n]\n');
      return;
    }
    case 'rm': {
      const deleted = await client.delete(command.key);
      if (json) await out(JSON.stringify({ key: command.key, deleted }) + '\n');
      else await out(deleted ? `deleted ${command.key}\n` : `not cached: ${command.key}\n`);
      return;
    }
    case 'release': {
      const result = await client.release({
        jobId: command.jobId,
        belowCheckpointId: command.belowCheckpointId,
      });
      if (json) await out(JSON.stringify(result, null, 2) + '\n');
      else {
        const scope =
          command.belowCheckpointId === undefined
            ? ''
            : ` below checkpoint ${command.belowCheckpointId}`;
        await out(
          `released ${result.releasedEntries} ${result.releasedEntries === 1 ? 'entry' : 'entries'} ` +
            `(${formatBytes(result.releasedBytes)}) ` +
            `of job ${command.jobId}${scope}\n`,
        );
      }
      return;
    }
    default:
      return;
  }
}

async function put(
  command: Extract<Command, { name: 'put' }>,
  client: CheckpointCacheClient,
  io: CliIo,
  bars: ProgressBar[],
): Promise<{ entry: EntryInfo; created: boolean }> {
  const size = command.file === '-' ? undefined : (await stat(command.file)).size;
  const bar = ProgressBar.for(io.stderr, 'put', size);
  if (bar) bars.push(bar);
  const options = {
    jobId: command.jobId,
    checkpointId: command.checkpointId,
    ttlMs: command.ttlMs,
    size,
    progress: (n: number) => bar?.add(n),
  };
  const ingestDir = command.ingestDir ?? (io.env['CKC_INGEST_DIR'] || undefined);
  if (command.file !== '-' && ingestDir !== undefined && client.agent.startsWith('unix:')) {
    const handedOver = await handOver(command, ingestDir, client, options);
    if ('result' in handedOver) {
      bar?.finish();
      return handedOver.result;
    }
    bar?.restart();
    io.stderr.write(`ckc: put: not handed over, ${handedOver.why}; streaming it instead\n`);
  }
  // A file is read straight into the chunks sent; stdin is re-cut into them.
  const result =
    command.file === '-'
      ? await client.write(command.key, io.stdin(), options)
      : await client.writeFile(command.key, command.file, options);
  bar?.finish();
  return result;
}

/**
 * `put` through the agent's ingest directory (CheckpointCacheClient.handOverFile), or why not,
 * when the agent cannot take the file that way or no copy can be made there: then the file is
 * streamed as without --ingest-dir.
 */
async function handOver(
  command: Extract<Command, { name: 'put' }>,
  ingestDir: string,
  client: CheckpointCacheClient,
  options: WriteOptions,
): Promise<{ result: WriteResult } | { why: string }> {
  try {
    return { result: await client.handOverFile(command.key, command.file, ingestDir, options) };
  } catch (err) {
    if (err instanceof CheckpointCacheError) {
      if (!HAND_OVER_REFUSALS.has(err.codeName)) throw err;
      return { why: `the agent did not take it (${err.codeName}: ${err.details})` };
    }
    // The file itself unreadable: streaming it would fail alike, so that is the error to show.
    if (!(err instanceof IngestDirError)) throw err;
    return { why: `no copy could be made in ${ingestDir} (${(err.cause as Error).message})` };
  }
}

/** Ingest's answers of an agent that cannot take a file by name (see handOverFile). */
const HAND_OVER_REFUSALS = new Set([
  'FAILED_PRECONDITION',
  'NOT_FOUND',
  'PERMISSION_DENIED',
  'UNIMPLEMENTED',
]);

async function get(
  command: Extract<Command, { name: 'get' }>,
  client: CheckpointCacheClient,
  io: CliIo,
  bars: ProgressBar[],
): Promise<void> {
  let stream: CheckpointReadStream;
  try {
    stream = client.read(command.key, {
      remote: command.remote,
      offset: command.offset,
      length: command.length,
    });
  } catch (err) {
    throw err instanceof RemoteStoreError || err instanceof RangeError
      ? new UsageError(`--remote: ${err.message}`)
      : err;
  }
  let bar: ProgressBar | undefined;
  let first = true;
  const count = counter((n) => {
    if (first) {
      // By the first byte the length is known from the agent's header or the request.
      first = false;
      bar = ProgressBar.for(io.stderr, 'get', stream.expectedLength);
      if (bar) bars.push(bar);
      if (bar && stream.expectedLength === undefined && command.remote !== undefined) {
        // Missed before any header: only the remote store knows the size.
        const from = command.offset ?? 0;
        remoteSize(command.remote).then(
          (size) => bar?.setTotal(size - from),
          () => undefined,
        );
      }
    }
    bar?.add(n);
  });
  if (command.out === '-') {
    await pipeline(stream, count, io.stdout, { end: false });
  } else {
    const out = await outputTarget(command.out);
    if (out.replace) {
      const temp = `${out.path}.ckc-${process.pid}.part`;
      try {
        await pipeline(stream, count, createWriteStream(temp, { flags: 'wx' }));
        await rename(temp, out.path);
      } catch (err) {
        await unlink(temp).catch(() => undefined);
        throw err;
      }
    } else {
      await pipeline(stream, count, createWriteStream(out.path, { flags: 'w' }));
    }
  }
  bar?.finish();
  const total = stream.bytesFromCache + stream.bytesFromRemote;
  const fallback = stream.fallback;
  const why = fallback ? ` (left the cache at offset ${fallback.offset}: ${fallback.reason})` : '';
  io.stderr.write(
    `ckc: get ${total} bytes: ${stream.bytesFromCache} from cache, ` +
      `${stream.bytesFromRemote} from remote${why}\n`,
  );
}

/**
 * Where `get` writes, and whether it may write a temp file beside it and rename that over it (so a
 * failed read leaves no half-written file). Only a regular file, or a name that does not exist yet,
 * is ever replaced; a device, a FIFO, a socket is written straight into (renaming over /dev/null
 * would destroy it), and a symbolic link is followed so that its target, not the link, is written.
 */
async function outputTarget(out: string): Promise<{ path: string; replace: boolean }> {
  const link = await lstat(out).catch(notFoundAs(undefined));
  if (!link) return { path: out, replace: true };
  if (!link.isSymbolicLink()) return { path: out, replace: link.isFile() };
  const target = await realpath(out).catch(notFoundAs(undefined));
  // A dangling link is written through, as a shell's `>` would: nothing is renamed over it.
  if (!target) return { path: out, replace: false };
  return { path: target, replace: (await stat(target)).isFile() };
}

function notFoundAs<T>(value: T): (err: unknown) => T {
  return (err) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return value;
    throw err;
  };
}

function remoteSize(uri: string): Promise<number> {
  const stores = RemoteStores.withDefaults();
  return stores
    .resolve(uri)
    .stat(uri)
    .then((info) => info.size);
}

/** A pass-through that reports how many bytes went by. */
function counter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      onBytes(chunk.length);
      callback(null, chunk);
    },
  });
}

async function write(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}
