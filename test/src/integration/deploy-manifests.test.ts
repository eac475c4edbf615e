/**
 * deploy/kubernetes without a cluster. The Go test in deploy/validate decodes every document
 * strictly into the real Kubernetes API types and runs kustomize on them; this file runs it, then
 * checks what the manifests tell the agent against the agent's own option schema: every CKC_*
 * variable and flag, and the ConfigMap's config file, through loadAgentConfig itself. The resolved
 * configuration must then agree with the rest: probes, mounts, grace period, the Redis example
 * and the Flink TaskManager pod template.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { AGENT_OPTIONS, loadAgentConfig, type AgentConfig } from '@checkpoint-cache/config';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const MANIFEST_DIR = path.join(REPO_ROOT, 'deploy', 'kubernetes');
const VALIDATE_DIR = path.join(REPO_ROOT, 'deploy', 'validate');
const GO_TEST_TIMEOUT_MS = 280_000;
/** What the downward API would give CKC_NODE_ID: a real-looking node name. */
const SAMPLE_NODE_NAME = 'ip-10-0-12-34.eu-west-1.compute.internal';
/** Time the agent needs after its shutdown grace: close Redis, remove the socket, exit. */
const MIN_GRACE_MARGIN_MS = 5000;
/** Variables of the checkpoint-cache client (not the agent): see `ckc --help`, --agent. */
const CLIENT_VARIABLES = ['CKC_AGENT'];
/** The container Flink merges a pod template into. */
const FLINK_MAIN_CONTAINER = 'flink-main-container';

function configOption(): { flag: string; env: string } {
  const option = AGENT_OPTIONS.find((o) => o.name === 'config');
  if (!option) throw new Error('the agent has no config file option');
  return { flag: `--${option.flag}`, env: option.env };
}

// ---- the parts of the Kubernetes types read here (deploy/validate checks the full types) ----

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    configMapKeyRef?: { name: string; key: string };
    secretKeyRef?: { name: string; key: string };
  };
}
interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
interface Probe {
  grpc?: { port: number; service?: string };
  httpGet?: { path?: string; port: number | string };
}
interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: VolumeMount[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number };
}
interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  configMap?: { name: string };
  persistentVolumeClaim?: { claimName: string };
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  terminationGracePeriodSeconds?: number;
  enableServiceLinks?: boolean;
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    runAsGroup?: number;
    supplementalGroups?: number[];
  };
}
interface Manifest {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: {
    template?: { spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string } }[];
    ports?: { port: number }[];
  } & Partial<PodSpec>;
}

async function loadManifests(): Promise<Manifest[]> {
  const files = (await fs.readdir(MANIFEST_DIR)).filter((f) => f.endsWith('.yaml')).sort();
  const manifests: Manifest[] = [];
  for (const file of files) {
    const text = await fs.readFile(path.join(MANIFEST_DIR, file), 'utf8');
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
      const value = doc.toJS() as Omit<Manifest, 'file'> | null;
      if (value !== null) manifests.push({ file, ...value });
    }
  }
  return manifests;
}

function only<T>(items: T[], what: string): T {
  expect(items, what).to.have.length(1);
  return items[0] as T;
}

function byKind(manifests: Manifest[], kind: string): Manifest[] {
  return manifests.filter((m) => m.kind === kind);
}

function configMapValue(manifests: Manifest[], name: string, key: string): string {
  const cm = byKind(manifests, 'ConfigMap').find((m) => m.metadata.name === name);
  const value = cm?.data?.[key];
  if (value === undefined) throw new Error(`no ConfigMap ${name} with key ${key}`);
  return value;
}

/** The agent's container: the DaemonSet container that runs the image's entrypoint. */
function agentContainer(manifests: Manifest[]): { daemonSet: Manifest; container: Container } {
  const daemonSet = only(byKind(manifests, 'DaemonSet'), 'DaemonSets');
  const pod = daemonSet.spec?.template?.spec as PodSpec;
  const container = only(
    pod.containers.filter((c) => c.image?.includes('ckc-agent') && c.command === undefined),
    'containers running the ckc-agent entrypoint',
  );
  return { daemonSet, container };
}

