/**
 * A real Redis Cluster for a test: `masters` redis-server processes (each started by
 * startRedisServer, so each has its own free port, temp dir, exit hook and watchdog, and none
 * outlives the test process), joined with `redis-cli --cluster create`, no replicas, no
 * persistence, keyspace events off. Also grows and reshapes the cluster, for topology tests.
 */
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './free-port';
import { startRedisServer, type RedisServerHandle } from './redis-server';
import { waitUntil } from './wait-until';

export interface RedisClusterOptions {
  /** Masters to start. Default 3 (the fewest `redis-cli --cluster create` accepts). */
  masters?: number;
  /** Extra redis-server arguments for every node. */
  args?: string[];
}

export interface RedisClusterHandle {
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...` */
  readonly url: string;
  /** Client ports of the nodes, in start order (added masters last). */
  readonly ports: number[];
  readonly servers: readonly RedisServerHandle[];
  /** The port of the master that serves `slot` now. */
  ownerOf(slot: number): Promise<number>;
  /** The hash slot of `key` (CLUSTER KEYSLOT). */
  slotOf(key: string): Promise<number>;
  /** Starts one more node and joins it to the cluster as a master without slots; its port. */
  addMaster(): Promise<number>;
  /** Makes the master on `toPort` serve `slot`, moving the slot's keys with it. */
  moveSlot(slot: number, toPort: number): Promise<void>;
  /** Makes the master on `port` leave the cluster (it must serve no slots) and stops it. */
  removeMaster(port: number): Promise<void>;
  /** Stops every node and removes their directories. Idempotent. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const CLUSTER_READY_TIMEOUT_MS = 20_000;

/** Runs redis-cli with `args`; rejects with its output if it fails. */
function redisCli(args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (data: Buffer): void => {
      output = (output + data.toString('utf8')).slice(-8000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`redis-cli could not be started (${err.message}); is it on PATH?`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`redis-cli ${args.join(' ')} failed (${signal ?? code}):\n${output}`));
    });
  });
}

/** A short-lived plain connection to one node (no cluster redirections). */
async function withNode<T>(port: number, fn: (node: Redis) => Promise<T>): Promise<T> {
  const node = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0 });
  node.on('error', () => undefined);
  try {
    await node.connect();
    return await fn(node);
  } finally {
    node.disconnect();
  }
}

async function clusterInfo(port: number): Promise<string> {
  return withNode(port, async (n) => String(await n.call('CLUSTER', 'INFO')));
}

async function nodeId(port: number): Promise<string> {
  return withNode(port, async (n) => String(await n.call('CLUSTER', 'MYID')));
}

/** The port of the master serving `slot`, as the node on `port` sees it. */
async function slotOwner(port: number, slot: number): Promise<number> {
  type SlotRange = [number, number, [string, number, ...unknown[]], ...unknown[]];
  const ranges = (await withNode(port, (n) => n.call('CLUSTER', 'SLOTS'))) as SlotRange[];
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (!range) throw new Error(`no master serves slot ${slot} (asked port ${port})`);
  return Number(range[2][1]);
}

/** Starts one cluster-enabled node; its cluster bus gets a free port of its own. */
async function startNode(extraArgs: string[]): Promise<RedisServerHandle> {
  for (let attempt = 1; ; attempt++) {
    // port + 10000 (the default bus port) may be taken or beyond 65535: choose it explicitly.
    const busPort = await freePort();
    try {
      return await startRedisServer({
        args: [
          '--cluster-enabled', 'yes',
          // Relative to the server's own --dir, a temp dir of its own.
          '--cluster-config-file', 'nodes.conf',
          '--cluster-port', String(busPort),
          '--cluster-node-timeout', '3000',
          // A master that gives away its last slot stays a master (and can be removed) instead
          // of turning into a replica of the slot's new owner.
          '--cluster-allow-replica-migration', 'no',
          ...extraArgs,
        ],
      }); // prettier-ignore
    } catch (err) {
      if (attempt >= 3 || !(err instanceof Error && /in use/i.test(err.message))) throw err;
    }
  }
}

/** Waits until every node in `ports` says cluster_state:ok and knows `expectedNodes` nodes. */
async function waitForClusterOk(ports: number[], expectedNodes: number): Promise<void> {
  await waitUntil(
    async () => {
      for (const port of ports) {
        const info = await clusterInfo(port);
        if (!info.includes('cluster_state:ok')) return false;
        if (!info.includes(`cluster_known_nodes:${expectedNodes}\r\n`)) return false;
      }
      return true;
    },
    {
      timeoutMs: CLUSTER_READY_TIMEOUT_MS,
      intervalMs: 50,
      message: `cluster_state:ok with ${expectedNodes} nodes on ports ${ports.join(', ')}`,
    },
  );
}

/** Starts the nodes, creates the cluster and waits until every node reports it ok. */
export async function startRedisCluster(
  options: RedisClusterOptions = {},
): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3;
  const args = options.args ?? [];
  const servers: RedisServerHandle[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) servers.push(await startNode(args));
    await redisCli([
      '--cluster', 'create',
      ...servers.map((s) => `${HOST}:${s.port}`),
      '--cluster-replicas', '0',
      '--cluster-yes',
    ]); // prettier-ignore
    await waitForClusterOk(
      servers.map((s) => s.port),
      masters,
    );
  } catch (err) {
    await stop();
    throw err;
  }

  const ports = (): number[] => servers.map((s) => s.port);
  const livePorts = (): number[] => servers.filter((s) => !removed.has(s.port)).map((s) => s.port);
  const removed = new Set<number>();
  const anyPort = (): number => livePorts()[0] ?? NaN;

  return {
    url: `redis+cluster://${ports()
      .map((p) => `${HOST}:${p}`)
      .join(',')}`,
    get ports() {
      return ports();
    },
    servers,
    async slotOf(key) {
      return withNode(anyPort(), async (n) => Number(await n.call('CLUSTER', 'KEYSLOT', key)));
    },
    ownerOf(slot) {
      return slotOwner(anyPort(), slot);
    },
    async addMaster() {
      const server = await startNode(args);
      servers.push(server);
      await redisCli([
        '--cluster', 'add-node', `${HOST}:${server.port}`, `${HOST}:${anyPort()}`,
      ]); // prettier-ignore
      await waitForClusterOk(livePorts(), livePorts().length);
      return server.port;
    },
    async moveSlot(slot, toPort) {
      const fromPort = await slotOwner(anyPort(), slot);
      if (fromPort === toPort) return;
      const [fromId, toId] = [await nodeId(fromPort), await nodeId(toPort)];
      // The documented live resharding steps for one slot (as `redis-cli --cluster reshard`).
      await withNode(toPort, (n) => n.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId));
      await withNode(fromPort, async (n) => {
        await n.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
        for (;;) {
          const keys = (await n.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
          if (keys.length === 0) break;
          await n.call('MIGRATE', HOST, toPort, '', 0, 5000, 'KEYS', ...keys);
        }
      });
      for (const port of [toPort, fromPort, ...livePorts()]) {
        await withNode(port, (n) => n.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId));
      }
      await waitUntil(
        async () => {
          for (const port of livePorts()) {
            if ((await slotOwner(port, slot)) !== toPort) return false;
          }
          return true;
        },
        { message: `every node to agree that port ${toPort} serves slot ${slot}` },
      );
    },
    async removeMaster(port) {
      const id = await nodeId(port);
      await redisCli(['--cluster', 'del-node', `${HOST}:${anyPort()}`, id]);
      removed.add(port);
      await servers.find((s) => s.port === port)?.stop();
      await waitForClusterOk(livePorts(), livePorts().length);
    },
    stop,
  };
}
