/**
 * npm run bench: the agent against the machine's limits and its peers, side by side, on the same
 * data in one run. Sets up the data, the reference servers, the agent (a real ckc-agent child),
 * nginx, and the shaped link to a remote store; then runs every scenario once per round, rotating
 * their order so that the machine's noise hits all of them alike, and the memory scenario once.
 * Owns: setting up what the scenarios share, and the round loop; the limits and agent stream
 * rounds (the rest are in client-scenarios, java-scenario, write-scenario, memory-scenario; the
 * catalogue of ids and ratios in metric-catalogue). Never: formatting (BenchReport) or undoing
 * what it set up (it registers every undo step with the CleanupStack as it goes).
 * (Over 400 lines: the set-up of every server, client and JVM the scenarios share, in one place.)
 */
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { CheckpointCacheClient, type CheckpointCacheClientOptions } from '@checkpoint-cache/client';
import { AgentProcess } from './agent-process';
import { BenchData, type BenchFile } from './bench-data';
import type { BenchOptions, ScenarioGroup } from './bench-options';
import { BenchResults } from './bench-results';
import type { CleanupStack } from './cleanup-stack';
import { childPids, ownCpuSeconds, processCpuSeconds } from './cpu-time';
import { freePort } from './free-port';
import { JAVA_READS, JavaReadProcess } from './java-read-process';
import { javaScenario } from './java-scenario';
import { writeScenario } from './write-scenario';
import {
  concurrencyScenario,
  rangeScenario,
  recoveryScenario,
  type ClientScenarioContext,
} from './client-scenarios';
import { ManagedChild } from './managed-child';
import { memoryScenario } from './memory-scenario';
import { defineMetrics, fmtBytes } from './metric-catalogue';
import { ddRead, iperf3Loopback, iperf3Missing } from './native-limits';
import { NGINX_INSTALL_HINT, NginxServer } from './nginx-server';
import {
  consume,
  megabytesPerSecond,
  openFile,
  openHttp,
  openSocket,
  timeTransfer,
  type Transfer,
} from './read-probes';
import type { ReferenceServerAddresses, ReferenceServerArgs } from './reference-server-main';
import { RAW_PIPE_READ_SIZE, RAW_PIPE_READ_SIZES, type RawPipeReadSize } from './raw-pipe-server';
import { RssSampler } from './rss-sampler';
import { ShapedLink } from './shaped-link';
import { ThrottledRangeServer } from './throttled-range-server';

