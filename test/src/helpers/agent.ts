/**
 * A real node agent in this process for integration tests: gRPC on 127.0.0.1:<free port> and a
 * Unix socket, its own temp cache dir, node id and Redis key prefix, so tests never share state.
 * Logs are silent unless CKC_TEST_LOG is set (to a level, or anything else for debug).
 */
import { randomBytes } from 'node:crypto';
import type { NodeCache } from '@checkpoint-cache/cache';
import { loadAgentConfig, type AgentConfig } from '@checkpoint-cache/config';
import { createLogger, silentLogger, type LogLevel, type Logger } from '@checkpoint-cache/logger';
import { startNodeAgent, type RunningAgent } from '@checkpoint-cache/node-agent';
import { KeyBuilder, RedisMetadataStore, createRedisConnection } from '@checkpoint-cache/redis';
import { makeTempDir, removeTempDir } from './temp-dir';

export type TestAgentOverrides = Partial<AgentConfig> & { redisUrl: string };

const LEVELS: readonly string[] = ['error', 'warn', 'info', 'debug'];
let seq = 0;

/** The logger tests pass to agents: silent, or text on stderr when CKC_TEST_LOG is set. */
export function testLogger(): Logger {
  const wanted = process.env['CKC_TEST_LOG'];
  if (!wanted) return silentLogger;
  const level = (LEVELS.includes(wanted) ? wanted : 'debug') as LogLevel;
  return createLogger({ level, format: 'text' });
}

/**
 * A config for a test agent: free port, socket in `cacheDir`, unique node id and key prefix.
 * Writes are allowed over TCP too (--write-access any), since most tests write through
 * `address`; security.test.ts checks the default policy.
 */
export function testAgentConfig(cacheDir: string, overrides: TestAgentOverrides): AgentConfig {
  const unique = `${process.pid}-${++seq}-${randomBytes(3).toString('hex')}`;
  const base = loadAgentConfig({
    argv: [
      '--listen=127.0.0.1:0',
      `--cache-dir=${cacheDir}`,
      `--node-id=test-node-${unique}`,
      `--redis-prefix=ckc-test-${unique}`,
      `--redis-url=${overrides.redisUrl}`,
      '--shutdown-grace=5s',
      '--write-access=any',
    ],
    env: {},
  });
  return Object.freeze({ ...base, ...overrides });
}

/**
 * RunningAgent plus what tests need. After `restart()` the same object describes the new agent
 * (same cache dir, node id and prefix; a new TCP port), so `stop()` in an afterEach still works.
 */
export class TestAgent implements RunningAgent {
  private stopped: Promise<void> | undefined;

  private constructor(
    private agent: RunningAgent,
    readonly config: AgentConfig,
    /** This node's metadata as stored in Redis, read over a connection of the test's own. */
    readonly metadata: RedisMetadataStore,
    private readonly ownsCacheDir: boolean,
  ) {}

  static async start(overrides: TestAgentOverrides): Promise<TestAgent> {
    const cacheDir = overrides.cacheDir ?? (await makeTempDir('ckc-agent'));
    const config = testAgentConfig(cacheDir, overrides);
    const ownsCacheDir = overrides.cacheDir === undefined;
    let agent: RunningAgent;
    try {
      agent = await startNodeAgent(config, { logger: testLogger() });
    } catch (err) {
      if (ownsCacheDir) await removeTempDir(cacheDir);
      throw err;
    }
    const metadata = new RedisMetadataStore(
      createRedisConnection(overrides.redisUrl, { connectionName: `test:${agent.nodeId}` }),
      new KeyBuilder(config.redisPrefix, agent.nodeId),
    );
    return new TestAgent(agent, config, metadata, ownsCacheDir);
  }

  get nodeId(): string {
    return this.agent.nodeId;
  }
  get tcpAddress(): string | undefined {
    return this.agent.tcpAddress;
  }
  get socketPath(): string {
    return this.agent.socketPath ?? '';
  }
  get metricsAddress(): string | undefined {
    return this.agent.metricsAddress;
  }
  get cache(): NodeCache {
    return this.agent.cache;
  }
  /** `127.0.0.1:PORT`, for clients. */
  get address(): string {
    return this.agent.tcpAddress ?? '';
  }
  get cacheDir(): string {
    return this.config.cacheDir;
  }

  reloadTls(reason?: string): Promise<boolean> {
    return this.agent.reloadTls(reason);
  }

  shutdown(graceMs?: number): Promise<void> {
    return this.agent.shutdown(graceMs);
  }

  /** Shuts the agent down and starts it again on the same cache dir; returns this. */
  async restart(graceMs = 1000): Promise<TestAgent> {
    await this.agent.shutdown(graceMs);
    this.agent = await startNodeAgent(this.config, { logger: testLogger() });
    return this;
  }

  /** Shuts the agent down (1 s grace unless given), closes `metadata`, removes the cache dir. */
  stop(graceMs = 1000): Promise<void> {
    this.stopped ??= (async () => {
      await this.agent.shutdown(graceMs);
      await this.metadata.close();
      if (this.ownsCacheDir) await removeTempDir(this.cacheDir);
    })();
    return this.stopped;
  }
}

export function startTestAgent(overrides: TestAgentOverrides): Promise<TestAgent> {
  return TestAgent.start(overrides);
}
