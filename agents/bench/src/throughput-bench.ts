/**
 * npm run bench: the agent against the machine's limits and its peers, side by side, on the same
 * data in one run. Sets up the data, the reference servers, the agent (a real ckc-agent child),
 * nginx, and the shaped link to a remote store; then runs every scenario once per round, rotating
 * their order so that the machine's noise hits all of them alike, and the memory scenario once.
 * Owns: what is measured and how it is named. Never: formatting (BenchReport) or undoing what it
 * set up (it registers every undo step with the CleanupStack as it goes).
 */
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { CheckpointCacheClient, type CheckpointCacheClientOptions } from '@checkpoint-cache/client';
import { AgentProcess } from './agent-process';
import { BenchData, type BenchFile } from './bench-data';
import type { BenchOptions, ScenarioGroup } from './bench-options';
import { BenchResults, type MetricSpec } from './bench-results';
import type { CleanupStack } from './cleanup-stack';
import { childPids, ownCpuSeconds, processCpuSeconds } from './cpu-time';
import { freePort } from './free-port';
import { ManagedChild } from './managed-child';
import { NGINX_INSTALL_HINT, NginxServer } from './nginx-server';
import {
  consume,
  megabytesPerSecond,
  openFile,
  openHttp,
  openSocket,
  runPool,
  timeFirstByte,
  timePread,
  timeTransfer,
  type Transfer,
} from './read-probes';
import type { ReferenceServerAddresses, ReferenceServerArgs } from './reference-server-main';
import { RAW_PIPE_READ_SIZE } from './raw-pipe-server';
import { RssSampler } from './rss-sampler';
import { percentile, seededRandom } from './sample-statistics';
import { ShapedLink } from './shaped-link';
import { ThrottledRangeServer } from './throttled-range-server';

const MB = 1e6;
/** The target for the agent's peak RSS in the memory scenario. */
const MEMORY_TARGET_MB = 200;
/** Port of the remote nginx inside the namespace (the namespace has nothing else). */
const REMOTE_PORT = 8080;

interface Scenario {
  group: ScenarioGroup;
  name: string;
  /** Runs once, records its metrics for `round`, returns a one-line summary. */
  run(round: number): Promise<string>;
}

export interface BenchSetup {
  dataDir: string;
  largeFileBytes: number;
  checkpointFiles: number;
  checkpointFileBytes: number;
  seedSeconds: number;
  remote: string;
  nginxVersion?: string;
}

export interface ThroughputRun {
  results: BenchResults;
  setup: BenchSetup;
}

export class ThroughputBench {
  private readonly results = new BenchResults();
  private root = '';
  private data!: BenchData;
  private reference: ReferenceServerAddresses | undefined;
  private referencePid: number | undefined;
  private nginxPid: number | undefined;
  private agent: AgentProcess | undefined;
  private tcpClient: CheckpointCacheClient | undefined;
  private unixClient: CheckpointCacheClient | undefined;
  private constantClient: CheckpointCacheClient | undefined;
  /** A client with the same-node short circuit on (Lease + direct verified file read). */
  private directClient: CheckpointCacheClient | undefined;
  private nginxUrl: string | undefined;
  private nginxVersion: string | undefined;
  private remoteUrl: string | undefined;
  private remoteDescription = 'none';
  private seedSeconds = 0;
  /** The agent's RSS right after start-up, before seeding. */
  private agentStartRss = 0;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  constructor(
    private readonly options: BenchOptions,
    private readonly cleanup: CleanupStack,
    private readonly say: (line: string) => void,
  ) {
    this.cleanup.push('http agent', () => this.httpAgent.destroy());
  }

  private wants(group: ScenarioGroup): boolean {
    return this.options.only.has(group);
  }

  async run(): Promise<ThroughputRun> {
    const os = await import('node:os');
    const loadAtStart = os.loadavg()[0] ?? 0;
    await this.setUp();
    this.defineMetrics();
    const scenarios = this.scenarios();
    await this.warmUp();
    for (let round = 0; round < this.options.repeats; round++) {
      const start = round % Math.max(1, scenarios.length);
      const order = [...scenarios.slice(start), ...scenarios.slice(0, start)];
      for (const scenario of order) {
        const summary = await scenario.run(round);
        this.say(`  round ${round + 1}/${this.options.repeats}  ${scenario.name}: ${summary}`);
      }
    }
    if (this.wants('memory')) this.say(`  memory: ${await this.memoryScenario()}`);
    this.results.notes.push(
      `the machine is shared: 1-minute load average ${loadAtStart.toFixed(2)} at the start and ` +
        `${(os.loadavg()[0] ?? 0).toFixed(2)} at the end, on ${os.cpus().length} cores; compare ` +
        'ratios, not absolute MB/s, between runs',
    );
    return {
      results: this.results,
      setup: {
        dataDir: this.data.dir,
        largeFileBytes: this.data.large.size,
        checkpointFiles: this.data.checkpoint.length,
        checkpointFileBytes: this.options.fileSize,
        seedSeconds: this.seedSeconds,
        remote: this.remoteDescription,
        ...(this.nginxVersion ? { nginxVersion: this.nginxVersion } : {}),
      },
    };
  }

