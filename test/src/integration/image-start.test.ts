/**
 * The agent image's own install and start commands, outside a container (no engine runs here):
 * deploy/image/install.sh, which deploy/Dockerfile RUNs, makes a production-only install in a
 * clean temp folder; then the Dockerfile's ENTRYPOINT starts it with CKC_* settings against a
 * real Redis. It must serve (health SERVING, a write and a read) from that folder alone, and
 * exit 0 after draining on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { crc32c } from '@checkpoint-cache/checksum';
import { SERVICE_NAME } from '@checkpoint-cache/proto';
import { healthCheck } from '../helpers/health-check';
import { rawClient, readEntry, writeEntry } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';
import { waitUntil } from '../helpers/wait-until';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const DOCKERFILE = path.join(REPO_ROOT, 'deploy', 'Dockerfile');
const INSTALL_TIMEOUT_MS = 240_000;

// ---- what the Dockerfile says ---------------------------------------------------------------

interface ImageRecipe {
  /** The install script and its destination inside the image, from `RUN sh <script> <src> <dest>`. */
  installScript: string;
  imageAppDir: string;
  /** The final stage's ENTRYPOINT (exec form), ENV and WORKDIR. */
  entrypoint: string[];
  env: Record<string, string>;
  workdir: string;
}

/** Reads the few instructions this test replays; fails if the Dockerfile stops using them. */
async function readDockerfile(): Promise<ImageRecipe> {
  // Continuation lines joined, comments dropped.
  const lines = (await fs.readFile(DOCKERFILE, 'utf8'))
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const install = lines
    .map((l) => /^RUN\s+sh\s+(deploy\/image\/install\.sh)\s+(\S+)\s+(\S+)$/.exec(l))
    .find((m) => m !== null);
  if (!install) throw new Error('deploy/Dockerfile no longer RUNs sh deploy/image/install.sh');
  const finalStage = lines.slice(lines.map((l) => l.startsWith('FROM ')).lastIndexOf(true));
  const entrypointLine = finalStage.find((l) => l.startsWith('ENTRYPOINT '));
  const entrypoint = JSON.parse(entrypointLine?.slice('ENTRYPOINT '.length) ?? 'null') as unknown;
  if (!Array.isArray(entrypoint) || entrypoint.some((a) => typeof a !== 'string')) {
    throw new Error('the final stage needs an exec-form ENTRYPOINT ["...", ...]');
  }
  const env: Record<string, string> = {};
  for (const l of finalStage.filter((x) => x.startsWith('ENV '))) {
    for (const pair of l.slice('ENV '.length).trim().split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error(`write ENV as KEY=value: ${l}`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  const workdir = finalStage
    .filter((l) => l.startsWith('WORKDIR '))
    .pop()
    ?.slice(8)
    .trim();
  return {
    installScript: install[1] as string,
    imageAppDir: install[3] as string,
    entrypoint: entrypoint as string[],
    env,
    workdir: workdir ?? '/',
  };
}

async function isExecutable(file: string): Promise<boolean> {
  return fs.access(file, fsConstants.X_OK).then(
    () => true,
    () => false,
  );
}

// ---- processes ------------------------------------------------------------------------------

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Run {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (d: Buffer): void => {
    output += d.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      output += `\n${err.message}`;
      resolve({ code: null, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, output: () => output, exited };
}

/** JSON log records of the agent so far. */
function logRecords(agent: Run): Record<string, unknown>[] {
  return agent
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

// ---- health ---------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------

describe('agent image commands (deploy/Dockerfile), outside a container', function () {
  this.timeout(INSTALL_TIMEOUT_MS + 60_000);
  let recipe: ImageRecipe;
  let dir: string;
  let appDir: string;
  let redis: RedisServerHandle;
  let agent: Run | undefined;
  let installed = false;

  /** A path of the image, as it lies in this test's folder. */
  function local(imagePath: string): string {
    if (imagePath === recipe.imageAppDir) return appDir;
    if (imagePath.startsWith(`${recipe.imageAppDir}/`)) {
      return path.join(appDir, imagePath.slice(recipe.imageAppDir.length + 1));
    }
    return imagePath;
  }

  before(async function () {
    recipe = await readDockerfile();
    dir = await makeTempDir('ckc-image');
    appDir = path.join(dir, 'app');
    redis = await startRedisServer();
  });
  after(async function () {
    if (agent && agent.child.exitCode === null && agent.child.signalCode === null) {
      agent.child.kill('SIGKILL');
      await agent.exited;
    }
    await redis?.stop();
    if (dir) await removeTempDir(dir);
  });

  it('installs the production dependencies only, into a clean folder', async function () {
    const started = Date.now();
    // The repository is the build stage's /src: `npm ci && npm run build` have run (npm test
    // builds before mocha). The npm cache serves what it holds, as a Docker layer cache would.
    const install = run('sh', [path.join(REPO_ROOT, recipe.installScript), REPO_ROOT, appDir], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        npm_config_prefer_offline: 'true',
        npm_config_update_notifier: 'false',
      },
    });
    const timer = setTimeout(() => install.child.kill('SIGKILL'), INSTALL_TIMEOUT_MS);
    const { code } = await install.exited;
    clearTimeout(timer);
    expect(code, `install.sh failed:\n${install.output()}`).to.equal(0);
    installed = true;
    process.stdout.write(
      `      (install.sh took ${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
    );

    const modules = await fs.readdir(path.join(appDir, 'node_modules'));
    for (const dev of ['typescript', 'mocha', 'eslint', 'lerna', 'chai']) {
      expect(modules, 'development dependencies').not.to.include(dev);
    }
    const workspaces = await fs.readdir(path.join(appDir, 'node_modules', '@checkpoint-cache'));
    expect(workspaces).to.include('node-agent');
    expect(workspaces, 'packages the agent does not need').not.to.include.members(['test', 'demo']);
  });

  it('starts from the ENTRYPOINT, serves, and exits 0 after draining on SIGTERM', async function () {
    expect(installed, 'install.sh succeeded (the test above)').to.equal(true);
    const entrypoint = recipe.entrypoint.map(local);
    // tini is PID 1 in the image; where it is not installed, the rest of the entrypoint runs
    // directly (tini only forwards the signal).
    const [init] = entrypoint;
    if (init?.endsWith('/tini') && !(await isExecutable(init))) {
      process.stdout.write(`      (${init} is not installed here: running without it)\n`);
      entrypoint.splice(0, entrypoint[1] === '--' ? 2 : 1);
    }
    const [command, ...args] = entrypoint;
    expect(await isExecutable(command as string), `${command} is executable`).to.equal(true);

    const cacheDir = path.join(dir, 'cache');
    agent = run(command as string, args, {
      cwd: local(recipe.workdir),
      // Only what the image and the DaemonSet would give the process.
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: dir,
        ...recipe.env,
        CKC_LISTEN: '127.0.0.1:0',
        CKC_CACHE_DIR: cacheDir,
        CKC_REDIS_URL: redis.url,
        CKC_REDIS_PREFIX: `ckc-image-${process.pid}`,
        CKC_NODE_ID: 'image-start-test',
        CKC_SHUTDOWN_GRACE: '5s',
      },
    });
    const running = agent;
    let started: Record<string, unknown> | undefined;
    await waitUntil(
      () => {
        if (running.child.exitCode !== null) {
          throw new Error(`agent exited early:\n${running.output()}`);
        }
        started = logRecords(running).find((r) => r['message'] === 'node agent started');
        return started !== undefined;
      },
      { timeoutMs: 30_000, message: 'log record "node agent started"' },
    );
    const tcp = started?.['tcp'] as string;
    const socket = started?.['socket'] as string;
    expect(socket).to.equal(path.join(cacheDir, 'agent.sock'));

    // The agent runs from the installed folder, not from the repository.
    const cmdline = await fs.readFile(`/proc/${started?.['pid'] as number}/cmdline`, 'utf8');
    expect(cmdline.split('\0')).to.include(
      path.join(appDir, 'agents', 'node-agent', 'bin', 'ckc-agent.js'),
    );

    expect(await healthCheck(tcp)).to.equal('SERVING');
    expect(await healthCheck(`unix:${socket}`, SERVICE_NAME)).to.equal('SERVING');
    // The agent's --socket-mode default: the socket is for the agent's user and group only.
    expect(((await fs.lstat(socket)).mode & 0o777).toString(8)).to.equal('660');

    const client = rawClient(`unix:${socket}`);
    try {
      const data = randomBytes(300 * 1024);
      const key = 'hdfs://nn/flink/ckpt/image-start/chk-1/state';
      await writeEntry(
        client,
        { key, jobId: 'image-start', checkpointId: 1, size: data.length, crc32c: crc32c(data) },
        data,
      );
      expect((await readEntry(client, { key })).data.equals(data)).to.equal(true);
    } finally {
      client.close();
    }

    running.child.kill('SIGTERM');
    const { code, signal } = await running.exited;
    expect({ code, signal }, running.output()).to.deep.equal({ code: 0, signal: null });
    const messages = logRecords(running).map((r) => r['message']);
    expect(messages).to.include('signal received: shutting down');
    expect(messages).to.include('node agent stopped');
    const socketLeft = await fs.lstat(socket).then(
      () => true,
      () => false,
    );
    expect(socketLeft, 'socket removed').to.equal(false);
  });
});
