/**
 * Several nodes, one Redis (issue 6): three agents with distinct node ids and cache roots share
 * one Redis and one key prefix, as a DaemonSet's agents do. Where the machine allows it each agent
 * is its own process in its own network namespace with its own address (Redis listens on the
 * root namespace's side of the bridge); otherwise the agents run in this process on loopback with
 * distinct ports, and the output says so. The same assertions run either way.
 *
 * Proven: nothing node B does reads, touches, expires or evicts node A's entries (a Delete on B
 * is the one call that reaches A's copy, issue 13; cluster-delete.test.ts tests it in depth); expiry
 * of A's keys deletes only A's files; Release acts on one node, and the script in
 * docs/operations.md ("Several nodes") releases a job on every node; List shows one node's
 * entries; a killed agent leaves the others serving. Then the core of it on a 3-master Redis
 * Cluster. CKC_TEST_MULTI_NODE=loopback forces the loopback placement.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import Redis from 'ioredis';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { entryIdOf } from '@checkpoint-cache/cache';
import {
  KeyBuilder,
  RedisMetadataStore,
  createRedisConnection,
  type EntryRecord,
} from '@checkpoint-cache/redis';
import { startTestAgent } from '../helpers/agent';
import { startAgentProcess } from '../helpers/agent-process';
import {
  createNodeNetwork,
  networkNamespacesUnavailable,
  type NodeNetwork,
} from '../helpers/netns';
import { rawClient, readEntry, unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';
import { waitUntil } from '../helpers/wait-until';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
/** A private /24 only this test uses, on interfaces it creates. */
const SUBNET = '10.213.7';
/** Every agent in a namespace listens on the same port, as DaemonSet pods do on their pod IPs. */
const AGENT_PORT = 7878;
const METRICS_PORT = 9464;
/** Node B's quota: small enough to overfill in a test. */
const B_MAX_BYTES = 8 * 1024;
const LONG_TTL_MS = 600_000;

/** One agent of the test, wherever it runs. */
interface CacheNode {
  /** A, B or C. */
  readonly name: string;
  readonly nodeId: string;
  /** `host:port` the test connects to. */
  readonly address: string;
  readonly socketPath: string;
  /** `host:port` of its Prometheus endpoint. */
  readonly metricsAddress: string;
  readonly cacheDir: string;
  /** The agent's network namespace, when it has one. */
  readonly netns: string | undefined;
  /** This node's records in Redis, read over the test's own connection. */
  readonly metadata: RedisMetadataStore;
  readonly client: RawClient;
  /** Ends the agent abruptly (SIGKILL of its process); keeps its cache dir and records. */
  kill(): Promise<void>;
  /** Stops the agent, closes the test's connections, removes the cache dir. Idempotent. */
  stop(): Promise<void>;
}

interface NodeSpec {
  name: string;
  nodeId: string;
  maxBytes?: number;
}

async function inProcessNode(
  redisUrl: string,
  redisPrefix: string,
  spec: NodeSpec,
): Promise<CacheNode> {
  const agent = await startTestAgent({
    redisUrl,
    nodeId: spec.nodeId,
    redisPrefix,
    reconcileInterval: 3_600_000,
    minFreePercent: 0,
    metricsListen: '127.0.0.1:0',
    // The test writes over TCP; the Unix socket is for the release script.
    writeAccess: 'any',
    ...(spec.maxBytes === undefined ? {} : { maxBytes: spec.maxBytes }),
  });
  await agent.cache.whenIndexReady();
  const client = rawClient(agent.address);
  let stopped: Promise<void> | undefined;
  return {
    name: spec.name,
    nodeId: agent.nodeId,
    address: agent.address,
    socketPath: agent.socketPath,
    metricsAddress: agent.metricsAddress ?? '',
    cacheDir: agent.cacheDir,
    netns: undefined,
    metadata: agent.metadata,
    client,
    // In this process there is no SIGKILL: the agent stops serving at once instead.
    kill: () => agent.shutdown(0),
    stop: () =>
      (stopped ??= (async () => {
        client.close();
        await agent.stop();
      })()),
  };
}

