/**
 * The 500-node simulation of issue 16: many simulated nodes issue the agent's Redis command mix
 * against one real redis-server, through the agent's own RedisMetadataStore (its Lua scripts, key
 * builder and location index; nothing re-implemented here), and the run measures what Redis
 * pays: ops/s and CPU (INFO stats and cpu over the window), each command's server time (INFO
 * commandstats) and the round trip each simulated operation saw (p50/p99).
 *
 * Each node holds `heldEntries` real records (Redis memory is measured per entry on them; holding
 * 100,000 per node for 500 nodes would take ~20 GB here) and issues commands at the rates of a node
 * holding `modelEntries` (default 100,000), `speedup` times faster:
 * - reconcile by deadline: `ttlStates` (one PTTL per entry) and `advertise` (one SADD per entry)
 *   for 0.18 entries per entry-hour (`scale.reconcile_ops_per_entry_hour`, measured);
 * - churn: each entry written and expired once a day: `register` (SADD + registerEntry) with a
 *   short TTL; once it has run out the node's reconcile by deadline checks it (PTTL), which makes
 *   Redis expire the key and publish the event to the node's pattern subscription (one
 *   PSUBSCRIBE per node, as each agent has); the node answers as the agent does: `claimExpired`
 *   then `remove` (removeEntry + SREM). (Redis's own active expiry finds a few keys expiring among
 *   millions only slowly: it walks the expires table ~25 keys per 100 ms cycle when little is due.)
 * - touches: `touchPerEntryDay` reads per entry a day, batched per tick as the agent batches them;
 * - the node-id lease: `claimNode` every 10 s.
 * Owns: the model of one node's command mix and the measurement. Never: assert a figure.
 */
import Redis from 'ioredis';
import { createHash } from 'node:crypto';
import type { EntryMetadata } from '@checkpoint-cache/cache';
import { silentLogger } from '@checkpoint-cache/logger';
import {
  KeyBuilder,
  RedisMetadataStore,
  createRedisConnection,
  parseRedisUrl,
} from '@checkpoint-cache/redis';
import { percentile } from './sample-statistics';

export interface ScaleSimOptions {
  /** One server (redis://) or a Redis Cluster whose seeds are all its masters (redis+cluster://). */
  redisUrl: string;
  nodes: number;
  heldEntries: number;
  modelEntries: number;
  seconds: number;
  speedup: number;
  touchPerEntryDay: number;
  /** Connections the simulated nodes share (an agent has one; the generator needs fewer). */
  connections: number;
  say: (line: string) => void;
}

export interface ScaleSimResult {
  entries: number;
  redisBytesPerEntry: number;
  /** Every command Redis ran, those its Lua scripts called included. */
  opsPerS: number;
  /** Commands the simulated agents sent (a script call counts once). */
  clientOpsPerS: number;
  redisCpuPercent: number;
  modelOpsPerNodeS: number;
  commands: Record<string, { calls: number; usecPerCall: number }>;
  latencyMs: Record<string, { p50: number; p99: number; n: number }>;
}

const PREFIX = 'sim';
const DAY_S = 86_400;
const RECONCILE_PER_ENTRY_HOUR = 0.18;
const LEASE_EVERY_S = 10;
const TICK_MS = 100;
const CHURN_TTL_MS = 1_000;
const LONG_TTL_MS = 7 * DAY_S * 1000;
/** Commands the agent sends itself (everything else in commandstats ran inside a script). */
const SENT_BY_AGENT = new Set(['evalsha', 'eval', 'pttl', 'hexists', 'sadd', 'srem', 'smembers']);

class SimNode {
  readonly ids: string[] = [];
  /** Churned entries and when their TTL runs out: reconcile by deadline checks them then. */
  private readonly due: { id: string; atMs: number }[] = [];
  private churned = 0;
  private carry = { reconcile: 0, churn: 0, touch: 0, lease: 0 };
  private scan = 0;

  constructor(
    readonly index: number,
    readonly store: RedisMetadataStore,
  ) {}

  entry(i: number, ttlMs: number): EntryMetadata {
    const key = `hdfs://nn/flink/checkpoints/job-${this.index}/shared/${i}`;
    const now = Date.now();
    return {
      key,
      id: createHash('sha256').update(key).digest('hex'),
      jobId: `job-${this.index}`,
      checkpointIds: [1],
      size: 4096,
      crc32c: 1,
      createdAtMs: now,
      lastAccessMs: now,
      ttlMs,
    };
  }