  // ---- setting up --------------------------------------------------------------------------

  private async setUp(): Promise<void> {
    const os = await import('node:os');
    this.root = await fs.mkdtemp(path.join(os.tmpdir(), 'ckc-bench-'));
    // nginx workers drop root for "nobody": they must be able to reach the data.
    await fs.chmod(this.root, 0o755);
    if (this.options.keep) this.say(`temp dir (kept): ${this.root}`);
    else this.cleanup.push('temp dir', () => fs.rm(this.root, { recursive: true, force: true }));

    const o = this.options;
    this.say(
      `writing data: ${fmtBytes(o.size)} file + ${o.files} x ${fmtBytes(o.fileSize)} checkpoint`,
    );
    this.data = await BenchData.create(path.join(this.root, 'data'), o);

    if (this.wants('limits') || this.wants('agent') || this.wants('range')) {
      await this.startReferenceServer();
    }
    const needsAgent = ['agent', 'range', 'concurrency', 'recovery', 'memory'].some((g) =>
      this.wants(g as ScenarioGroup),
    );
    if (needsAgent) await this.startAgent();
    const nginx = await NginxServer.find();
    if (nginx) this.nginxVersion = await NginxServer.version(nginx);
    if (this.wants('nginx') || this.wants('range') || this.wants('concurrency')) {
      if (nginx) await this.startLocalNginx(nginx);
      else
        this.results.notes.push(`nginx not found: its figures are missing (${NGINX_INSTALL_HINT})`);
    }
    if (this.wants('recovery')) await this.startRemote(nginx);
  }

  private async startReferenceServer(): Promise<void> {
    const args: ReferenceServerArgs = {
      file: this.data.large.path,
      unixPath: path.join(this.root, 'raw.sock'),
      constantSizes: { [this.data.large.key]: this.data.large.size },
    };
    const child = ManagedChild.spawn({
      name: 'reference server',
      command: process.execPath,
      args: [path.join(__dirname, 'reference-server-main.js'), JSON.stringify(args)],
    });
    this.cleanup.push('reference server', () => child.stop());
    this.referencePid = child.pid;
    this.reference = await child.waitForLine((line) => {
      if (!line.startsWith('{"ready"')) return undefined;
      return (JSON.parse(line) as { ready: ReferenceServerAddresses }).ready;
    }, 30_000);
    this.constantClient = new CheckpointCacheClient({ agent: this.reference.grpc });
    const client = this.constantClient;
    this.cleanup.push('constant client', () => client.close());
  }

  private async startAgent(): Promise<void> {
    const dir = path.join(this.root, 'agent');
    this.agent = await AgentProcess.start({
      cacheDir: path.join(dir, 'cache'),
      socketPath: path.join(dir, 'agent.sock'),
    });
    const agent = this.agent;
    this.cleanup.push('agent', () => agent.stop());
    this.agentStartRss = await new RssSampler(agent.pid).current();
    this.tcpClient = new CheckpointCacheClient({ agent: agent.tcpAddress });
    this.unixClient = new CheckpointCacheClient({ agent: agent.unixAddress });
    // Cast: the option is new; without it the client streams and the figure is left out.
    this.directClient = new CheckpointCacheClient({
      agent: agent.unixAddress,
      shortCircuit: true,
    } as CheckpointCacheClientOptions);
    const clients = [this.tcpClient, this.unixClient, this.directClient];
    this.cleanup.push('agent clients', () => clients.forEach((c) => c.close()));

    this.say(`seeding the agent (pid ${agent.pid}) over its Unix socket`);
    const started = performance.now();
    for (const f of this.data.all) {
      await this.unixClient.write(f.key, openFile(f.path, 1024 * 1024), {
        jobId: 'bench',
        checkpointId: 1,
        size: f.size,
      });
    }
    this.seedSeconds = (performance.now() - started) / 1000;
  }

  private async startLocalNginx(executable: string): Promise<void> {
    const port = await freePort();
    const server = await NginxServer.start(executable, {
      root: this.data.dir,
      dir: path.join(this.root, 'nginx-local'),
      host: '127.0.0.1',
      port,
    });
    this.cleanup.push('nginx', () => server.stop());
    this.nginxUrl = server.url;
    this.nginxPid = server.pid;
  }