const MB = 1e6;
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
  /** The JVM reading through the Java client (group java), when Java and Maven are here. */
  private java: JavaReadProcess | undefined;
  /** Why iperf3 cannot run, when it cannot. */
  private iperf3WhyNot: string | undefined;

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
    defineMetrics(this.results, this.options, {
      nginxVersion: this.nginxVersion,
      remoteDescription: this.remoteDescription,
      checkpointBytes: this.data.checkpointBytes,
    });
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
    if (this.wants('memory')) {
      const memory = await memoryScenario({
        options: this.options,
        seeded: this.agent as AgentProcess,
        root: this.root,
        large: this.data.large,
        agentStartRss: this.agentStartRss,
        cleanup: this.cleanup,
        results: this.results,
      });
      this.say(`  memory: ${memory}`);
    }
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
    const needsAgent = [
      'agent',
      'range',
      'concurrency',
      'recovery',
      'memory',
      'java',
      'write',
    ].some((g) => this.wants(g as ScenarioGroup));
    if (needsAgent) await this.startAgent();
    const nginx = await NginxServer.find();
    if (nginx) this.nginxVersion = await NginxServer.version(nginx);
    if (this.wants('nginx') || this.wants('range') || this.wants('concurrency')) {
      if (nginx) await this.startLocalNginx(nginx);
      else
        this.results.notes.push(`nginx not found: its figures are missing (${NGINX_INSTALL_HINT})`);
    }
    if (this.wants('recovery')) await this.startRemote(nginx);
    if (this.wants('java')) await this.startJava();
    if (this.wants('limits')) {
      this.iperf3WhyNot = await iperf3Missing();
      if (this.iperf3WhyNot) this.results.notes.push(this.iperf3WhyNot);
    }
  }

  private async startJava(): Promise<void> {
    const agent = this.agent as AgentProcess;
    this.say('building and starting the Java client bench (Maven, then one JVM)');
    const started = await JavaReadProcess.start({
      file: this.data.large.path,
      key: this.data.large.key,
      tcpAddress: agent.tcpAddress,
      unixAddress: agent.unixAddress,
      cacheDir: agent.cacheDir,
    });
    if (typeof started === 'string') {
      this.results.notes.push(`java: the JVM figures are missing: ${started}`);
      return;
    }
    this.java = started;
    this.cleanup.push('Java read bench (JVM)', () => started.stop());
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
    // Where the write scenario's Ingest takes its spool file from (writeScenario's ingestDir).
    const ingestDir = path.join(dir, 'ingest');
    await fs.mkdir(ingestDir, { recursive: true });
    this.agent = await AgentProcess.start({
      cacheDir: path.join(dir, 'cache'),
      socketPath: path.join(dir, 'agent.sock'),
      extraArgs: ['--ingest-dir', ingestDir],
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
    // The JIT: every Java path once before the rounds.
    if (this.java) for (const id of JAVA_READS) await this.java.read(id);
    if (this.wants('range')) await rangeScenario(this.clientContext(), -1, 50);
  }

  // ---- the catalogue -----------------------------------------------------------------------

  private scenarios(): Scenario[] {
    const list: Scenario[] = [];
    const o = this.options;
    const large = this.data.large;
    const ref = this.reference;
    if (this.wants('limits') && ref) {
      list.push({
        group: 'limits',
        name: 'limits',
        run: (round) => this.limitsScenario(round, ref),
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
    const java = this.java;
    if (java) {
      list.push({
        group: 'java',
        name: 'java',
        run: (round) => javaScenario(round, java, this.data.large, this.results),
      });
    }
    if (this.wants('write') && unixClient) {
      list.push({
        group: 'write',
        name: 'write',
        run: (round) =>
          writeScenario(
            round,
            this.data.large,
            this.agent as AgentProcess,
            unixClient,
            this.results,
            path.join(this.root, 'agent', 'ingest'),
          ),
      });
    }
    if (this.wants('range') && tcpClient) {
      list.push({
        group: 'range',
        name: 'range reads',
        run: (round) => rangeScenario(this.clientContext(), round, o.rangeReads),
      });
    }
    if (this.wants('concurrency') && tcpClient) {
      for (const n of o.streams) {
        list.push({
          group: 'concurrency',
          name: `${n} streams`,
          run: (round) => concurrencyScenario(this.clientContext(), round, n),
        });
      }
    }
    if (this.wants('recovery') && unixClient && this.directClient && this.remoteUrl) {
      this.results.record('link', 0, o.linkBitsPerSecond / 8 / MB);
      list.push({
        group: 'recovery',
        name: 'recovery',
        run: (r) => recoveryScenario(this.clientContext(), r),
      });
    }
    return list;
  }

  // ---- scenarios ---------------------------------------------------------------------------

  /**
   * The machine's limits: native tools (dd, iperf3) and the raw Node pipes at both read sizes;
   * `tcp` and `unix` are the faster read size of each round, the limits the agent is compared to.
   */
  private async limitsScenario(round: number, ref: ReferenceServerAddresses): Promise<string> {
    const large = this.data.large;
    const parts: string[] = [];
    const native = await ddRead(large.path);
    this.results.record('file.native', round, native);
    parts.push(`dd ${native.toFixed(0)}`);
    parts.push(`file ${await this.transfer('file', round, large.size, () => openFile(large.path, RAW_PIPE_READ_SIZE))}`);
    if (!this.iperf3WhyNot) {
      const loopback = await iperf3Loopback(this.options.quick ? 2 : 3);
      this.results.record('iperf3', round, loopback);
      parts.push(`iperf3 ${loopback.toFixed(0)}`);
    }
    const pids = this.referencePid === undefined ? [] : [this.referencePid];
    for (const transport of ['tcp', 'unix'] as const) {
      let best = 0;
      for (const size of Object.keys(RAW_PIPE_READ_SIZES) as RawPipeReadSize[]) {
        const id = `${transport}.${size}`;
        await this.transfer(id, round, large.size, () => openSocket(ref[transport][size]), pids);
        best = Math.max(best, this.results.sample(id, round) ?? 0);
      }
      this.results.record(transport, round, best);
      parts.push(`${transport} ${best.toFixed(0)}`);
    }
    return `${parts.join(', ')} MB/s`;
  } // prettier-ignore

  private clientContext(): ClientScenarioContext {
    return {
      options: this.options,
      data: this.data,
      results: this.results,
      tcpClient: this.tcpClient,
      unixClient: this.unixClient,
      directClient: this.directClient,
      constantClient: this.constantClient,
      nginxUrl: this.nginxUrl,
      remoteUrl: this.remoteUrl,
      httpAgent: this.httpAgent,
    };
  }

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
}
