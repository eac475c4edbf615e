/**
 * Network namespaces as stand-ins for separate machines: one namespace per "node", each with one
 * veth interface on a bridge in the root namespace, an address of a private /24 and no route
 * beyond it, so a node can reach the root namespace's bridge address (where the test runs Redis)
 * and nothing else. Needs root (or CAP_NET_ADMIN) and iproute2.
 *
 * Owns: creating and removing its namespaces, bridge and veth pairs, and a lock file in the temp
 * dir that claims the /24 for one test process at a time. Names carry the creating
 * process's pid, so leftovers of a test process that was killed are recognised and removed by
 * the next run. Everything is removed by `remove()`, by an exit hook, and by a watchdog shell
 * that runs the same removal when the test process dies in a way no hook sees (SIGKILL).
 * Never: touch an interface or namespace it did not name, or add a route outside the /24.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, rmSync } from 'node:fs';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface NodeNetworkOptions {
  /** First three octets of a private /24 nobody else uses here, e.g. `10.213.7`. */
  subnet: string;
  /** Namespaces to create. At most 200. */
  nodes: number;
}

export interface NetnsNode {
  /** The namespace's name, for `ip netns exec`. */
  readonly netns: string;
  /** Its address on the bridge (`<subnet>.<11 + i>`). */
  readonly address: string;
}

export interface NodeNetwork {
  /** The root namespace's address on the bridge (`<subnet>.1`): bind servers the nodes use here. */
  readonly hostAddress: string;
  readonly nodes: readonly NetnsNode[];
  /** `command` and `args` prefixed so that they run inside `node`'s namespace. */
  commandIn(node: NetnsNode, command: string, args: readonly string[]): [string, string[]];
  /** Removes the namespaces, the bridge and the veth pairs. Idempotent. */
  remove(): Promise<void>;
}

const NAME_PREFIX = 'ckmn';
/** `ckmn<pid>b` bridge, `ckmn<pid>h<i>` root end of a veth pair, `ckmn<pid>n<i>` the node's end. */
const LINK_NAME = new RegExp(`^${NAME_PREFIX}(\\d+)[bhn]\\d*$`);
const NETNS_NAME = new RegExp(`^${NAME_PREFIX}-(\\d+)-\\d+$`);

function ip(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The shell commands that remove what `pid` created; each may fail when already gone. */
function removalScript(
  bridge: string,
  hostEnds: readonly string[],
  netns: readonly string[],
  lock: string,
): string {
  return [
    ...netns.map((n) => `ip netns del ${n}`),
    ...hostEnds.map((h) => `ip link del ${h}`),
    `ip link del ${bridge}`,
    `rm -f '${lock}'`,
  ]
    .map((c) => `${c} 2>/dev/null`)
    .join('; ');
}

/**
 * Whether this process may create network namespaces: tries one (and removes it). Returns the
 * reason when it may not.
 */
export async function networkNamespacesUnavailable(): Promise<string | undefined> {
  const probe = `${NAME_PREFIX}-${process.pid}-probe`;
  try {
    await ip(['netns', 'add', probe]);
  } catch (err) {
    return (err as Error).message;
  }
  await ip(['netns', 'del', probe]);
  return undefined;
}

/** Removes namespaces and links named by this module for processes that no longer run. */
async function removeLeftovers(): Promise<void> {
  const namespaces = (await ip(['netns', 'list'])).split('\n').map((l) => l.split(' ')[0] ?? '');
  for (const name of namespaces) {
    const pid = NETNS_NAME.exec(name)?.[1];
    if (pid && !alive(Number(pid))) await ip(['netns', 'del', name]).catch(() => undefined);
  }
  const links = (await ip(['-o', 'link', 'show'])).split('\n');
  for (const line of links) {
    // "12: ckmn123h0@if11: <...>": the name ends at '@' or ':'.
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1] ?? '';
    const pid = LINK_NAME.exec(name)?.[1];
    if (pid && !alive(Number(pid))) await ip(['link', 'del', name]).catch(() => undefined);
  }
}

/**
 * Claims `subnet` for this process: a lock file created exclusively, so that two test processes
 * never put the same /24 on two bridges (the second would get no route). A lock whose process is
 * gone is taken over. Returns the lock's path.
 */
