/**
 * A network link of a chosen rate to a "remote" host, made from a network namespace and a veth
 * pair: the host end gets <net>.1/30, the namespace end <net>.2/30, and a tbf qdisc shapes both
 * directions. Traffic stays on that pair; nothing else on the machine is touched. The /30 is
 * picked from 10.213.x.0 so that it overlaps no address or route already present.
 * Owns: the namespace, the veth pair and their qdiscs, and removing them (also those of an
 * earlier run that was killed). Never: any other interface, route or namespace.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { startWatchdog } from './managed-child';

const run = promisify(execFile);
const NAMESPACE_PREFIX = 'ckc-bench-';

export class ShapedLink {
  private watchdog: ChildProcess | undefined;
  private removed: Promise<void> | undefined;

  private constructor(
    /** The namespace that holds the remote end. */
    readonly namespace: string,
    /** The host (client) end's address. */
    readonly hostAddress: string,
    /** The remote end's address, inside the namespace. */
    readonly remoteAddress: string,
    readonly bitsPerSecond: number,
    private readonly hostInterface: string,
  ) {}

  /** Rejects (with the `ip` error) when namespaces cannot be made here, e.g. without root. */
  static async create(bitsPerSecond: number): Promise<ShapedLink> {
    await ShapedLink.removeStale();
    const id = process.pid;
    const namespace = `${NAMESPACE_PREFIX}${id}`;
    const hostIf = `ckcb${id}h`;
    const remoteIf = `ckcb${id}n`;
    const net = await freeSubnet();
    const link = new ShapedLink(namespace, `${net}.1`, `${net}.2`, bitsPerSecond, hostIf);
    const inNs = (...args: string[]): Promise<unknown> =>
      run('ip', ['netns', 'exec', namespace, ...args]);
    const rate = `${Math.round(bitsPerSecond / 1000)}kbit`;
    // tbf: a burst well above one 64 KiB GSO segment, a queue of at most 20 ms at the rate.
    const tbf = ['root', 'tbf', 'rate', rate, 'burst', '512kb', 'latency', '20ms'];
    await run('ip', ['netns', 'add', namespace]);
    link.watchdog = startWatchdog(`ip netns del ${namespace}; ip link del ${hostIf}`);
    try {
      await run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', remoteIf]);
      await run('ip', ['link', 'set', remoteIf, 'netns', namespace]);
      await run('ip', ['addr', 'add', `${link.hostAddress}/30`, 'dev', hostIf]);
      await run('ip', ['link', 'set', hostIf, 'up']);
      await inNs('ip', 'addr', 'add', `${link.remoteAddress}/30`, 'dev', remoteIf);
      await inNs('ip', 'link', 'set', remoteIf, 'up');
      await inNs('ip', 'link', 'set', 'lo', 'up');
      await run('tc', ['qdisc', 'add', 'dev', hostIf, ...tbf]);
      await inNs('tc', 'qdisc', 'add', 'dev', remoteIf, ...tbf);
    } catch (err) {
      await link.remove();
      throw err;
    }
    return link;
  }

  /** Removes namespaces (and their veth pairs) left by bench runs whose process is gone. */
  static async removeStale(): Promise<void> {
    let list = '';
    try {
      list = (await run('ip', ['netns', 'list'])).stdout;
    } catch {
      return;
    }
    for (const line of list.split('\n')) {
      const match = new RegExp(`^${NAMESPACE_PREFIX}(\\d+)\\b`).exec(line.trim());
      if (!match || isAlive(Number(match[1]))) continue;
      await run('ip', ['netns', 'del', `${NAMESPACE_PREFIX}${match[1]}`]).catch(() => undefined);
      await run('ip', ['link', 'del', `ckcb${match[1]}h`]).catch(() => undefined);
    }
  }

  /** Deleting the namespace deletes the veth pair (and its qdiscs) with it. Idempotent. */
  remove(): Promise<void> {
    this.removed ??= (async () => {
      await run('ip', ['netns', 'del', this.namespace]).catch(() => undefined);
      await run('ip', ['link', 'del', this.hostInterface]).catch(() => undefined);
      this.watchdog?.kill('SIGKILL');
      this.watchdog = undefined;
    })();
    return this.removed;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `10.213.x` for the first x whose /30 at .0 clashes with no address or route on the host. */
async function freeSubnet(): Promise<string> {
  const [addrs, routes] = await Promise.all([
    run('ip', ['-o', '-4', 'addr', 'show']).then((r) => r.stdout),
    run('ip', ['-4', 'route', 'show', 'table', 'all']).then((r) => r.stdout),
  ]);
  const used = addrs + routes;
  for (let x = 0; x < 255; x++) {
    if (!used.includes(`10.213.${x}.`) && !used.includes('10.213.0.0/16')) return `10.213.${x}`;
  }
  throw new Error('no free 10.213.x.0/30 for the shaped link');
}
