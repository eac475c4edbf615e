/**
 * npm run demo: the product's promise in one run. A private Redis and one node agent start; a
 * job "checkpoints" a few hundred MB of files to a remote store (an HTTP server throttled to a
 * 1 Gbit/s link) and into the node cache; then the job "fails over" and restores its state three
 * times: from the remote store alone, through the cache, and through the cache with one cached
 * file corrupted (the client continues that file from the remote). Every restored file is checked
 * against the CRC32C of what was written.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { parseArgs } from 'node:util';
import { entryIdOf } from '@checkpoint-cache/cache';
import { Crc32cAccumulator, crc32c } from '@checkpoint-cache/checksum';
import { CheckpointCacheClient, RemoteStores } from '@checkpoint-cache/client';
import { loadAgentConfig, parseSize } from '@checkpoint-cache/config';
import { createLogger } from '@checkpoint-cache/logger';
import { startNodeAgent, type RunningAgent } from '@checkpoint-cache/node-agent';
import { startThrottledHttpServer, type ThrottledHttpServer } from './throttled-http-server';

const MiB = 1024 * 1024;
const USAGE = `Usage: npm run demo [-- --size 256MiB --files 16 --link-mbit 1000 --keep]

  --size <size>       Total checkpoint size (default 256MiB).
  --files <n>         Files in the checkpoint (default 16).
  --link-mbit <n>     Speed of the link to the remote store, in Mbit/s (default 1000).
  --keep              Keep the temporary folder (cache, remote, agent logs) for a look.
Environment: CKC_REDIS_URL points the agent at an existing Redis; without it the agent starts its
own private redis-server (apt-get install -y redis-server).`;

interface Row {
  scenario: string;
  bytes: number;
  seconds: number;
  fromCache: number;
  fromRemote: number;
}

function out(line = ''): void {
  process.stdout.write(line + '\n');
}

async function restore(
  name: string,
  files: { key: string; url: string; crc: number }[],
  open: (f: { key: string; url: string }) => NodeJS.ReadableStream,
  counters: () => { fromCache: number; fromRemote: number },
): Promise<Row> {
  const before = counters();
  const started = process.hrtime.bigint();
  let bytes = 0;
  for (const f of files) {
    const acc = new Crc32cAccumulator();
    for await (const chunk of open(f)) acc.update(chunk as Buffer);
    if (acc.value !== f.crc) throw new Error(`${name}: ${f.key} came back with different bytes`);
    bytes += acc.length;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const after = counters();
  return {
    scenario: name,
    bytes,
    seconds,
    fromCache: after.fromCache - before.fromCache,
    fromRemote: after.fromRemote - before.fromRemote,
  };
}

function table(rows: Row[]): void {
  const mb = (n: number): string => (n / 1e6).toFixed(1);
  const header = ['scenario', 'MB', 'seconds', 'MB/s', 'MB from cache', 'MB from remote'];
  const lines = rows.map((r) => [
    r.scenario,
    mb(r.bytes),
    r.seconds.toFixed(2),
    (r.bytes / 1e6 / r.seconds).toFixed(0),
    mb(r.fromCache),
    mb(r.fromRemote),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  out(fmt(header));
  out(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) out(fmt(l));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '256MiB' },
      files: { type: 'string', default: '16' },
      'link-mbit': { type: 'string', default: '1000' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    out(USAGE);
    return;
  }
  const total = parseSize(values.size);
  const count = Number(values.files);
  const linkMbit = Number(values['link-mbit']);
  if (!Number.isInteger(count) || count < 1 || !(linkMbit > 0)) throw new Error(USAGE);

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckc-demo-'));
  const remoteDir = path.join(dir, 'remote');
  await fs.mkdir(remoteDir);
  let agent: RunningAgent | undefined;
  let remote: ThrottledHttpServer | undefined;
  let client: CheckpointCacheClient | undefined;
  try {
    out(`checkpoint-cache demo in ${dir}`);
    // The agent's embedded default (a private redis-server) unless CKC_REDIS_URL says otherwise.
    const config = loadAgentConfig({
      argv: [
        '--listen',
        '127.0.0.1:0',
        '--cache-dir',
        path.join(dir, 'cache'),
        '--log-level',
        'warn',
      ],
      env: { CKC_REDIS_URL: process.env['CKC_REDIS_URL'], CKC_LOG_FORMAT: 'text' },
    });
    agent = await startNodeAgent(config, {
      logger: createLogger({ level: 'warn', format: 'text' }),
    });
    remote = await startThrottledHttpServer(remoteDir, (linkMbit * 1e6) / 8);
    out(`agent: node ${agent.nodeId} on ${agent.tcpAddress} and unix:${agent.socketPath}`);
    out(`remote store: ${remote.url} (HTTP with Range, throttled to ${linkMbit} Mbit/s)`);
    client = new CheckpointCacheClient({
      agent: `unix:${agent.socketPath}`,
      remotes: RemoteStores.withDefaults(),
    });

    // 1. The job checkpoints: each file goes to the remote store (the source of truth) and into
    //    the node cache, as the Flink plugin does.
    const per = Math.floor(total / count);
    const files: { key: string; url: string; crc: number }[] = [];
    for (let i = 0; i < count; i++) {
      const name = `chk-42-part-${String(i).padStart(3, '0')}`;
      const data = randomBytes(per);
      await fs.writeFile(path.join(remoteDir, name), data);
      const key = `hdfs://namenode/flink/checkpoints/demo-job/chk-42/${name}`;
      await client.write(key, data, { jobId: 'demo-job', checkpointId: 42 });
      files.push({ key, url: `${remote.url}/${name}`, crc: crc32c(data) });
    }
    out(
      `checkpoint 42: ${count} files, ${((per * count) / MiB).toFixed(0)} MiB, written to the remote store and the cache`,
    );
    out('');
    out('failover: the job restores checkpoint 42 three times');

    const c = client;
    const stores = RemoteStores.withDefaults();
    let remoteOnly = 0;
    const counters = (): { fromCache: number; fromRemote: number } => {
      const s = c.stats();
      return { fromCache: s.bytesFromCache, fromRemote: s.bytesFromRemote + remoteOnly };
    };
    const rows: Row[] = [];
    rows.push(
      await restore(
        'from remote store only',
        files,
        (f) => {
          const pass = new PassThrough();
          pass.on('data', (b: Buffer) => (remoteOnly += b.length));
          stores
            .resolve(f.url)
            .open(f.url, 0)
            .then((s) => s.pipe(pass))
            .catch((err: Error) => pass.destroy(err));
          return pass;
        },
        counters,
      ),
    );
    rows.push(
      await restore(
        'through the node cache',
        files,
        (f) => c.read(f.key, { remote: f.url }),
        counters,
      ),
    );

    // A disk flips a byte in one cached file: the agent refuses to send it (DATA_LOSS), deletes it,
    // and the client continues that file from the remote store at the offset it had reached.
    const victim = files[Math.floor(count / 2)]!;
    const id = entryIdOf(victim.key);
    const victimPath = path.join(config.cacheDir, 'entries', id.slice(0, 2), id);
    const handle = await fs.open(victimPath, 'r+');
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, Math.floor(per / 2));
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, Math.floor(per / 2));
    await handle.close();
    rows.push(
      await restore(
        'through the cache, 1 file corrupt',
        files,
        (f) => c.read(f.key, { remote: f.url }),
        counters,
      ),
    );

    out('');
    table(rows);
    const [cold, warm] = rows;
    out('');
    out(
      `restore through the cache took ${warm!.seconds.toFixed(2)} s instead of ${cold!.seconds.toFixed(2)} s ` +
        `(${(cold!.seconds / warm!.seconds).toFixed(1)}x faster) and pulled ${warm!.fromRemote} bytes from the remote store.`,
    );
    out('every restored file matched the CRC32C of what the job wrote.');
  } finally {
    client?.close();
    await remote?.close();
    await agent?.shutdown(1000);
    if (values.keep) out(`kept ${dir}`);
    else await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
