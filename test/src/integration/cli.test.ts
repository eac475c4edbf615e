/**
 * The `ckc` executable as users run it (a child process), against a scripted real gRPC server:
 * help, usage errors (exit 2), failed operations (exit 1) and the commands' output.
 */
import { expect } from 'chai';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FakeCacheServer } from '../helpers/fake-cache-server';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { freePort } from '../helpers/free-port';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';

const CKC = path.resolve(__dirname, '..', '..', '..', 'shared', 'cli', 'bin', 'ckc.js');

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function ckc(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: Buffer } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CKC, ...args], {
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }),
    );
    child.stdin.end(options.input);
  });
}

describe('ckc', function () {
  this.timeout(20_000);

  it('--help prints every command and exits 0', async () => {
    const run = await ckc(['--help']);
    expect(run.code).to.equal(0);
    const help = run.stdout.toString();
    for (const command of [
      'put',
      'get',
      'stat',
      'ls',
      'rm',
      'release',
      'touch',
      '--agent',
      '--json',
    ]) {
      expect(help).to.contain(command);
    }
    expect((await ckc(['get', '--help'])).code).to.equal(0);
  });

  const usageErrors: [string, string[], RegExp][] = [
    ['no command', [], /no command given/],
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['an unknown option', ['ls', '--bogus'], /Unknown option '--bogus'/],
    [
      'an option of another command',
      ['put', 'k', 'f', '--remote', '/x'],
      /--remote does not apply to put/,
    ],
    ['a missing argument', ['get', 'k'], /usage: ckc get <key> <out>/],
    ['a bad number', ['get', 'k', 'out', '--offset', '-1'], /--offset/],
    ['a bad duration', ['put', 'k', 'f', '--ttl', '10'], /expected a duration/],
    ['release without --job', ['release', '--below', '3'], /release needs --job/],
    ['a bad agent address', ['--agent', 'nowhere', 'stat', 'k'], /--agent/],
    [
      'an unknown remote scheme',
      ['get', 'k', 'out', '--remote', 'gopher://x/y'],
      /no remote store/,
    ],
  ];
  for (const [name, args, message] of usageErrors) {
    it(`exits 2 on ${name}`, async () => {
      const run = await ckc(args, { env: { CKC_AGENT: '127.0.0.1:1' } });
      expect(run.code, run.stderr).to.equal(2);
      expect(run.stderr).to.match(message);
      expect(run.stderr).to.contain("Run 'ckc --help' for usage.");
    });
  }

  describe('against an agent', () => {
    const data = randomBytes(300_007);
    let fake: FakeCacheServer;
    let dir: string;
    let file: string;
    let env: NodeJS.ProcessEnv;

    beforeEach(async () => {
      fake = await FakeCacheServer.start();
      dir = await mkdtemp(path.join(tmpdir(), 'ckc-cli-'));
      file = path.join(dir, 'state.bin');
      await writeFile(file, data);
      env = { CKC_AGENT: fake.address };
    });

    afterEach(async () => {
      await fake.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('puts a file and gets it back from the cache', async () => {
      const put = await ckc(
        ['put', 'k1', file, '--job', 'job-a', '--checkpoint', '3', '--ttl', '30m'],
        {
          env,
        },
      );
      expect(put.code, put.stderr).to.equal(0);
      expect(put.stdout.toString()).to.match(/^stored: k1 300007 bytes/);
      expect(fake.writes[0].messages[0].header).to.deep.include({
        key: 'k1',
        jobId: 'job-a',
        checkpointId: 3,
        size: data.length,
        ttlMs: 30 * 60_000,
      });
      const out = path.join(dir, 'out.bin');
      const get = await ckc(['get', 'k1', out], { env });
      expect(get.code, get.stderr).to.equal(0);
      expect((await readFile(out)).equals(data)).to.equal(true);
      expect(get.stderr).to.contain(
        `get ${data.length} bytes: ${data.length} from cache, 0 from remote`,
      );
      expect(get.stderr).to.not.contain('\r');
      expect(await readdir(dir)).to.have.members(['state.bin', 'out.bin']);
    });

    it('puts from stdin and gets a range to stdout', async () => {
      expect((await ckc(['put', 'k2', '-'], { env, input: data })).code).to.equal(0);
      const get = await ckc(['get', 'k2', '-', '--offset', '1000', '--length', '5000'], { env });
      expect(get.code, get.stderr).to.equal(0);
      expect(get.stdout.equals(data.subarray(1000, 6000))).to.equal(true);
    });

    it('gets from the remote store when the cache misses and says so', async () => {
      const out = path.join(dir, 'out.bin');
      const get = await ckc(['get', 'missing', out, '--remote', file], { env });
      expect(get.code, get.stderr).to.equal(0);
      expect((await readFile(out)).equals(data)).to.equal(true);
      expect(get.stderr).to.contain(`0 from cache, ${data.length} from remote`);
      expect(get.stderr).to.contain('NOT_FOUND');
    });

    it('exits 1 with the status, leaving no partial file, when a get fails', async () => {
      const out = path.join(dir, 'out.bin');
      const get = await ckc(['get', 'missing', out], { env });
      expect(get.code).to.equal(1);
      expect(get.stderr).to.match(/ckc: get failed: NOT_FOUND: missing is not cached/);
      expect(existsSync(out)).to.equal(false);
      expect(await readdir(dir)).to.deep.equal(['state.bin']);
    });

    it('writes into a FIFO and through a symlink without replacing them', async () => {
      fake.put('k3', { data });
      // A FIFO: `get` must open it for writing, not rename a regular file over it.
      const fifo = path.join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      const drained = new Promise<Buffer>((resolve, reject) => {
        const parts: Buffer[] = [];
        createReadStream(fifo)
          .on('data', (b) => parts.push(b as Buffer))
          .on('end', () => resolve(Buffer.concat(parts)))
          .on('error', reject);
      });
      const toFifo = await ckc(['get', 'k3', fifo], { env });
      expect(toFifo.code, toFifo.stderr).to.equal(0);
      expect((await drained).equals(data)).to.equal(true);
      expect((await lstat(fifo)).isFIFO()).to.equal(true);

      // A symlink to a regular file: the target gets the bytes, the link stays a link.
      const target = path.join(dir, 'target.bin');
      await writeFile(target, 'old');
      const link = path.join(dir, 'link.bin');
      await symlink(target, link);
      const viaLink = await ckc(['get', 'k3', link], { env });
      expect(viaLink.code, viaLink.stderr).to.equal(0);
      expect((await lstat(link)).isSymbolicLink()).to.equal(true);
      expect((await readFile(target)).equals(data)).to.equal(true);
      expect((await readdir(dir)).filter((f) => f.includes('.part'))).to.deep.equal([]);
    });

    it('writes into a character device without replacing it', async function () {
      // mknod needs root (CAP_MKNOD), which CI has; a device made here, never the real /dev/null.
      if (process.getuid?.() !== 0) this.skip();
      fake.put('k4', { data });
      const devNull = path.join(dir, 'null');
      execFileSync('mknod', [devNull, 'c', '1', '3']);
      const toDev = await ckc(['get', 'k4', devNull], { env });
      expect(toDev.code, toDev.stderr).to.equal(0);
      const st = await lstat(devNull);
      expect(st.isCharacterDevice()).to.equal(true);
      expect(st.rdev).to.equal((await lstat('/dev/null')).rdev);
      expect((await readdir(dir)).filter((f) => f.includes('.part'))).to.deep.equal([]);
    });

    it('stats, touches, lists, removes and releases', async () => {
      fake.put('a/1', { data: Buffer.from('one'), jobId: 'job-a', checkpointIds: [1] });
      fake.put('a/2', { data: Buffer.from('two!'), jobId: 'job-a', checkpointIds: [2] });
      fake.put('b/1', { data: Buffer.from('three'), jobId: 'job-b', checkpointIds: [1] });

      const stat = await ckc(['stat', 'a/1', '--json', '--no-touch'], { env });
      expect(stat.code, stat.stderr).to.equal(0);
      expect(JSON.parse(stat.stdout.toString())).to.include({
        key: 'a/1',
        size: 3,
        jobId: 'job-a',
      });
      const human = await ckc(['stat', 'a/2'], { env });
      expect(human.stdout.toString()).to.match(/key:\s+a\/2\nsize:\s+4 \(4 B\)/);
      expect((await ckc(['touch', 'a/2', '--ttl', '1h'], { env })).code).to.equal(0);

      const ls = await ckc(['ls', '--json'], { env });
      expect(ls.code, ls.stderr).to.equal(0);
      expect(
        (JSON.parse(ls.stdout.toString()) as { key: string }[]).map((e) => e.key),
      ).to.deep.equal(['a/1', 'a/2', 'b/1']);
      const lsJob = await ckc(['ls', '--job', 'job-b'], { env });
      expect(lsJob.stdout.toString()).to.match(/SIZE.*KEY\n.*job-b.*b\/1\n$/);
      expect(
        JSON.parse((await ckc(['ls', '--json', '--job', 'none'], { env })).stdout.toString()),
      ).to.deep.equal([]);

      expect((await ckc(['rm', 'a/1'], { env })).stdout.toString()).to.equal('deleted a/1\n');
      expect((await ckc(['rm', 'a/1'], { env })).stdout.toString()).to.equal('not cached: a/1\n');
      const release = await ckc(['release', '--job', 'job-a', '--below', '9', '--json'], { env });
      expect(JSON.parse(release.stdout.toString())).to.deep.equal({
        releasedEntries: 1,
        releasedBytes: 4,
      });
    });

    it('exits 1 with the status when the entry is missing or the agent is down', async () => {
      const stat = await ckc(['stat', 'nope'], { env });
      expect(stat.code).to.equal(1);
      expect(stat.stderr).to.equal('ckc: stat failed: NOT_FOUND: nope is not cached\n');
      const down = await ckc(['--agent', `127.0.0.1:${await freePort()}`, 'stat', 'k'], { env });
      expect(down.code).to.equal(1);
      expect(down.stderr).to.match(/stat failed: UNAVAILABLE: .*is the agent running at/);
    });
  });

  describe('against the real node agent', () => {
    let redis: RedisServerHandle;
    let agent: TestAgent;
    let dir: string;

    let ingestDir: string;

    before(async () => {
      redis = await startRedisServer();
      dir = await mkdtemp(path.join(tmpdir(), 'ckc-cli-agent-'));
      ingestDir = path.join(dir, 'ingest');
      await mkdir(ingestDir);
      agent = await startTestAgent({
        redisUrl: redis.url,
        ingestDir,
        metricsListen: '127.0.0.1:0',
      });
    });

    after(async () => {
      await agent?.stop();
      await redis?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    async function linkedIngests(): Promise<number> {
      const text = await (await fetch(`http://${agent.metricsAddress!}/metrics`)).text();
      return Number(/^ckc_ingests_total\{how="linked"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    }

    it('finds the agent by its default socket in CKC_CACHE_DIR and round-trips a file', async () => {
      expect(agent.socketPath).to.equal(path.join(agent.cacheDir, 'agent.sock'));
      const env = { CKC_CACHE_DIR: agent.cacheDir };
      const data = randomBytes(2 * 1024 * 1024 + 3);
      const file = path.join(dir, 'in.bin');
      await writeFile(file, data);
      const put = await ckc(
        ['put', 'hdfs://nn/ckpt/j/chk-1/f', file, '--job', 'j', '--checkpoint', '1'],
        {
          env,
        },
      );
      expect(put.code, put.stderr).to.equal(0);
      const out = path.join(dir, 'out.bin');
      const get = await ckc(['get', 'hdfs://nn/ckpt/j/chk-1/f', out, '--remote', file], { env });
      expect(get.code, get.stderr).to.equal(0);
      expect((await readFile(out)).equals(data)).to.equal(true);
      expect(get.stderr).to.contain(`${data.length} from cache, 0 from remote`);
      const stat = await ckc(['stat', 'hdfs://nn/ckpt/j/chk-1/f', '--json'], { env });
      expect(JSON.parse(stat.stdout.toString())).to.include({ size: data.length, jobId: 'j' });
      const release = await ckc(['release', '--job', 'j'], { env });
      expect(release.stdout.toString()).to.match(/^released 1 entry \(/);
    });

    it('puts a file by handing a copy over through the ingest directory', async () => {
      const env = { CKC_CACHE_DIR: agent.cacheDir, CKC_INGEST_DIR: ingestDir };
      const data = randomBytes(3 * 1024 * 1024 + 1);
      const file = path.join(dir, 'handed.bin');
      await writeFile(file, data);
      const put = await ckc(['put', 'hdfs://nn/ckpt/j/chk-2/f', file, '--json'], { env });
      expect(put.code, put.stderr).to.equal(0);
      expect(put.stderr).to.equal('');
      expect(JSON.parse(put.stdout.toString())).to.deep.include({ created: true });
      // The copy was linked into the cache and its name removed; the source is untouched.
      expect(await linkedIngests()).to.equal(1);
      expect(await readdir(ingestDir)).to.deep.equal([]);
      expect((await readFile(file)).equals(data)).to.equal(true);
      const out = path.join(dir, 'handed.out');
      const get = await ckc(['get', 'hdfs://nn/ckpt/j/chk-2/f', out], { env });
      expect(get.code, get.stderr).to.equal(0);
      expect((await readFile(out)).equals(data)).to.equal(true);
    });

    it('streams the file, saying why, when it cannot be handed over', async () => {
      const env = { CKC_CACHE_DIR: agent.cacheDir };
      const file = path.join(dir, 'streamed.bin');
      await writeFile(file, randomBytes(100_000));
      // A directory the agent does not take files from, then one that does not exist.
      const elsewhere = await mkdtemp(path.join(dir, 'not-ingest-'));
      for (const [key, ingest, why] of [
        ['k/cli-elsewhere', elsewhere, /the agent did not take it \(NOT_FOUND: /],
        ['k/cli-missing', path.join(dir, 'missing'), /no copy could be made in .*missing/],
      ] as const) {
        const put = await ckc(['put', key, file, '--ingest-dir', ingest], { env });
        expect(put.code, put.stderr).to.equal(0);
        expect(put.stderr).to.match(why);
        expect(put.stderr).to.contain('streaming it instead');
        expect(put.stdout.toString()).to.match(/^stored: /);
      }
      expect(await readdir(elsewhere)).to.deep.equal([]);
      expect(await linkedIngests()).to.equal(1);
    });
  });
});