async function namespacedNode(
  network: NodeNetwork,
  index: number,
  redisUrl: { agents: string; test: string },
  redisPrefix: string,
  spec: NodeSpec,
): Promise<CacheNode> {
  const node = network.nodes[index]!;
  const agent = await startAgentProcess({
    nodeId: spec.nodeId,
    redisUrl: redisUrl.agents,
    redisPrefix,
    listen: `${node.address}:${AGENT_PORT}`,
    wrap: (command, args) => network.commandIn(node, command, args),
    extraArgs: [
      '--min-free-percent', '0',
      '--write-access', 'any',
      '--metrics-listen', `${node.address}:${METRICS_PORT}`,
      ...(spec.maxBytes === undefined ? [] : ['--max-bytes', String(spec.maxBytes)]),
    ], // prettier-ignore
  });
  const metadata = new RedisMetadataStore(
    createRedisConnection(redisUrl.test, { connectionName: `test:${spec.nodeId}` }),
    new KeyBuilder(redisPrefix, spec.nodeId),
  );
  const client = rawClient(agent.address);
  let stopped: Promise<void> | undefined;
  return {
    name: spec.name,
    nodeId: spec.nodeId,
    address: agent.address,
    socketPath: agent.socketPath,
    metricsAddress: agent.metricsAddress ?? '',
    cacheDir: agent.cacheDir,
    netns: node.netns,
    metadata,
    client,
    kill: () => agent.kill(),
    stop: () =>
      (stopped ??= (async () => {
        client.close();
        await agent.stop();
        await metadata.close();
      })()),
  };
}

// ---- what the tests look at -------------------------------------------------------------------