  private async startRemote(nginx: string | undefined): Promise<void> {
    const rate = this.options.linkBitsPerSecond;
    let whyNot: string;
    if (!nginx) {
      whyNot = `nginx not found (${NGINX_INSTALL_HINT})`;
    } else {
      try {
        const link = await ShapedLink.create(rate);
        this.cleanup.push('shaped link (network namespace)', () => link.remove());
        const server = await NginxServer.start(nginx, {
          root: this.data.dir,
          dir: path.join(this.root, 'nginx-remote'),
          host: link.remoteAddress,
          port: REMOTE_PORT,
          netns: link.namespace,
        });
        this.cleanup.push('remote nginx', () => server.stop());
        this.remoteUrl = server.url;
        this.remoteDescription =
          `nginx in network namespace ${link.namespace} at ${link.remoteAddress}, ` +
          `veth ${link.hostAddress}/30 <-> ${link.remoteAddress}/30, ` +
          `tc tbf ${rate / 1e6} Mbit/s both ways`;
        return;
      } catch (err) {
        whyNot = `network namespace not available (${(err as Error).message.split('\n')[0]})`;
      }
    }
    const files = new Map(this.data.all.map((f) => [f.name, { path: f.path, size: f.size }]));
    const server = new ThrottledRangeServer(files, rate);
    this.remoteUrl = await server.listen();
    this.cleanup.push('throttled remote', () => server.close());
    this.remoteDescription = `FALLBACK: in-process token-bucket HTTP server on loopback at ${rate / 1e6} Mbit/s`;
    this.results.notes.push(
      `recovery used a FALLBACK remote: ${whyNot}; an in-process token-bucket HTTP server on ` +
        'loopback stands in for the shaped link (it shares the client process and core).',
    );
  }

  private async warmUp(): Promise<void> {
    this.say('warming up (JIT, connections, page cache)');
    const first = this.data.checkpoint[0] as BenchFile;
    const length = Math.min(first.size, this.data.large.size);
    if (this.tcpClient) await consume(this.tcpClient.read(first.key));
    if (this.unixClient) await consume(this.unixClient.read(first.key));
    if (this.constantClient) {
      await consume(this.constantClient.read(this.data.large.key, { length }));
    }
    if (this.nginxUrl) {
      await consume(await openHttp(`${this.nginxUrl}/${first.name}`, { agent: this.httpAgent }));
    }
    for (const f of this.data.all) await consume(openFile(f.path, RAW_PIPE_READ_SIZE));
    if (this.wants('range')) await this.rangeScenario(-1, 50);
  }

  // ---- the catalogue -----------------------------------------------------------------------

