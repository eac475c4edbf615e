/**
 * A bounded ghz smoke against a real test agent: the Stat and small-Read configs of test/load/
 * (the ones `npm run load` uses), cut down to 3000 calls at concurrency 20, must end with every
 * call OK. ghz comes from PATH or <repo>/.load/bin; when neither has it, it is installed there
 * with `go install` of the pinned version (CI has Go and the module proxy), bounded in time.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { GO_TOOL_INSTALL_TIMEOUT_MS, Ghz } from '@checkpoint-cache/bench';
import { CheckpointCacheClient } from '@checkpoint-cache/client';
import { CHECKPOINT_CACHE_PROTO, PROTO_ROOT } from '@checkpoint-cache/proto';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';

const run = promisify(execFile);

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const LOAD_CONFIGS = path.join(REPO_ROOT, 'test', 'load');
const CALLS = 3000;
const CONCURRENCY = 20;
/** The entry the configs read (LOAD_ENTRIES in agents/bench/src/load-run.ts). */
const SMALL_KEY = 'load/small-4MiB';

interface GhzJson {
  count: number;
  rps: number;
  errorDistribution: Record<string, number> | null;
  statusCodeDistribution: Record<string, number> | null;
}

describe('ghz smoke (test/load configs against a real agent)', function () {
  let ghz: string;
  let redis: RedisServerHandle;
  let agent: TestAgent;

  before(async function () {
    this.timeout(GO_TOOL_INSTALL_TIMEOUT_MS + 30_000);
    ghz = (await Ghz.ensure(REPO_ROOT, (line) => process.stdout.write(`      ${line}\n`)))
      .executable;
    redis = await startRedisServer();
    agent = await startTestAgent({ redisUrl: redis.url });
    // Writes go over the Unix socket: agents accept changes only there by default.
    const client = new CheckpointCacheClient({ agent: `unix:${agent.socketPath}` });
    try {
      await client.write(SMALL_KEY, randomBytes(4 * 1024 * 1024), {
        jobId: 'ghz',
        checkpointId: 1,
      });
    } finally {
      client.close();
    }
  });

  after(async function () {
    this.timeout(20_000);
    await agent?.stop();
    await redis?.stop();
  });

  for (const config of ['stat.json', 'read-small.json']) {
    it(`${config}: ${CALLS} calls at concurrency ${CONCURRENCY}, all OK`, async function () {
      this.timeout(60_000);
      const { stdout } = await run(
        ghz,
        [
          '--config', path.join(LOAD_CONFIGS, config),
          '--proto', CHECKPOINT_CACHE_PROTO,
          '--import-paths', PROTO_ROOT,
          '--total', String(CALLS),
          '--concurrency', String(CONCURRENCY),
          '--skipFirst', '0',
          '--format', 'json',
          agent.address,
        ], // prettier-ignore
        // Not ghz's --max-duration: with a config file it makes ghz ignore --total.
        { timeout: 50_000, maxBuffer: 64 * 1024 * 1024 },
      );
      const report = JSON.parse(stdout) as GhzJson;
      const seen = `ghz: ${report.count} calls at ${report.rps.toFixed(0)} rps`;
      expect(report.errorDistribution ?? {}, `errorDistribution (${seen})`).to.deep.equal({});
      expect(report.statusCodeDistribution ?? {}, 'statusCodeDistribution').to.deep.equal({
        OK: CALLS,
      });
      expect(report.count).to.equal(CALLS);
    });
  }
});