async function claimSubnet(subnet: string): Promise<string> {
  const lock = path.join(os.tmpdir(), `${NAME_PREFIX}-${subnet}.0-24.lock`);
  for (let attempt = 1; ; attempt++) {
    try {
      await fs.writeFile(lock, String(process.pid), { flag: 'wx' });
      return lock;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
    }
    const owner = Number(await fs.readFile(lock, 'utf8').catch(() => '0'));
    // 0: its owner is between creating and writing it.
    if (!owner || alive(owner)) {
      throw new Error(`${subnet}.0/24 is in use by process ${owner || '?'} (lock file ${lock})`);
    }
    await fs.rm(lock, { force: true });
  }
}

/** Kills nothing but runs `script` when our end of its stdin closes (however we die). */
function startWatchdog(script: string): ChildProcess {
  const watchdog = spawn('sh', ['-c', `read _; ${script}`], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  watchdog.on('error', () => undefined);
  watchdog.unref();
  (watchdog.stdin as net.Socket | null)?.unref();
  return watchdog;
}

/**
 * Creates `nodes` namespaces on a bridge with `<subnet>.1/24` in the root namespace. Fails (after
 * removing what it made) if another live test process holds the subnet, or it is already on an
 * interface here.
 */
export async function createNodeNetwork(options: NodeNetworkOptions): Promise<NodeNetwork> {
  const { subnet, nodes: count } = options;
  if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(subnet) || count < 1 || count > 200) {
    throw new Error(`createNodeNetwork: bad subnet ${subnet} or node count ${count}`);
  }
  await removeLeftovers();
  const lock = await claimSubnet(subnet);
  const inUse = await ip(['-o', 'addr', 'show', 'to', `${subnet}.0/24`]).catch((err: Error) => {
    rmSync(lock, { force: true });
    throw err;
  });
  if (inUse.trim()) {
    rmSync(lock, { force: true });
    throw new Error(`createNodeNetwork: ${subnet}.0/24 is already in use here:\n${inUse}`);
  }

  const tag = `${NAME_PREFIX}${process.pid}`;
  const bridge = `${tag}b`;
  const nodes = Array.from({ length: count }, (_, i) => ({
    netns: `${NAME_PREFIX}-${process.pid}-${i}`,
    address: `${subnet}.${11 + i}`,
    hostEnd: `${tag}h${i}`,
    nodeEnd: `${tag}n${i}`,
  }));
  const script = removalScript(
    bridge,
    nodes.map((n) => n.hostEnd),
    nodes.map((n) => n.netns),
    lock,
  );
  const watchdog = startWatchdog(script);
  const onExit = (): void => {
    try {
      execFileSync('sh', ['-c', script], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // best effort: the watchdog runs the same removal once this process is gone
    }
  };
  process.once('exit', onExit);

  let removed: Promise<void> | undefined;
  const remove = (): Promise<void> => {
    removed ??= (async () => {
      process.removeListener('exit', onExit);
      for (const n of nodes) await ip(['netns', 'del', n.netns]).catch(() => undefined);
      for (const n of nodes) await ip(['link', 'del', n.hostEnd]).catch(() => undefined);
      await ip(['link', 'del', bridge]).catch(() => undefined);
      await fs.rm(lock, { force: true });
      watchdog.kill('SIGKILL');
    })();
    return removed;
  };

  try {
    await ip(['link', 'add', bridge, 'type', 'bridge']);
    await ip(['addr', 'add', `${subnet}.1/24`, 'dev', bridge]);
    await ip(['link', 'set', bridge, 'up']);
    for (const n of nodes) {
      await ip(['netns', 'add', n.netns]);
      await ip(['link', 'add', n.hostEnd, 'type', 'veth', 'peer', 'name', n.nodeEnd]);
      await ip(['link', 'set', n.hostEnd, 'master', bridge]);
      await ip(['link', 'set', n.hostEnd, 'up']);
      await ip(['link', 'set', n.nodeEnd, 'netns', n.netns]);
      const inNs = ['-n', n.netns];
      await ip([...inNs, 'link', 'set', n.nodeEnd, 'name', 'eth0']);
      // Only the connected /24 route: no default route, so a node reaches nothing else.
      await ip([...inNs, 'addr', 'add', `${n.address}/24`, 'dev', 'eth0']);
      await ip([...inNs, 'link', 'set', 'eth0', 'up']);
      await ip([...inNs, 'link', 'set', 'lo', 'up']);
    }
  } catch (err) {
    await remove();
    throw err;
  }

  return {
    hostAddress: `${subnet}.1`,
    nodes: nodes.map(({ netns, address }) => ({ netns, address })),
    commandIn: (node, command, args) => ['ip', ['netns', 'exec', node.netns, command, ...args]],
    remove,
  };
}
