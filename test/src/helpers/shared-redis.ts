/**
 * The mocha set-up of tests whose agents share one real redis-server and one key prefix, as a
 * DaemonSet's agents do: the server for the whole file, an admin connection, a fresh prefix for
 * each test, and the test's clean-up steps, run in reverse once it ends.
 * Owns: those hooks, the server, and stopping what a test started through it (agents, clients,
 * anything registered with onCleanup). Never: keys outside the test's prefix.
 */
import Redis from 'ioredis';
import { startTestAgent, type TestAgent } from './agent';
import { rawClient, type RawClient } from './raw-client';
import { startRedisServer, type RedisServerHandle } from './redis-server';

export interface SharedRedis {
  readonly redis: RedisServerHandle;
  /** A plain connection for the test's own look at Redis. */
  readonly admin: Redis;
  /** The key prefix of the running test. */
  readonly prefix: string;
  /** Runs `step` after the test, in reverse order of registration. */
  onCleanup(step: () => Promise<void>): void;
  /** A real agent on this Redis and prefix, stopped after the test. */
  agent(overrides?: Record<string, unknown>): Promise<TestAgent>;
  /** A raw gRPC client of `a`, closed after the test. */
  client(a: TestAgent): RawClient;
}

let seq = 0;

/** Registers the hooks in the calling `describe`; `name` starts every prefix. */
export function useSharedRedis(name: string, serverArgs: readonly string[] = []): SharedRedis {
  let redis: RedisServerHandle | undefined;
  let admin: Redis | undefined;
  let prefix = '';
  const cleanup: (() => Promise<void>)[] = [];
  before(async function () {
    redis = await startRedisServer(serverArgs.length > 0 ? { args: [...serverArgs] } : {});
    admin = new Redis(redis.url);
  });
  after(async function () {
    admin?.disconnect();
    await redis?.stop();
  });
  beforeEach(function () {
    prefix = `${name}-${process.pid}-${++seq}`;
  });
  afterEach(async function () {
    while (cleanup.length > 0) await cleanup.pop()!();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useSharedRedis: used before its before() hook ran');
    return value;
  };
  return {
    get redis() {
      return started(redis);
    },
    get admin() {
      return started(admin);
    },
    get prefix() {
      return prefix;
    },
    onCleanup(step) {
      cleanup.push(step);
    },
    async agent(overrides = {}) {
      const a = await startTestAgent({
        redisUrl: started(redis).url,
        redisPrefix: prefix,
        ...overrides,
      });
      cleanup.push(() => a.stop());
      return a;
    },
    client(a) {
      const c = rawClient(a.address);
      cleanup.push(async () => c.close());
      return c;
    },
  };
}