  /** What this node issues in one tick of `dtS` seconds at `rates` per second. */
  tick(rates: Rates, dtS: number, timed: Timed): Promise<unknown>[] {
    const work: Promise<unknown>[] = [];
    const c = this.carry;
    c.reconcile += rates.reconcile * dtS;
    c.churn += rates.churn * dtS;
    c.touch += rates.touch * dtS;
    c.lease += dtS / LEASE_EVERY_S;
    const take = (k: keyof typeof c): number => {
      const n = Math.floor(c[k]);
      c[k] -= n;
      return n;
    };
    // Reconcile by deadline: the sweep's share plus entries whose TTL ran out; a PTTL of an
    // expired key makes Redis expire it now and publish the event (which the node then handles).
    const now = Date.now();
    let dueCount = 0;
    while (dueCount < this.due.length && this.due[dueCount]!.atMs <= now) dueCount++;
    const dueIds = this.due.splice(0, dueCount).map((d) => d.id);
    const swept = this.next(take('reconcile'));
    if (swept.length + dueIds.length > 0) {
      const ids = [...swept, ...dueIds];
      work.push(timed('reconcile ttlStates', () => this.store.ttlStates(ids)));
      if (swept.length > 0) {
        work.push(timed('reconcile advertise', () => this.store.advertise(swept)));
      }
    }
    for (let n = take('churn'); n > 0; n--) {
      const e = this.entry(this.ids.length + ++this.churned, CHURN_TTL_MS);
      work.push(timed('register', () => this.store.register(e)));
      this.due.push({ id: e.id, atMs: now + CHURN_TTL_MS + 50 });
    }
    const touches = take('touch');
    if (touches > 0) {
      const at = Date.now();
      const batch = this.next(touches).map((id) => ({ id, atMs: at, ttlMs: LONG_TTL_MS }));
      work.push(timed('touch batch', () => this.store.touch(batch)));
    }
    if (take('lease') > 0) {
      work.push(timed('lease', () => this.store.claimNode(`sim-${this.index}`, 30_000)));
    }
    return work;
  }

  private next(n: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.ids[this.scan++ % this.ids.length]!);
    return out;
  }
}

interface Rates {
  reconcile: number;
  churn: number;
  touch: number;
}

type Timed = <T>(name: string, fn: () => Promise<T>) => Promise<T | undefined>;