function podSpecOf(m: Manifest): PodSpec {
  return (m.spec?.template?.spec ?? m.spec) as PodSpec;
}

/** The mount of `mountPath` in `container` and the volume behind it. */
function mountAt(
  pod: PodSpec,
  container: Container,
  mountPath: string,
): { mount: VolumeMount; volume: Volume } {
  const mount = (container.volumeMounts ?? []).find(
    (m) => path.posix.normalize(m.mountPath) === path.posix.normalize(mountPath),
  );
  if (!mount) throw new Error(`container ${container.name} mounts nothing at ${mountPath}`);
  const volume = (pod.volumes ?? []).find((v) => v.name === mount.name);
  if (!volume) throw new Error(`container ${container.name}: no volume ${mount.name}`);
  return { mount, volume };
}

// ---- the agent's settings, as the kubelet would hand them to the process --------------------

interface AgentSettings {
  /** Variables as the process sees them (downward API and ConfigMap references resolved). */
  env: Record<string, string>;
  argv: string[];
  /** The config file named by CKC_CONFIG or --config, and its content. */
  configFile?: { path: string; text: string };
}

/** What the downward API would give for status.podIP. */
const SAMPLE_POD_IP = '10.244.3.17';

/**
 * `earlier`: the variables defined above `v`, which Kubernetes substitutes for `$(NAME)` in its
 * value (later ones and unknown names stay as written, as the kubelet leaves them).
 */
function resolveEnv(manifests: Manifest[], v: EnvVar, earlier: Record<string, string>): string {
  if (v.value !== undefined) {
    return v.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name: string) =>
      name in earlier ? earlier[name]! : all,
    );
  }
  const from = v.valueFrom;
  if (from?.fieldRef?.fieldPath === 'spec.nodeName') return SAMPLE_NODE_NAME;
  if (from?.fieldRef?.fieldPath === 'status.podIP') return SAMPLE_POD_IP;
  if (from?.configMapKeyRef) {
    return configMapValue(manifests, from.configMapKeyRef.name, from.configMapKeyRef.key);
  }
  throw new Error(`${v.name}: this test cannot resolve ${JSON.stringify(from)}; teach it how`);
}

function agentSettings(manifests: Manifest[]): AgentSettings {
  const { daemonSet, container } = agentContainer(manifests);
  const pod = podSpecOf(daemonSet);
  const env: Record<string, string> = {};
  for (const v of container.env ?? []) env[v.name] = resolveEnv(manifests, v, env);
  const argv = container.args ?? [];
  const option = configOption();
  const flag = argv.indexOf(option.flag);
  const inline = argv.find((a) => a.startsWith(`${option.flag}=`));
  const configPath =
    inline?.slice(option.flag.length + 1) ?? (flag >= 0 ? argv[flag + 1] : env[option.env]);
  if (configPath === undefined) return { env, argv };
  const { volume } = mountAt(pod, container, path.posix.dirname(configPath));
  if (!volume.configMap) throw new Error(`${configPath} is not on a ConfigMap volume`);
  const text = configMapValue(manifests, volume.configMap.name, path.posix.basename(configPath));
  return { env, argv, configFile: { path: configPath, text } };
}

/** What in `settings` the agent's schema does not accept; empty when all is well. */
function unknownSettings(settings: AgentSettings): string[] {
  const problems: string[] = [];
  const envNames = new Set(AGENT_OPTIONS.map((o) => o.env));
  const flags = new Set(AGENT_OPTIONS.map((o) => `--${o.flag}`));
  for (const name of Object.keys(settings.env)) {
    if (name.startsWith('CKC_') && !envNames.has(name)) {
      problems.push(`environment variable ${name} is not an agent option`);
    }
  }
  for (const arg of settings.argv) {
    if (arg.startsWith('-') && !flags.has(arg.split('=')[0] as string)) {
      problems.push(`flag ${arg} is not an agent option`);
    }
  }
  if (settings.configFile) {
    const file = parseAllDocuments(settings.configFile.text);
    const keys = Object.keys((file[0]?.toJS() as Record<string, unknown> | null) ?? {});
    const fileKeys = new Set(AGENT_OPTIONS.filter((o) => o.inFile !== false).map((o) => o.name));
    for (const key of keys) {
      if (!fileKeys.has(key)) problems.push(`config file key ${key} is not an agent option`);
    }
  }
  return problems;
}