  private defineMetrics(): void {
    const o = this.options;
    const define = (spec: MetricSpec): void => this.results.define(spec);
    const LIMITS = 'Limits';
    const STREAM = `One ${fmtBytes(o.size)} file, one stream`;
    define({ id: 'file', section: LIMITS, label: 'file read, fs.createReadStream (256 KiB) → nothing', unit: 'MB/s', kind: 'limit', chart: true });
    define({ id: 'tcp', section: LIMITS, label: 'raw loopback TCP pipe, file → socket → nothing', unit: 'MB/s', kind: 'limit', chart: true, ratios: [{ to: 'file', name: 'file read' }] });
    define({ id: 'unix', section: LIMITS, label: 'raw Unix socket pipe, file → socket → nothing', unit: 'MB/s', kind: 'limit', chart: true, ratios: [{ to: 'file', name: 'file read' }, { to: 'tcp', name: 'raw TCP' }] });
    define({ id: 'nginx', section: STREAM, label: `nginx ${this.nginxVersion ?? ''} (sendfile, 1 worker) → Node http.get`, unit: 'MB/s', kind: 'peer', chart: true, ratios: [{ to: 'tcp', name: 'raw TCP' }] });
    define({ id: 'constant.tcp', section: STREAM, label: 'grpc-js constant server → client stub, TCP', unit: 'MB/s', kind: 'framework', chart: true, ratios: [{ to: 'tcp', name: 'raw TCP' }, { to: 'nginx', name: 'nginx' }] });
    define({ id: 'agent.tcp', section: STREAM, label: 'agent → client stub, TCP', unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: 'tcp', name: 'raw TCP' }, { to: 'nginx', name: 'nginx' }, { to: 'constant.tcp', name: 'grpc-js constant' }] });
    define({ id: 'agent.direct', section: STREAM, label: 'agent, same-node short circuit (client shortCircuit: Lease, then the file read and verified directly)', chartLabel: 'agent, same-node short circuit (client option)', unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: 'file', name: 'file read' }, { to: 'agent.unix', name: 'agent Unix' }] });
    define({ id: 'agent.unix', section: STREAM, label: 'agent → client stub, Unix socket', unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: 'unix', name: 'raw Unix' }, { to: 'nginx', name: 'nginx' }, { to: 'agent.tcp', name: 'agent TCP' }] });

    const CPU = 'CPU seconds per GB moved, one stream (steadier than MB/s on a busy machine)';
    define({ id: 'cpu.server.tcp', section: CPU, label: 'sender: raw TCP pipe', unit: 'CPU s/GB', kind: 'limit' });
    define({ id: 'cpu.server.unix', section: CPU, label: 'sender: raw Unix pipe', unit: 'CPU s/GB', kind: 'limit' });
    define({ id: 'cpu.server.nginx', section: CPU, label: 'sender: nginx worker (sendfile)', unit: 'CPU s/GB', kind: 'peer', ratios: [{ to: 'cpu.server.tcp', name: 'raw TCP sender' }] });
    define({ id: 'cpu.server.constant.tcp', section: CPU, label: 'sender: grpc-js constant server', unit: 'CPU s/GB', kind: 'framework', ratios: [{ to: 'cpu.server.tcp', name: 'raw TCP sender' }] });
    define({ id: 'cpu.server.agent.tcp', section: CPU, label: 'sender: agent, TCP', unit: 'CPU s/GB', kind: 'agent', ratios: [{ to: 'cpu.server.tcp', name: 'raw TCP sender' }, { to: 'cpu.server.constant.tcp', name: 'grpc-js constant' }] });
    define({ id: 'cpu.server.agent.unix', section: CPU, label: 'sender: agent, Unix socket', unit: 'CPU s/GB', kind: 'agent', ratios: [{ to: 'cpu.server.unix', name: 'raw Unix sender' }, { to: 'cpu.server.agent.tcp', name: 'agent TCP' }] });
    define({ id: 'cpu.client.tcp', section: CPU, label: 'reader: raw TCP socket', unit: 'CPU s/GB', kind: 'limit' });
    define({ id: 'cpu.client.nginx', section: CPU, label: 'reader: Node http.get from nginx', unit: 'CPU s/GB', kind: 'peer', ratios: [{ to: 'cpu.client.tcp', name: 'raw TCP reader' }] });
    define({ id: 'cpu.client.constant.tcp', section: CPU, label: 'reader: client stub from grpc-js constant', unit: 'CPU s/GB', kind: 'framework', ratios: [{ to: 'cpu.client.tcp', name: 'raw TCP reader' }] });
    define({ id: 'cpu.client.agent.tcp', section: CPU, label: 'reader: client stub from agent, TCP', unit: 'CPU s/GB', kind: 'agent', ratios: [{ to: 'cpu.client.tcp', name: 'raw TCP reader' }, { to: 'cpu.client.constant.tcp', name: 'grpc-js constant' }] });
    define({ id: 'cpu.client.agent.unix', section: CPU, label: 'reader: client stub from agent, Unix socket', unit: 'CPU s/GB', kind: 'agent', ratios: [{ to: 'cpu.client.agent.tcp', name: 'agent TCP' }] });

    const RANGE = `Small range reads: ${fmtBytes(o.rangeSize)} at random offsets, one at a time, time to first byte`;
    for (const p of ['p50', 'p99'] as const) {
      define({ id: `range.fs.${p}`, section: RANGE, label: `pread (page cache) ${p}`, unit: 'ms', kind: 'limit' });
      define({ id: `range.nginx.${p}`, section: RANGE, label: `nginx Range GET, keep-alive ${p}`, unit: 'ms', kind: 'peer', ratios: [{ to: `range.fs.${p}`, name: 'pread' }] });
      define({ id: `range.constant.${p}`, section: RANGE, label: `grpc-js constant server → client stub ${p}`, unit: 'ms', kind: 'framework', ratios: [{ to: `range.nginx.${p}`, name: 'nginx' }] });
      define({ id: `range.agent.${p}`, section: RANGE, label: `agent → client stub, TCP ${p}`, unit: 'ms', kind: 'agent', ratios: [{ to: `range.nginx.${p}`, name: 'nginx' }, { to: `range.constant.${p}`, name: 'grpc-js constant' }] });
    }

    const CONC = `Concurrent streams over the ${o.files} x ${fmtBytes(o.fileSize)} checkpoint, aggregate`;
    for (const n of o.streams) {
      define({ id: `conc.nginx.${n}`, section: CONC, label: `nginx, ${n} stream${n > 1 ? 's' : ''} (keep-alive pool)`, unit: 'MB/s', kind: 'peer', chart: true, ratios: [{ to: 'tcp', name: 'raw TCP (1 stream)' }] });
      define({ id: `conc.agent.${n}`, section: CONC, label: `agent, ${n} stream${n > 1 ? 's' : ''} (one client channel, TCP)`, unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: `conc.nginx.${n}`, name: `nginx ${n}` }, { to: 'tcp', name: 'raw TCP (1 stream)' }, ...(n > 1 ? [{ to: `conc.agent.${o.streams[0]}`, name: `agent ${o.streams[0]}` }] : [])] });
    }

    const REC = `Recovery: restore the ${o.files}-file checkpoint (${fmtBytes(this.data.checkpointBytes)}), ${o.restoreParallelism} files at a time, client stub over the Unix socket`;
    define({ id: 'link', section: REC, label: `link to the remote store (${this.remoteDescription.startsWith('FALLBACK') ? 'token bucket, FALLBACK' : 'tc tbf on veth'})`, unit: 'MB/s', kind: 'limit', note: 'configured', chart: true });
    define({ id: 'restore.remote.mbps', section: REC, label: 'restore from remote (cache miss → HTTP Range reads)', unit: 'MB/s', kind: 'peer', chart: true, ratios: [{ to: 'link', name: 'link rate' }] });
    define({ id: 'restore.cache.mbps', section: REC, label: 'restore from the cache', unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: 'restore.remote.mbps', name: 'remote' }, { to: 'conc.agent.' + o.restoreParallelism, name: `agent ${o.restoreParallelism} streams` }] });
    define({ id: 'restore.direct.mbps', section: REC, label: 'restore from the cache, same-node short circuit (client shortCircuit)', chartLabel: 'restore from the cache, short circuit', unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: 'restore.remote.mbps', name: 'remote' }, { to: 'restore.cache.mbps', name: 'streamed' }] });
    define({ id: 'restore.remote.s', section: REC, label: 'restore from remote, time', unit: 's', kind: 'peer' });
    define({ id: 'restore.cache.s', section: REC, label: 'restore from the cache, time', unit: 's', kind: 'agent', ratios: [{ to: 'restore.remote.s', name: 'remote', asSpeedup: true }] });
    define({ id: 'restore.direct.s', section: REC, label: 'restore from the cache, short circuit, time', unit: 's', kind: 'agent', ratios: [{ to: 'restore.remote.s', name: 'remote', asSpeedup: true }] });
    define({ id: 'restore.remote.fromRemote', section: REC, label: 'restore from remote: bytes pulled from remote', unit: 'MB', kind: 'peer' });
    define({ id: 'restore.cache.fromRemote', section: REC, label: 'restore from the cache: bytes pulled from remote', unit: 'MB', kind: 'agent', ratios: [{ to: 'restore.remote.fromRemote', name: 'remote restore' }] });
    define({ id: 'restore.direct.fromRemote', section: REC, label: 'restore from the cache, short circuit: bytes pulled from remote', unit: 'MB', kind: 'agent', ratios: [{ to: 'restore.remote.fromRemote', name: 'remote restore' }] });

    const MEM = `Agent memory: ${o.memoryStreams} concurrent ${fmtBytes(o.size)} streams, each reader taking ${fmtBytes(o.memoryReaderBytesPerSecond)}/s, ${o.memorySeconds} s, one channel each`;
    define({ id: 'memory.target', section: MEM, label: 'target (issue 4)', unit: 'MB', kind: 'limit', note: 'configured' });
    define({ id: 'memory.start', section: MEM, label: 'agent RSS after start-up (before seeding)', unit: 'MB', kind: 'agent', ratios: [{ to: 'memory.target', name: 'target' }] });
    define({ id: 'memory.afterWrites', section: MEM, label: `agent RSS right after seeding (${fmtBytes(o.size + this.data.checkpointBytes)} through Write)`, unit: 'MB', kind: 'agent', ratios: [{ to: 'memory.target', name: 'target' }, { to: 'memory.start', name: 'start-up' }] });
    define({ id: 'memory.idle', section: MEM, label: 'agent restarted on the same cache: RSS before the readers', unit: 'MB', kind: 'agent', ratios: [{ to: 'memory.target', name: 'target' }] });
    define({ id: 'memory.peak', section: MEM, label: 'agent peak RSS while serving the readers (VmHWM reset before)', unit: 'MB', kind: 'agent', ratios: [{ to: 'memory.target', name: 'target' }, { to: 'memory.idle', name: 'idle' }] });
  } // prettier-ignore

  private scenarios(): Scenario[] {
    const list: Scenario[] = [];
    const o = this.options;
    const large = this.data.large;
    const ref = this.reference;
    if (this.wants('limits') && ref) {
      list.push({
        group: 'limits',
        name: 'limits',
        run: async (round) => {
          const file = await this.transfer('file', round, large.size, () =>
            openFile(large.path, RAW_PIPE_READ_SIZE),
          );
          const pids = this.referencePid === undefined ? [] : [this.referencePid];
          const tcp = await this.transfer(
            'tcp',
            round,
            large.size,
            () => openSocket(ref.tcp),
            pids,
          );
          const unix = await this.transfer(
            'unix',
            round,
            large.size,
            () => openSocket(ref.unix),
            pids,
          );
          return `file ${file}, TCP ${tcp}, Unix ${unix} MB/s`;
        },
      });
    }
    const nginxUrl = this.nginxUrl;
    if (this.wants('nginx') && nginxUrl) {
      list.push({
        group: 'nginx',
        name: 'nginx',
        run: async (round) => {
          const workers = this.nginxPid === undefined ? [] : await childPids(this.nginxPid);
          const mbps = await this.transfer(
            'nginx',
            round,
            large.size,
            () => openHttp(`${nginxUrl}/${large.name}`, { agent: this.httpAgent }),
            workers,
          );
          return `${mbps} MB/s`;
        },
      });
    }
    const { tcpClient, unixClient, constantClient } = this;
    if (this.wants('agent') && tcpClient && unixClient) {
      list.push({
        group: 'agent',
        name: 'agent',
        run: async (round) => {
          const parts: string[] = [];
          if (constantClient) {
            const c = await this.transfer(
              'constant.tcp',
              round,
              large.size,
              () => constantClient.read(large.key),
              this.referencePid === undefined ? [] : [this.referencePid],
            );
            parts.push(`grpc-js constant ${c}`);
          }
          const agentPid = [(this.agent as AgentProcess).pid];
          const t = await this.transfer(
            'agent.tcp',
            round,
            large.size,
            () => tcpClient.read(large.key),
            agentPid,
          );
          const u = await this.transfer(
            'agent.unix',
            round,
            large.size,
            () => unixClient.read(large.key),
            agentPid,
          );
          parts.push(`agent TCP ${t}`, `agent Unix ${u}`);
          const direct = this.directClient;
          if (direct) {
            const shortCircuited = (): number =>
              (direct.stats() as { bytesShortCircuit?: number }).bytesShortCircuit ?? 0;
            const before = shortCircuited();
            const d = await this.transfer('agent.direct', round, large.size, () =>
              direct.read(large.key),
            );
            if (shortCircuited() - before === large.size) {
              parts.push(`agent short circuit ${d}`);
            } else {
              this.results.forget('agent.direct', round);
              this.results.notes.push(
                `round ${round + 1}: the client's short circuit did not serve the whole read ` +
                  '(option missing or lease refused); its figure is left out',
              );
            }
          }
          return `${parts.join(', ')} MB/s`;
        },
      });
    }
    if (this.wants('range') && tcpClient) {
      list.push({
        group: 'range',
        name: 'range reads',
        run: (round) => this.rangeScenario(round, o.rangeReads),
      });
    }
    if (this.wants('concurrency') && tcpClient) {
      for (const n of o.streams) {
        list.push({
          group: 'concurrency',
          name: `${n} streams`,
          run: (round) => this.concurrencyScenario(round, n),
        });
      }
    }
    if (this.wants('recovery') && unixClient && this.directClient && this.remoteUrl) {
      this.results.record('link', 0, o.linkBitsPerSecond / 8 / MB);
      list.push({ group: 'recovery', name: 'recovery', run: (r) => this.recoveryScenario(r) });
    }
    return list;
  }

  // ---- scenarios ---------------------------------------------------------------------------

  /**
   * Times one full read, checks its length, records MB/s and, when `senderPids` are given, the
   * CPU seconds per GB of the sender and of this (the reading) process; returns MB/s formatted.
   */
  private async transfer(
    id: string,
    round: number,
    expectedBytes: number,
    open: () => Readable | Promise<Readable>,
    senderPids: readonly number[] = [],
  ): Promise<string> {
    const cpu = async (): Promise<number> =>
      (await Promise.all(senderPids.map((pid) => processCpuSeconds(pid).catch(() => 0)))).reduce(
        (a, b) => a + b,
        0,
      );
    const senderBefore = await cpu();
    const readerBefore = ownCpuSeconds();
    const t: Transfer = await timeTransfer(open);
    const readerCpu = ownCpuSeconds() - readerBefore;
    const senderCpu = (await cpu()) - senderBefore;
    if (t.bytes !== expectedBytes) {
      throw new Error(`${id}: read ${t.bytes} bytes, expected ${expectedBytes}`);
    }
    const mbps = megabytesPerSecond(t);
    if (round >= 0) {
      this.results.record(id, round, mbps);
      const gb = t.bytes / 1e9;
      if (senderPids.length > 0 && this.results.isDefined(`cpu.server.${id}`)) {
        this.results.record(`cpu.server.${id}`, round, senderCpu / gb);
      }
      if (this.results.isDefined(`cpu.client.${id}`)) {
        this.results.record(`cpu.client.${id}`, round, readerCpu / gb);
      }
    }
    return mbps.toFixed(0);
  }

  private async rangeScenario(round: number, reads: number): Promise<string> {
    const large = this.data.large;
    const size = Math.min(this.options.rangeSize, large.size);
    const random = seededRandom(1000 + round);
    const offsets = Array.from({ length: reads }, () =>
      Math.floor(random() * (large.size - size + 1)),
    );
    const lat: Record<'fs' | 'nginx' | 'constant' | 'agent', number[]> = {
      fs: [],
      nginx: [],
      constant: [],
      agent: [],
    };
    const handle = await fs.open(large.path, 'r');
    const buffer = Buffer.allocUnsafe(size);
    const nginxAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const offset of offsets) {
        const range = { offset, length: size };
        lat.fs.push(await timePread(handle, buffer, offset, size));
        if (this.nginxUrl) {
          const url = `${this.nginxUrl}/${large.name}`;
          lat.nginx.push(await timeFirstByte(() => openHttp(url, { agent: nginxAgent, range })));
        }
        const constant = this.constantClient;
        if (constant) lat.constant.push(await timeFirstByte(() => constant.read(large.key, range)));
        const client = this.tcpClient as CheckpointCacheClient;
        lat.agent.push(await timeFirstByte(() => client.read(large.key, range)));
      }
    } finally {
      await handle.close();
      nginxAgent.destroy();
    }
    const parts: string[] = [];
    for (const [name, values] of Object.entries(lat)) {
      if (values.length === 0) continue;
      const p50 = percentile(values, 50);
      const p99 = percentile(values, 99);
      if (round >= 0) {
        this.results.record(`range.${name}.p50`, round, p50);
        this.results.record(`range.${name}.p99`, round, p99);
      }
      parts.push(`${name} ${p50.toFixed(3)}/${p99.toFixed(3)}`);
    }
    return `p50/p99 ms: ${parts.join(', ')}`;
  }

  private async concurrencyScenario(round: number, streams: number): Promise<string> {
    // At least as many reads as streams, so that every stream has work.
    const files: BenchFile[] = [];
    while (files.length < streams || files.length < this.data.checkpoint.length) {
      files.push(...this.data.checkpoint);
    }
    const total = files.reduce((sum, f) => sum + f.size, 0);
    const client = this.tcpClient as CheckpointCacheClient;
    const runs: [string, (f: BenchFile) => Promise<number>][] = [
      [`conc.agent.${streams}`, (f) => consume(client.read(f.key))],
    ];
    const nginxUrl = this.nginxUrl;
    if (nginxUrl) {
      runs.push([
        `conc.nginx.${streams}`,
        async (f) => consume(await openHttp(`${nginxUrl}/${f.name}`, { agent: this.httpAgent })),
      ]);
    }
    if (round % 2 === 1) runs.reverse();
    const parts: string[] = [];
    for (const [id, read] of runs) {
      const started = performance.now();
      let bytes = 0;
      await runPool(files, streams, async (f) => {
        const n = await read(f);
        bytes += n;
      });
      if (bytes !== total) throw new Error(`${id}: read ${bytes} bytes, expected ${total}`);
      const mbps = total / MB / ((performance.now() - started) / 1000);
      this.results.record(id, round, mbps);
      parts.push(`${id.split('.')[1]} ${mbps.toFixed(0)}`);
    }
    return `${parts.join(', ')} MB/s`;
  }

  private async recoveryScenario(round: number): Promise<string> {
    const client = this.unixClient as CheckpointCacheClient;
    const remoteUrl = this.remoteUrl as string;
    const ckpt = this.data.checkpoint;
    const total = this.data.checkpointBytes;
    const restore = async (which: 'remote' | 'cache' | 'direct'): Promise<string> => {
      const reader = which === 'direct' ? (this.directClient as CheckpointCacheClient) : client;
      const shortCircuited = (): number =>
        (reader.stats() as { bytesShortCircuit?: number }).bytesShortCircuit ?? 0;
      const before = reader.stats();
      const directBefore = shortCircuited();
      const started = performance.now();
      let bytes = 0;
      await runPool(ckpt, this.options.restoreParallelism, async (f) => {
        // A cold node: keys it never cached, so every read misses and continues from the remote.
        const key = which === 'remote' ? `bench/never-cached/${f.name}` : f.key;
        const n = await consume(reader.read(key, { remote: `${remoteUrl}/${f.name}` }));
        bytes += n;
      });
      const seconds = (performance.now() - started) / 1000;
      if (bytes !== total) throw new Error(`restore ${which}: ${bytes} bytes, expected ${total}`);
      const fromRemote = reader.stats().bytesFromRemote - before.bytesFromRemote;
      if (which === 'direct' && shortCircuited() - directBefore !== total) {
        this.results.notes.push(
          `round ${round + 1}: the short-circuit restore did not read every byte directly; ` +
            'its figures are left out',
        );
        return 'direct: not short-circuited';
      }
      this.results.record(`restore.${which}.s`, round, seconds);
      this.results.record(`restore.${which}.mbps`, round, total / MB / seconds);
      this.results.record(`restore.${which}.fromRemote`, round, fromRemote / MB);
      return `${which} ${seconds.toFixed(2)} s (${(fromRemote / MB).toFixed(0)} MB from remote)`;
    };
    const kinds = ['remote', 'cache', 'direct'] as const;
    const order = [...kinds.slice(round % 3), ...kinds.slice(0, round % 3)];
    const parts: string[] = [];
    for (const which of order) parts.push(await restore(which));
    return parts.join(', ');
  }

  private async memoryScenario(): Promise<string> {
    const o = this.options;
    const seeded = this.agent as AgentProcess;
    // The writes of the whole data set leave their own high-water mark; the scenario is about
    // serving reads, so it runs on a freshly started agent over the same cache dir.
    const afterWrites = await new RssSampler(seeded.pid).current();
    await seeded.stop();
    const dir = path.join(this.root, 'agent');
    const agent = await AgentProcess.start({
      cacheDir: path.join(dir, 'cache'),
      socketPath: path.join(dir, 'agent.sock'),
    });
    this.cleanup.push('agent (restarted for the memory scenario)', () => agent.stop());
    const sampler = new RssSampler(agent.pid);
    // One channel per reader: several TaskManagers on the node, each with its own flow-control
    // windows, is the worst case for what the agent holds.
    const clients = Array.from(
      { length: o.memoryStreams },
      () => new CheckpointCacheClient({ agent: agent.tcpAddress }),
    );
    try {
      // The restarted agent finds its entries on disk; wait until it serves the file again.
      await consume(clients[0]!.read(this.data.large.key, { length: 1 }));
      const idle = await sampler.current();
      await sampler.start();
      const delivered = await Promise.all(
        clients.map((c) =>
          slowRead(c, this.data.large.key, o.memoryReaderBytesPerSecond, o.memorySeconds * 1000),
        ),
      );
      const reading = await sampler.stop();
      const peak = Math.max(reading.kernelPeak, reading.sampledPeak);
      this.results.record('memory.target', 0, MEMORY_TARGET_MB);
      this.results.record('memory.start', 0, this.agentStartRss / MB);
      this.results.record('memory.afterWrites', 0, afterWrites / MB);
      this.results.record('memory.idle', 0, idle / MB);
      this.results.record('memory.peak', 0, peak / MB);
      if (!reading.peakReset) {
        this.results.notes.push(
          'memory: VmHWM could not be reset (no permission on /proc/<pid>/clear_refs); the peak ' +
            'is the largest sampled VmRSS (every 50 ms) or VmHWM since start, whichever is larger',
        );
      }
      const rate = delivered.reduce((a, b) => a + b, 0) / MB / o.memorySeconds;
      return (
        `after writes ${(afterWrites / MB).toFixed(0)} MB; restarted: idle ${(idle / MB).toFixed(0)} MB, ` +
        `peak ${(peak / MB).toFixed(0)} MB (VmHWM ${(reading.kernelPeak / MB).toFixed(0)}, ` +
        `sampled ${(reading.sampledPeak / MB).toFixed(0)}), readers took ${rate.toFixed(0)} MB/s in all`
      );
    } finally {
      for (const c of clients) c.close();
    }
  }
}

/** Reads `key` no faster than `bytesPerSecond` for `durationMs`, then cancels; returns bytes. */
function slowRead(
  client: CheckpointCacheClient,
  key: string,
  bytesPerSecond: number,
  durationMs: number,
): Promise<number> {
  const stream = client.read(key);
  const started = performance.now();
  let bytes = 0;
  return new Promise((resolve, reject) => {
    const stop = (): void => {
      clearTimeout(timer);
      stream.destroy();
      resolve(bytes);
    };
    const timer = setTimeout(stop, durationMs);
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      const aheadMs = (bytes / bytesPerSecond) * 1000 - (performance.now() - started);
      if (aheadMs > 2) {
        stream.pause();
        setTimeout(() => stream.resume(), aheadMs);
      }
    });
    stream.on('end', stop);
    stream.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  return `${v}${units[i]}`;
}