export async function runScaleSim(o: ScaleSimOptions): Promise<ScaleSimResult> {
  // Statistics and settings are per server: on a cluster each master is asked and the sums taken.
  const endpoint = parseRedisUrl(o.redisUrl);
  const servers = endpoint.cluster ?? [{ host: endpoint.host!, port: endpoint.port! }];
  const admins = servers.map((s) => new Redis(s.port, s.host));
  const admin = new Servers(admins);
  const connections = Array.from({ length: o.connections }, () => {
    const c = createRedisConnection(o.redisUrl);
    c.setMaxListeners(0); // every simulated node's store listens on its shared connection
    return c;
  });
  // Each master publishes the events of its own keys: every node subscribes on every master, as
  // the agent's expiry watcher does on a cluster.
  const perServer = Math.max(1, Math.ceil(Math.min(o.connections, o.nodes) / servers.length));
  const subscribers = servers.map((s) =>
    Array.from({ length: perServer }, () => new Redis(s.port, s.host)),
  );
  const nodes = Array.from({ length: o.nodes }, (_, i) => {
    const keys = new KeyBuilder(PREFIX, `sim-node-${String(i).padStart(4, '0')}`);
    const store = new RedisMetadataStore(connections[i % connections.length]!, keys, silentLogger, {
      ownsConnection: false,
    });
    return new SimNode(i, store);
  });
  try {
    // What the agent's expiry watcher sets: keyspace events (K) of expired keys (x).
    await admin.config('SET', 'notify-keyspace-events', 'Kx');
    await Promise.all(nodes.map((n) => n.store.ready()));

    // 1. Populate: heldEntries long-lived records per node, registered as the agent registers.
    const before = await usedMemory(admin);
    o.say(`registering ${o.nodes} × ${o.heldEntries} entries`);
    for (const node of nodes) {
      for (let i = 0; i < o.heldEntries; i += 500) {
        const batch = Array.from({ length: Math.min(500, o.heldEntries - i) }, (_, j) =>
          node.entry(i + j, LONG_TTL_MS),
        );
        await Promise.all(batch.map((e) => node.store.register(e)));
        node.ids.push(...batch.map((e) => e.id));
      }
    }
    const entries = o.nodes * o.heldEntries;
    const redisBytesPerEntry = ((await usedMemory(admin)) - before) / entries;

    // 2. Each node's pattern subscription; an expired churn entry is handled as the agent does.
    const latencies = new Map<string, number[]>();
    let failures = 0;
    const timed: Timed = async (name, fn) => {
      const t0 = performance.now();
      try {
        return await fn();
      } catch (err) {
        if (failures++ === 0) o.say(`  first failure (${name}): ${String(err)}`);
        return undefined;
      } finally {
        let list = latencies.get(name);
        if (!list) latencies.set(name, (list = []));
        list.push(performance.now() - t0);
      }
    };
    const byPattern = new Map<string, SimNode>();
    await Promise.all(
      nodes.map((node, i) => {
        const pattern = `__keyspace@0__:${node.store.keys.ttlPattern()}`;
        byPattern.set(pattern, node);
        return Promise.all(subscribers.map((subs) => subs[i % perServer]!.psubscribe(pattern)));
      }),
    );
    for (const sub of subscribers.flat()) {
      sub.on('pmessage', (pattern: string, channel: string, event: string) => {
        const node = byPattern.get(pattern);
        if (!node || event !== 'expired') return;
        const id = node.store.keys.idOfTtlKey(channel.slice(channel.indexOf(':') + 1));
        if (!id) return;
        void timed('expiry claim+remove', async () => {
          if (await node.store.claimExpired(id)) await node.store.remove(id);
        });
      });
    }

    // 3. The window: every node's mix at the model's rates.
    const m = o.modelEntries;
    const rates: Rates = {
      reconcile: ((m * RECONCILE_PER_ENTRY_HOUR) / 3600) * o.speedup,
      churn: (m / DAY_S) * o.speedup,
      touch: ((m * o.touchPerEntryDay) / DAY_S) * o.speedup,
    };
    // Commands per node per second of that mix: PTTL + SADD; SADD + script, claim + remove + SREM.
    const modelOpsPerNodeS =
      rates.reconcile * 2 + rates.churn * 5 + rates.touch + 1 / LEASE_EVERY_S;
    o.say(
      `window of ${o.seconds} s: per node ${rates.reconcile.toFixed(1)} reconcile checks/s, ` +
        `${rates.churn.toFixed(2)} writes+expiries/s, ${rates.touch.toFixed(2)} touches/s ` +
        `(≈ ${modelOpsPerNodeS.toFixed(1)} commands/s; ${o.nodes} nodes ≈ ` +
        `${(modelOpsPerNodeS * o.nodes).toFixed(0)}/s)`,
    );
    await admin.config('RESETSTAT');
    const cpu0 = await redisCpu(admin);
    const t0 = performance.now();
    const inFlight = new Set<Promise<unknown>>();
    let last = t0;
    while (performance.now() - t0 < o.seconds * 1000) {
      await sleep(TICK_MS);
      const now = performance.now();
      const dtS = (now - last) / 1000;
      last = now;
      for (const node of nodes) {
        for (const p of node.tick(rates, dtS, timed)) {
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p));
        }
      }
    }
    await Promise.all(inFlight);
    const wallS = (performance.now() - t0) / 1000;
    const cpuS = (await redisCpu(admin)) - cpu0;
    const processed = await admin.sum('stats', 'total_commands_processed');
    const commands = await admin.commandStats();
    const sent = Object.entries(commands)
      .filter(([name]) => SENT_BY_AGENT.has(name))
      .reduce((sum, [, c]) => sum + c.calls, 0);
    const latencyMs: ScaleSimResult['latencyMs'] = {};
    for (const [name, list] of latencies) {
      latencyMs[name] = { p50: percentile(list, 50), p99: percentile(list, 99), n: list.length };
    }
    if (failures > 0) o.say(`  ${failures} simulated operations failed`);
    const expired = await admin.sum('stats', 'expired_keys');
    o.say(`  ${expired} keys expired in the window`);
    return {
      entries,
      redisBytesPerEntry,
      opsPerS: processed / wallS,
      clientOpsPerS: sent / wallS,
      redisCpuPercent: (cpuS / wallS) * 100,
      modelOpsPerNodeS,
      commands,
      latencyMs,
    };
  } finally {
    await Promise.all(nodes.map((n) => n.store.close()));
    for (const c of [...connections, ...subscribers.flat(), ...admins]) c.disconnect();
  }
}

/** The servers of the run (one, or every master of a cluster): settings to all, figures summed. */
class Servers {
  constructor(private readonly admins: Redis[]) {}

  async config(...args: [string, ...string[]]): Promise<void> {
    await Promise.all(this.admins.map((a) => a.call('CONFIG', ...args)));
  }

  /** INFO of every server, one field summed. */
  async sum(section: string, field: string): Promise<number> {
    const infos = await Promise.all(this.admins.map((a) => a.info(section)));
    const re = new RegExp(`^${field}:([\\d.]+)`, 'm');
    return infos.reduce((total, info) => total + Number(re.exec(info)![1]), 0);
  }

  /** Per command: calls summed, server time per call weighted by calls. */
  async commandStats(): Promise<ScaleSimResult['commands']> {
    const out: ScaleSimResult['commands'] = {};
    const re = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm;
    for (const info of await Promise.all(this.admins.map((a) => a.info('commandstats')))) {
      for (const m of info.matchAll(re)) {
        const c = (out[m[1]!] ??= { calls: 0, usecPerCall: 0 });
        const usec = c.usecPerCall * c.calls + Number(m[3]);
        c.calls += Number(m[2]);
        c.usecPerCall = Math.round((usec / c.calls) * 100) / 100;
      }
    }
    return out;
  }
}

async function usedMemory(servers: Servers): Promise<number> {
  return servers.sum('memory', 'used_memory');
}

/** Seconds of CPU the servers used (user + system, all threads). */
async function redisCpu(servers: Servers): Promise<number> {
  return (await servers.sum('cpu', 'used_cpu_sys')) + (await servers.sum('cpu', 'used_cpu_user'));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