/** loadAgentConfig on the settings, with the config file written to `dir`. */
async function resolveConfig(settings: AgentSettings, dir: string): Promise<AgentConfig> {
  const env = { ...settings.env };
  let argv = settings.argv;
  if (settings.configFile) {
    const local = path.join(dir, path.posix.basename(settings.configFile.path));
    await fs.writeFile(local, settings.configFile.text);
    const option = configOption();
    if (env[option.env] !== undefined) env[option.env] = local;
    argv = argv.map((a) =>
      a === settings.configFile?.path
        ? local
        : a.startsWith(`${option.flag}=`)
          ? `${option.flag}=${local}`
          : a,
    );
  }
  return loadAgentConfig({ argv, env, cwd: '/' });
}

function runGoTest(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('go', ['test', '-count=1', './...'], {
      cwd: VALIDATE_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (d: Buffer): void => {
      output += d.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), GO_TEST_TIMEOUT_MS);
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        err.code === 'ENOENT'
          ? new Error(
              '`go` is not on PATH: the Kubernetes manifest check (deploy/validate) needs Go ' +
                '(>= the version in deploy/validate/go.mod); .ci/run installs it',
            )
          : err,
      );
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

// ---------------------------------------------------------------------------------------------

describe('Kubernetes manifests (deploy/kubernetes)', function () {
  let manifests: Manifest[];
  let settings: AgentSettings;
  /** Settled in before(); each test that needs it awaits it, so a refusal fails those tests. */
  let resolved: Promise<AgentConfig>;
  let dir: string;

  before(async function () {
    manifests = await loadManifests();
    settings = agentSettings(manifests);
    dir = await makeTempDir('ckc-deploy');
    resolved = resolveConfig(settings, dir);
    resolved.catch(() => undefined);
  });
  after(async function () {
    if (dir) await removeTempDir(dir);
  });

  it('decode strictly into the Kubernetes API types and build with kustomize (go test)', async function () {
    this.timeout(GO_TEST_TIMEOUT_MS + 10_000);
    const started = Date.now();
    const { code, output } = await runGoTest();
    expect(code, `go test in deploy/validate failed:\n${output}`).to.equal(0);
    // Cold module and build caches make this the slow step; say how slow.
    if (Date.now() - started > 20_000) {
      process.stdout.write(`      (go test took ${Math.round((Date.now() - started) / 1000)} s)\n`);
    }
  });

  it('set only CKC_* variables, flags and config keys that the agent accepts', function () {
    expect(settings.configFile, 'the agent reads a config file from a ConfigMap').to.not.equal(
      undefined,
    );
    expect(Object.keys(settings.env)).to.include('CKC_NODE_ID');
    expect(unknownSettings(settings)).to.deep.equal([]);
  });

  it('would catch a variable, flag or config key the agent does not know', function () {
    const wrong: AgentSettings = {
      env: { CKC_NODE_ID: 'node-1', CKC_METRICS_LISTENER: '0.0.0.0:9464' },
      argv: ['--listen', '0.0.0.0:7878', '--listen-port=7878'],
      configFile: { path: '/etc/agent.yaml', text: 'cacheDir: /x\ncacheDirectory: /x\n' },
    };
    expect(unknownSettings(wrong)).to.deep.equal([
      'environment variable CKC_METRICS_LISTENER is not an agent option',
      'flag --listen-port=7878 is not an agent option',
      'config file key cacheDirectory is not an agent option',
    ]);
  });

  it('make a configuration that loadAgentConfig accepts, with absolute paths and a real Redis', async function () {
    const config = await resolved;
    expect(config.nodeId).to.equal(SAMPLE_NODE_NAME);
    expect(config.peerAddress, 'peerAddress: the pod IP and the gRPC port').to.equal(
      `${SAMPLE_POD_IP}:7878`,
    );
    // The image has no redis-server: without a URL the agent would try to start one.
    expect(config.redisUrl, 'redisUrl').to.be.a('string');
    // The file is read from /etc/checkpoint-cache in the pod and from a temp dir here: relative
    // paths (resolved against the file's folder) would differ, so the manifests use none.
    const file = parseAllDocuments(settings.configFile?.text ?? '')[0]?.toJS() as Record<
      string,
      unknown
    >;
    for (const option of AGENT_OPTIONS.filter((o) => o.type === 'path')) {
      const value = file[option.name];
      if (typeof value === 'string' && value !== 'off') {
        expect(path.posix.isAbsolute(value), `${option.name}: ${value}`).to.equal(true);
      }
    }
  });

  it('probe the agent over plaintext HTTP on its metrics port, on the pod IP', async function () {
    const config = await resolved;
    const { container } = agentContainer(manifests);
    // The kubelet probes the pod IP, plaintext: a loopback or TLS-only port would fail them.
    for (const [option, listen] of [
      ['listen', config.listen ?? ''],
      ['metricsListen', config.metricsListen ?? ''],
    ] as const) {
      const host = listen.slice(0, listen.lastIndexOf(':'));
      expect(['0.0.0.0', '[::]'], `${option} ${listen}`).to.include(host);
    }
    const metrics = config.metricsListen ?? '';
    const metricsPort = Number(metrics.slice(metrics.lastIndexOf(':') + 1));
    const named = new Map((container.ports ?? []).map((p) => [p.name, p.containerPort]));
    const paths = {
      startupProbe: '/healthz',
      livenessProbe: '/healthz',
      readinessProbe: '/readyz',
    };
    for (const [probe, path] of Object.entries(paths) as [keyof typeof paths, string][]) {
      const get = container[probe]?.httpGet;
      expect(get?.path, `${probe}.httpGet.path`).to.equal(path);
      const port = typeof get?.port === 'string' ? named.get(get.port) : get?.port;
      expect(port, `${probe}.httpGet.port`).to.equal(metricsPort);
    }
  });

  it('keep the cache and the socket on host paths and stop within the grace period', async function () {
    const config = await resolved;
    const { daemonSet, container } = agentContainer(manifests);
    const pod = podSpecOf(daemonSet);
    for (const [what, dirPath] of [
      ['cacheDir', config.cacheDir],
      ['socket folder', path.posix.dirname(config.socket ?? '')],
    ] as const) {
      const { mount, volume } = mountAt(pod, container, dirPath);
      expect(volume.hostPath, `${what} ${dirPath} is a hostPath`).to.not.equal(undefined);
      expect(mount.readOnly ?? false, `${what} mount is writable`).to.equal(false);
    }
    // The init container hands both host folders to the agent's user and group.
    const uid = container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
    const gid = container.securityContext?.runAsGroup ?? pod.securityContext?.runAsGroup;
    const prepare = (pod.initContainers ?? []).map((c) => (c.command ?? []).join(' ')).join('\n');
    expect(prepare, 'init container').to.include(`chown ${uid}:${gid}`);
    for (const dirPath of [config.cacheDir, path.posix.dirname(config.socket ?? '')]) {
      expect(prepare, 'init container').to.include(dirPath);
    }
    // ... which is the image's user (runAsNonRoot needs a numeric USER to verify).
    const dockerfile = await fs.readFile(path.join(REPO_ROOT, 'deploy', 'Dockerfile'), 'utf8');
    expect(dockerfile.match(/^USER\s+(\S+)\s*$/gm)?.pop()).to.equal(`USER ${uid}:${gid}`);
    const graceMs = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
    expect(graceMs, 'terminationGracePeriodSeconds vs shutdownGrace').to.be.at.least(
      config.shutdownGrace + MIN_GRACE_MARGIN_MS,
    );
    // Service links would inject <SERVICE>_* variables; a Service named ckc-* would inject CKC_*.
    expect(pod.enableServiceLinks).to.equal(false);
    expect(pod.securityContext?.runAsNonRoot ?? container.securityContext?.runAsNonRoot).to.equal(
      true,
    );
  });

  it('point the agent at the example Redis, with expiry events and persistence on', async function () {
    const config = await resolved;
    const url = new URL(config.redisUrl ?? '');
    const service = byKind(manifests, 'Service').find(
      (s) => s.metadata.name === url.hostname.split('.')[0],
    );
    expect(service, `a Service for ${url.hostname}`).to.not.equal(undefined);
    expect((service?.spec?.ports ?? []).map((p) => p.port)).to.include(Number(url.port || 6379));

    const redis = only(byKind(manifests, 'StatefulSet'), 'StatefulSets');
    const pod = podSpecOf(redis);
    const container = pod.containers[0] as Container;
    const configMount = (container.volumeMounts ?? []).find((m) =>
      (container.args ?? []).some((a) => a.startsWith(`${m.mountPath}/`)),
    );
    const configVolume = (pod.volumes ?? []).find((v) => v.name === configMount?.name);
    const confArg = (container.args ?? []).find((a) => a.endsWith('.conf')) ?? '';
    const conf = configMapValue(
      manifests,
      configVolume?.configMap?.name ?? '',
      path.posix.basename(confArg),
    );
    const directives = new Map(
      conf
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#'))
        .map((l) => [l.split(/\s+/)[0] as string, l.split(/\s+/).slice(1).join(' ')]),
    );
    const events = directives.get('notify-keyspace-events') ?? '';
    // K: the keyspace channel the agents subscribe to; x (or A, all classes): expired events.
    expect(events, 'notify-keyspace-events').to.include('K');
    expect(/[xA]/.test(events), `notify-keyspace-events ${events}: expired events`).to.equal(true);
    expect(directives.get('appendonly')).to.equal('yes');
    expect(directives.get('maxmemory-policy')).to.equal('noeviction');
    const dataMount = (container.volumeMounts ?? []).find(
      (m) => m.mountPath === directives.get('dir'),
    );
    const claims = (redis.spec?.volumeClaimTemplates ?? []).map((c) => c.metadata.name);
    expect(claims, `Redis dir ${directives.get('dir')} on a persistent volume`).to.include(
      dataMount?.name,
    );
  });

  it('give Flink TaskManagers the agent socket and the cache root, read-only', async function () {
    const config = await resolved;
    const template = only(
      manifests.filter((m) => m.file === 'flink-taskmanager-pod-template.yaml'),
      'documents in flink-taskmanager-pod-template.yaml',
    );
    const tm = podSpecOf(template);
    const main = only(
      tm.containers.filter((c) => c.name === FLINK_MAIN_CONTAINER),
      FLINK_MAIN_CONTAINER,
    );
    const env = Object.fromEntries((main.env ?? []).map((v) => [v.name, v.value]));
    expect(env['CKC_AGENT']).to.equal(`unix:${config.socket}`);
    const unknown = Object.keys(env).filter(
      (n) => n.startsWith('CKC_') && !CLIENT_VARIABLES.includes(n),
    );
    expect(unknown, 'CKC_* variables the client does not read').to.deep.equal([]);

    const { daemonSet, container } = agentContainer(manifests);
    const agentPod = podSpecOf(daemonSet);
    for (const dirPath of [path.posix.dirname(config.socket ?? ''), config.cacheDir]) {
      const agentSide = mountAt(agentPod, container, dirPath);
      const tmSide = mountAt(tm, main, dirPath);
      expect(tmSide.volume.hostPath?.path, `host path behind ${dirPath}`).to.equal(
        agentSide.volume.hostPath?.path,
      );
      expect(tmSide.mount.readOnly, `${dirPath} read-only for TaskManagers`).to.equal(true);
    }
    // The socket and the entries are for the agent's group (see deploy/image/entrypoint.sh).
    const agentGroup =
      container.securityContext?.runAsGroup ?? agentPod.securityContext?.runAsGroup;
    expect(agentGroup, "the agent's group").to.be.a('number');
    expect(tm.securityContext?.supplementalGroups ?? []).to.include(agentGroup);
  });
});