function dataFile(node: CacheNode, key: string): string {
  const id = entryIdOf(key);
  return path.join(node.cacheDir, 'entries', id.slice(0, 2), id);
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

/** What Redis and the disk say about `key` on `node`. */
interface NodeRecord {
  file: boolean;
  entry: EntryRecord | undefined;
  lruScore: number | undefined;
  ttlRemainingMs: number | undefined;
}

async function recordOf(node: CacheNode, key: string): Promise<NodeRecord> {
  const id = entryIdOf(key);
  return {
    file: await exists(dataFile(node, key)),
    entry: await node.metadata.getRecord(id),
    lruScore: await node.metadata.lastAccessMs(id),
    ttlRemainingMs: await node.metadata.ttlRemainingMs(id),
  };
}

async function holds(node: CacheNode, key: string): Promise<boolean> {
  const r = await recordOf(node, key);
  return r.file && r.entry !== undefined;
}

async function heldNowhere(node: CacheNode, key: string): Promise<boolean> {
  const r = await recordOf(node, key);
  return !r.file && r.entry === undefined && r.lruScore === undefined;
}

/** `node` still holds `key` exactly as `before` recorded it: not touched, its TTL not reset. */
async function expectUntouched(node: CacheNode, key: string, before: NodeRecord): Promise<void> {
  const now = await recordOf(node, key);
  const what = `${key} on node ${node.name}`;
  expect(now.file, `${what}: file`).to.equal(true);
  expect(now.entry, `${what}: record`).to.deep.equal(before.entry);
  expect(now.lruScore, `${what}: LRU score (last access)`).to.equal(before.lruScore);
  expect(now.ttlRemainingMs, `${what}: TTL`).to.be.a('number').above(0);
  expect(now.ttlRemainingMs, `${what}: TTL was reset`).to.be.at.most(before.ttlRemainingMs!);
}

/** The status code a call ends with (OK when it succeeds). */
async function codeOf(call: Promise<unknown>): Promise<grpc.status> {
  return call.then(
    () => grpc.status.OK,
    (err: grpc.ServiceError) => err.code,
  );
}

async function listKeys(node: CacheNode, jobId = ''): Promise<string[]> {
  const page = await unary<unknown, { entries: { key: string; nodeId: string }[] }>(
    node.client,
    'list',
    { jobId, pageSize: 1000 },
  );
  for (const e of page.entries) expect(e.nodeId, `List on node ${node.name}`).to.equal(node.nodeId);
  return page.entries.map((e) => e.key);
}

async function put(
  node: CacheNode,
  key: string,
  data: Buffer,
  labels: { jobId?: string; checkpointId?: number; ttlMs?: number } = {},
): Promise<void> {
  const res = await writeEntry(
    node.client,
    {
      key,
      jobId: labels.jobId ?? 'job',
      checkpointId: labels.checkpointId ?? 1,
      ttlMs: labels.ttlMs ?? LONG_TTL_MS,
    },
    data,
  );
  expect(res.entry?.nodeId).to.equal(node.nodeId);
}

/** Reconcile passes the agent finished without error, from its metrics. */
async function reconcilePasses(node: CacheNode): Promise<number> {
  const res = await fetch(`http://${node.metricsAddress}/metrics`);
  const text = await res.text();
  return Number(/^ckc_reconcile_runs_total\{result="ok"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

/** Closes the agent's main Redis connection, as a network blip would; it reconnects. */
async function dropRedisConnection(admin: Redis, node: CacheNode): Promise<void> {
  const clients = String(await admin.call('CLIENT', 'LIST')).split('\n');
  const ids = clients
    .map((line) => Object.fromEntries(line.split(' ').map((f) => f.split('=', 2))))
    .filter((c) => c['name'] === `ckc-agent:${node.nodeId}`)
    .map((c) => String(c['id']));
  expect(ids, `Redis clients of node ${node.name}`).to.have.length.above(0);
  for (const id of ids) await admin.call('CLIENT', 'KILL', 'ID', id);
}

async function readBack(node: CacheNode, key: string): Promise<Buffer> {
  return (await readEntry(node.client, { key })).data;
}

// ---- the release script of docs/operations.md, with a stand-in kubectl ------------------------

/** The script under the "Several nodes" heading of docs/operations.md, verbatim. */
async function releaseScriptFromDocs(): Promise<string> {
  const doc = await fs.readFile(path.join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
  const section = /^##\s+(?:\d+\.\s+)?Several nodes\s*$/m.exec(doc);
  expect(section, 'docs/operations.md has a "Several nodes" section').to.not.equal(null);
  const blocks = doc.slice(section!.index).matchAll(/^```sh\n([\s\S]*?)^```$/gm);
  for (const [, body] of blocks) {
    if (body!.startsWith('#!/bin/sh\n# release-everywhere.sh')) return body!;
  }
  throw new Error('docs/operations.md: no release-everywhere.sh block under "Several nodes"');
}

/** What the manifests say the script must use: namespace, pod labels, container, socket. */
async function agentPodShape(): Promise<{
  namespace: string;
  labels: Record<string, string>;
  container: string;
  socket: string;
}> {
  const dir = path.join(REPO_ROOT, 'deploy', 'kubernetes');
  const read = (f: string): Promise<string> => fs.readFile(path.join(dir, f), 'utf8');
  const kustomization = parseYaml(await read('kustomization.yaml')) as { namespace: string };
  const daemonSet = parseAllDocuments(await read('agent-daemonset.yaml'))
    .map((d) => d.toJS() as { kind?: string; spec?: unknown })
    .find((d) => d.kind === 'DaemonSet') as {
    spec: {
      template: {
        metadata: { labels: Record<string, string> };
        spec: { containers: { name: string; image: string }[] };
      };
    };
  };
  const container = daemonSet.spec.template.spec.containers.find((c) => /ckc-agent/.test(c.image));
  const configMap = parseAllDocuments(await read('agent-config.yaml'))
    .map((d) => d.toJS() as { kind?: string; data?: Record<string, string> })
    .find((d) => d.kind === 'ConfigMap');
  const agentYaml = parseYaml(configMap?.data?.['agent.yaml'] ?? '') as { socket: string };
  return {
    namespace: kustomization.namespace,
    labels: daemonSet.spec.template.metadata.labels,
    container: container!.name,
    socket: agentYaml.socket,
  };
}

/**
 * Stands in for kubectl: `get pods -l <selector> -o name` lists the test's agents as pods, and
 * `exec <pod> -c <container> -- <command>` runs the command "in the pod": inside the agent's
 * network namespace when it has one, in the repository root (which holds the same
 * @checkpoint-cache/proto and @grpc/grpc-js as the image's /app), with the manifests' socket path
 * replaced by that agent's socket. Anything else, or a namespace, selector, container or socket
 * the manifests do not have, fails: the script must fit the real deployment.
 */
const KUBECTL_STAND_IN = String.raw`
const { spawnSync } = require('node:child_process');
const config = JSON.parse(process.env.CKC_TEST_KUBECTL);
const argv = process.argv.slice(2);
const fail = (why) => {
  process.stderr.write('kubectl stand-in: ' + why + ' (kubectl ' + argv.join(' ') + ')\n');
  process.exit(2);
};
let namespace;
const rest = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--') { rest.push(...argv.slice(i)); break; }
  if (a === '-n' || a === '--namespace') namespace = argv[++i];
  else if (a.startsWith('--namespace=')) namespace = a.slice('--namespace='.length);
  else rest.push(a);
}
if (namespace !== config.namespace) fail('namespace is not ' + config.namespace);
const [verb, ...args] = rest;
const option = (names) => {
  const i = args.findIndex((a) => names.includes(a));
  return i < 0 ? undefined : args.splice(i, 2)[1];
};
if (verb === 'get') {
  const selector = option(['-l', '--selector']);
  const output = option(['-o', '--output']);
  if (!['pods', 'pod', 'po'].includes(args[0]) || args.length !== 1) fail('only "get pods"');
  if (output !== 'name') fail('only -o name');
  for (const term of (selector || '').split(',')) {
    const [k, v] = term.split('=');
    if (config.labels[k] !== v) fail('selector ' + term + ' does not select the agent pods');
  }
  for (const name of Object.keys(config.pods)) process.stdout.write('pod/' + name + '\n');
  process.exit(0);
}
if (verb === 'exec') {
  const end = args.indexOf('--');
  if (end < 0) fail('exec without --');
  const command = args.splice(end).slice(1);
  const container = option(['-c', '--container']);
  if (container !== config.container) fail('container is not ' + config.container);
  if (args.length !== 1) fail('exec takes one pod and -c here');
  const pod = config.pods[args[0].replace(/^pods?\//, '')];
  if (!pod) fail('no such pod');
  const socketArg = 'unix:' + config.socket;
  if (!command.includes(socketArg)) fail('the command does not use the socket ' + socketArg);
  const inPod = command.map((a) => (a === socketArg ? 'unix:' + pod.socket : a));
  if (inPod[0] === 'node') inPod[0] = process.execPath;
  const [file, ...fileArgs] = pod.netns ? ['ip', 'netns', 'exec', pod.netns, ...inPod] : inPod;
  const r = spawnSync(file, fileArgs, { stdio: 'inherit', cwd: config.cwd });
  process.exit(r.status === null ? 1 : r.status);
}
fail('unsupported command');
`;

/** Runs the documented script against `nodes`: its exit status and output lines. */
async function runReleaseScript(
  nodes: readonly CacheNode[],
  job: string,
  below?: number,
): Promise<{ status: number; lines: string[]; stderr: string }> {
  const dir = await makeTempDir('ckc-release-everywhere');
  try {
    const script = path.join(dir, 'release-everywhere.sh');
    await fs.writeFile(script, await releaseScriptFromDocs());
    const kubectl = path.join(dir, 'kubectl');
    await fs.writeFile(kubectl, `#!${process.execPath}\n${KUBECTL_STAND_IN}`, { mode: 0o755 });
    const pods = Object.fromEntries(
      nodes.map((n) => [
        `ckc-agent-${n.name.toLowerCase()}`,
        { socket: n.socketPath, ...(n.netns ? { netns: n.netns } : {}) },
      ]),
    );
    const env = {
      ...process.env,
      PATH: `${dir}${path.delimiter}${process.env['PATH'] ?? ''}`,
      CKC_TEST_KUBECTL: JSON.stringify({ ...(await agentPodShape()), pods, cwd: REPO_ROOT }),
    };
    const args = [script, job, ...(below === undefined ? [] : [String(below)])];
    return await new Promise((resolve, reject) => {
      execFile('sh', args, { env, timeout: 60_000 }, (err, out, errOut) => {
        const status = err ? err.code : 0;
        if (typeof status !== 'number') {
          reject(new Error(`release-everywhere.sh did not finish: ${err?.message}\n${errOut}`));
        } else {
          resolve({ status, lines: out.trim().split('\n'), stderr: errOut });
        }
      });
    });
  } finally {
    await removeTempDir(dir);
  }
}

/** The documented script, which must succeed; its output lines. */
async function releaseOnEveryNode(
  nodes: readonly CacheNode[],
  job: string,
  below?: number,
): Promise<string[]> {
  const run = await runReleaseScript(nodes, job, below);
  expect(run.status, `release-everywhere.sh: ${run.lines.join('\n')}\n${run.stderr}`).to.equal(0);
  return run.lines;
}

// ---- the tests ----------------------------------------------------------------------------------

/** A, B, C; A's id is a prefix of B's and C's, so a key pattern without the hash tag's braces
 * would mix them up. */
function nodeSpecs(tag: string): NodeSpec[] {
  return [
    { name: 'A', nodeId: `mn-${tag}` },
    { name: 'B', nodeId: `mn-${tag}-b`, maxBytes: B_MAX_BYTES },
    { name: 'C', nodeId: `mn-${tag}-c` },
  ];
}

describe('several nodes, one Redis', function () {
  this.timeout(60_000);
  const tag = randomBytes(3).toString('hex');
  const prefix = `ckc-mn-${tag}`;
  let redis: RedisServerHandle | undefined;
  let admin: Redis | undefined;
  let network: NodeNetwork | undefined;
  const nodes: CacheNode[] = [];
  let a: CacheNode;
  let b: CacheNode;
  let c: CacheNode;
  let seq = 0;
  /** A key of its own for every use, shaped like Flink's. */
  const key = (name: string): string => `hdfs://nn/flink/ckpt/${tag}/${++seq}/${name}`;

  before(async function () {
    const specs = nodeSpecs(tag);
    let why: string | undefined =
      process.env['CKC_TEST_MULTI_NODE'] === 'loopback'
        ? 'CKC_TEST_MULTI_NODE=loopback'
        : await networkNamespacesUnavailable();
    if (why === undefined) {
      try {
        network = await createNodeNetwork({ subnet: SUBNET, nodes: specs.length });
      } catch (err) {
        why = (err as Error).message;
      }
    }
    if (network) {
      const host = network.hostAddress;
      redis = await startRedisServer({
        args: ['--bind', '127.0.0.1', host, '--protected-mode', 'no'],
      });
      const urls = { agents: `redis://${host}:${redis.port}`, test: redis.url };
      for (const [i, spec] of specs.entries()) {
        nodes.push(await namespacedNode(network, i, urls, prefix, spec));
      }
      process.stdout.write(
        `      multi-node: ${nodes.length} agent processes in network namespaces ` +
          `(${nodes.map((n) => n.address).join(', ')}), Redis on ${host}:${redis.port}\n`,
      );
    } else {
      process.stdout.write(
        'multi-node: network namespaces unavailable, using loopback with distinct ports\n' +
          `      (${why})\n`,
      );
      redis = await startRedisServer();
      for (const spec of specs) nodes.push(await inProcessNode(redis.url, prefix, spec));
    }
    [a, b, c] = nodes as [CacheNode, CacheNode, CacheNode];
    admin = new Redis(redis.port, '127.0.0.1');
  });

  after(async function () {
    admin?.disconnect();
    for (const n of nodes) await n.stop();
    await network?.remove();
    await redis?.stop();
  });

  it("gives B nothing of what only A holds: read, stat and touch on B change nothing; a delete on B reaches A's copy", async function () {
    const k = key('only-on-a');
    const data = randomBytes(1500);
    await put(a, k, data, { ttlMs: 120_000 });
    const before = await recordOf(a, k);
    expect(before.entry?.size).to.equal(1500);

    expect(await codeOf(readEntry(b.client, { key: k }))).to.equal(grpc.status.NOT_FOUND);
    expect(await codeOf(unary(b.client, 'stat', { key: k }))).to.equal(grpc.status.NOT_FOUND);
    expect(await codeOf(unary(b.client, 'touch', { key: k }))).to.equal(grpc.status.NOT_FOUND);
    expect(
      await codeOf(unary(b.client, 'touch', { key: k, checkpointId: 9, ttlMs: 1 })),
      'touch with a checkpoint and a 1 ms TTL',
    ).to.equal(grpc.status.NOT_FOUND);
    await expectUntouched(a, k, before);
    expect(await heldNowhere(b, k), 'B got a record or file').to.equal(true);

    // The same key with the same bytes on B is B's own copy: writing and reading it on B leaves
    // A's copy as it was.
    await put(b, k, data, { ttlMs: 120_000 });
    expect((await readBack(b, k)).equals(data)).to.equal(true);
    await expectUntouched(a, k, before);
    expect((await readBack(a, k)).equals(data)).to.equal(true);
    // A delete is the one call that reaches every copy (issue 13): asked on B, A's goes too.
    expect(
      (await unary<unknown, { deleted: boolean }>(b.client, 'delete', { key: k })).deleted,
    ).to.equal(true);
    expect(await heldNowhere(b, k)).to.equal(true);
    await waitUntil(() => heldNowhere(a, k), {
      timeoutMs: 10_000,
      message: `A's copy of ${k} to be deleted by the delete asked on B`,
    });
  });

  it("never evicts A's entries when B overfills its quota", async function () {
    const aKeys = [key('a-kept-0'), key('a-kept-1'), key('a-kept-2')];
    const aData = aKeys.map(() => randomBytes(1000));
    for (const [i, k] of aKeys.entries()) await put(a, k, aData[i]!);
    // B holds a copy of one of them, which its own eviction may remove.
    await put(b, aKeys[0]!, aData[0]!);
    const before = await Promise.all(aKeys.map((k) => recordOf(a, k)));
    const aUsage = await a.metadata.usage();

    const fills = Array.from({ length: 12 }, (_, i) => key(`b-fill-${i}`));
    for (const k of fills) await put(b, k, randomBytes(1000));

    expect((await b.metadata.usage()).bytes).to.be.at.most(B_MAX_BYTES);
    expect(await heldNowhere(b, aKeys[0]!), 'B did not evict its copy').to.equal(true);
    expect(await heldNowhere(b, fills[0]!), 'B did not evict its oldest entry').to.equal(true);
    expect(await holds(b, fills[fills.length - 1]!)).to.equal(true);
    for (const [i, k] of aKeys.entries()) await expectUntouched(a, k, before[i]!);
    expect(await a.metadata.usage()).to.deep.equal(aUsage);
    for (const [i, k] of aKeys.entries())
      expect((await readBack(a, k)).equals(aData[i]!)).to.equal(true);
  });

  it('expires only the copy on the node whose TTL ran out', async function () {
    const k = key('expires-on-a');
    const data = randomBytes(700);
    await put(a, k, data, { ttlMs: 400 });
    await put(b, k, data, { ttlMs: LONG_TTL_MS });
    await waitUntil(() => heldNowhere(a, k), {
      timeoutMs: 15_000,
      message: `A's copy of ${k} to expire`,
    });
    const onB = await recordOf(b, k);
    expect(onB.file && onB.entry !== undefined, "B's copy was deleted").to.equal(true);
    expect(onB.ttlRemainingMs).to.be.above(LONG_TTL_MS / 2);
    expect((await readBack(b, k)).equals(data)).to.equal(true);
    expect(await codeOf(readEntry(a.client, { key: k }))).to.equal(grpc.status.NOT_FOUND);
  });

  it('releases a job on the node asked only, and on every node with the documented script', async function () {
    const job = `job-rel-${tag}`;
    const other = `job-other-${tag}`;
    const chk = [key('rel/chk-1'), key('rel/chk-2'), key('rel/chk-3')];
    const kept = key('rel/other-job');
    for (const n of nodes) {
      for (const [i, k] of chk.entries())
        await put(n, k, randomBytes(200), { jobId: job, checkpointId: i + 1 });
      await put(n, kept, randomBytes(200), { jobId: other, checkpointId: 1 });
    }
    const sorted = (keys: string[]): string[] => [...keys].sort();

    const res = await unary<unknown, { releasedEntries: number; releasedBytes: number }>(
      a.client,
      'release',
      {
        jobId: job,
        belowCheckpointId: 3,
      },
    );
    expect(res).to.deep.include({ releasedEntries: 2, releasedBytes: 400 });
    expect(await listKeys(a, job)).to.deep.equal([chk[2]]);
    for (const n of [b, c])
      expect(await listKeys(n, job), `node ${n.name}`).to.deep.equal(sorted(chk));

    // The documented way: every agent pod, one after the other.
    expect(await releaseOnEveryNode(nodes, job, 3)).to.deep.equal([
      'pod/ckc-agent-a: released 0 entries, 0 bytes',
      'pod/ckc-agent-b: released 2 entries, 400 bytes',
      'pod/ckc-agent-c: released 2 entries, 400 bytes',
    ]);
    for (const n of nodes) {
      expect(await listKeys(n, job), `node ${n.name}`).to.deep.equal([chk[2]]);
      for (const k of chk.slice(0, 2))
        expect(await heldNowhere(n, k), `${k} on ${n.name}`).to.equal(true);
    }
    // Without a checkpoint: all of the job, still nothing of another job.
    expect(await releaseOnEveryNode(nodes, job)).to.deep.equal(
      nodes.map((n) => `pod/ckc-agent-${n.name.toLowerCase()}: released 1 entries, 200 bytes`),
    );
    for (const n of nodes) {
      expect(await listKeys(n, job)).to.deep.equal([]);
      expect(await listKeys(n, other)).to.deep.equal([kept]);
    }
  });

  it("lists on each node that node's entries only", async function () {
    const job = `job-list-${tag}`;
    const [k1, k2, k3] = [key('list-1'), key('list-2'), key('list-3')];
    await put(a, k1, randomBytes(100), { jobId: job });
    await put(a, k2, randomBytes(100), { jobId: job });
    await put(b, k2, randomBytes(100), { jobId: job });
    await put(b, k3, randomBytes(100), { jobId: job });
    expect(await listKeys(a, job)).to.deep.equal([k1, k2].sort());
    expect(await listKeys(b, job)).to.deep.equal([k2, k3].sort());
    expect(await listKeys(c, job)).to.deep.equal([]);
    // Unfiltered too: nothing of another node, whatever the job.
    const onC = await listKeys(c);
    for (const k of [k1, k2, k3]) expect(onC).to.not.include(k);
  });

  it("leaves A's records alone when B's reconcile repairs B's", async function () {
    const shared = key('reconcile-shared');
    const aOrphan = key('reconcile-a-orphan');
    const data = randomBytes(500);
    await put(a, shared, data);
    await put(a, aOrphan, data);
    await put(b, shared, data);
    // TTL keys gone without an expiry notification: B's of `shared`, A's of `aOrphan`. B's
    // reconcile repairs B's (B wrote it within its TTL, so it registers it again rather than
    // delete it: docs/expiry.md) and must neither delete nor repair anything of A's; A's own
    // records of vanished-on-B files are not B's to forget either.
    const keysOf = (n: CacheNode): KeyBuilder => new KeyBuilder(prefix, n.nodeId);
    await admin!.del(keysOf(b).ttl(entryIdOf(shared)), keysOf(a).ttl(entryIdOf(aOrphan)));
    const aShared = await recordOf(a, shared);
    const aOrphaned = await recordOf(a, aOrphan);
    expect(aOrphaned.ttlRemainingMs).to.equal(undefined);
    const passes = await reconcilePasses(b);

    await dropRedisConnection(admin!, b);
    await waitUntil(async () => (await reconcilePasses(b)) > passes, {
      message: 'B to finish a reconcile pass after its reconnect',
    });

    const onB = await recordOf(b, shared);
    expect(onB.file && onB.entry !== undefined, "B's copy").to.equal(true);
    expect(onB.ttlRemainingMs, "B's TTL key, registered again").to.be.a('number').above(0);
    await expectUntouched(a, shared, aShared);
    expect(await recordOf(a, aOrphan), "A's entry without a TTL key").to.deep.equal(aOrphaned);
    expect((await readBack(a, shared)).equals(data)).to.equal(true);
  });

  it('keeps serving on the other nodes when one agent is killed', async function () {
    const onA = key('survives-a');
    const onB = key('survives-b');
    const onC = key('dies-with-c');
    const [dataA, dataB] = [randomBytes(2000), randomBytes(2000)];
    await put(a, onA, dataA);
    await put(b, onB, dataB);
    await put(c, onC, randomBytes(2000));

    await c.kill();
    expect(await codeOf(readEntry(c.client, { key: onC }))).to.equal(grpc.status.UNAVAILABLE);

    expect((await readBack(a, onA)).equals(dataA)).to.equal(true);
    expect((await readBack(b, onB)).equals(dataB)).to.equal(true);
    for (const n of [a, b]) {
      const k = key(`written-after-the-kill-on-${n.name}`);
      const data = randomBytes(3000);
      await put(n, k, data);
      expect((await readBack(n, k)).equals(data)).to.equal(true);
    }
    // The dead node's records stay for its agent to find when it comes back.
    expect((await recordOf(c, onC)).entry?.id).to.equal(entryIdOf(onC));

    // The release script reaches the live agents and says which pod failed.
    const job = `job-after-the-kill-${tag}`;
    for (const n of [a, b])
      await put(n, key('release-after-the-kill'), randomBytes(100), { jobId: job });
    const run = await runReleaseScript(nodes, job);
    expect(run.status).to.equal(1);
    expect(run.lines.slice(0, 2)).to.deep.equal([
      'pod/ckc-agent-a: released 1 entries, 100 bytes',
      'pod/ckc-agent-b: released 1 entries, 100 bytes',
    ]);
    expect(run.lines[2]).to.match(/^pod\/ckc-agent-c: failed: /);
  });
});

describe('several nodes, one Redis Cluster', function () {
  this.timeout(60_000);
  const tag = randomBytes(3).toString('hex');
  const prefix = `ckc-mn-${tag}`;
  let cluster: RedisClusterHandle | undefined;
  const nodes: CacheNode[] = [];

  before(async function () {
    cluster = await startRedisCluster({ masters: 3 });
    // One node per master: a node's keys all carry the hash tag {<node id>}.
    const byMaster = new Map<number, string>();
    for (let i = 0; byMaster.size < 3 && i < 1000; i++) {
      const nodeId = `mn-${tag}-${i}`;
      const owner = await cluster.ownerOf(await cluster.slotOf(`{${nodeId}}`));
      if (!byMaster.has(owner)) byMaster.set(owner, nodeId);
    }
    expect(byMaster.size).to.equal(3);
    for (const [i, nodeId] of [...byMaster.values()].entries()) {
      nodes.push(await inProcessNode(cluster.url, prefix, { name: 'ABC'[i]!, nodeId }));
    }
  });

  after(async function () {
    for (const n of nodes) await n.stop();
    await cluster?.stop();
  });

  it('keeps each node to its own entries and expires only the copy whose TTL ran out', async function () {
    const [a, b, c] = nodes as [CacheNode, CacheNode, CacheNode];
    const onlyA = `hdfs://nn/flink/ckpt/${tag}/only-on-a`;
    const both = `hdfs://nn/flink/ckpt/${tag}/on-a-and-b`;
    const data = randomBytes(5000);
    await put(a, onlyA, data);
    await put(a, both, data, { ttlMs: 400 });
    await put(b, both, data);
    const before = await recordOf(a, onlyA);

    expect(await codeOf(readEntry(b.client, { key: onlyA }))).to.equal(grpc.status.NOT_FOUND);
    expect(await codeOf(unary(b.client, 'touch', { key: onlyA }))).to.equal(grpc.status.NOT_FOUND);
    expect(await listKeys(b)).to.deep.equal([both]);
    expect(await listKeys(c)).to.deep.equal([]);
    await expectUntouched(a, onlyA, before);

    await waitUntil(() => heldNowhere(a, both), {
      timeoutMs: 15_000,
      message: `A's copy of ${both} to expire`,
    });
    expect(await holds(b, both), "B's copy was deleted").to.equal(true);
    expect((await readBack(b, both)).equals(data)).to.equal(true);
    expect((await readBack(a, onlyA)).equals(data)).to.equal(true);
  });
});
