/**
 * /metrics after real traffic: every counter moved by exactly what the traffic did, and the text
 * passes Prometheus' own checker (promtool, from Debian's prometheus package).
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { entryIdOf } from '@checkpoint-cache/cache';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { rawClient, readEntry, unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';

async function scrape(address: string): Promise<string> {
  const res = await fetch(`http://${address}/metrics`);
  expect(res.status).to.equal(200);
  expect(res.headers.get('content-type')).to.match(/^text\/plain/);
  return res.text();
}

/** The value of one sample, e.g. `ckc_reads_total{outcome="hit"}`. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  if (line === undefined) throw new Error(`no sample ${series} in /metrics`);
  return Number(line.slice(series.length + 1));
}

describe('metrics', function () {
  this.timeout(60_000);
  let redis: RedisServerHandle;
  let agent: TestAgent;
  let client: RawClient;

  before(async function () {
    redis = await startRedisServer();
    agent = await startTestAgent({ redisUrl: redis.url, metricsListen: '127.0.0.1:0' });
    await agent.cache.whenIndexReady();
    client = rawClient(agent.address);
  });
  after(async function () {
    client?.close();
    await agent?.stop();
    await redis?.stop();
  });

  it('counts reads, writes, bytes and removals exactly', async function () {
    const a = randomBytes(1000);
    const b = randomBytes(300_000);
    await writeEntry(client, { key: 'm/a', jobId: 'j' }, a);
    await writeEntry(client, { key: 'm/b', jobId: 'j' }, b);
    await writeEntry(client, { key: 'm/a', jobId: 'j' }, a); // exists
    await writeEntry(client, { key: 'm/a', jobId: 'j' }, randomBytes(1000)).catch(() => undefined); // rejected
    await readEntry(client, { key: 'm/a' });
    await readEntry(client, { key: 'm/b', offset: 10, length: 100 });
    await readEntry(client, { key: 'm/missing' }).catch(() => undefined);
    await unary(client, 'lease', { key: 'm/b', durationMs: 1000 });
    await unary(client, 'lease', { key: 'm/missing' }).catch(() => undefined);
    await readEntry(client, { key: '' }).catch(() => undefined);
    // Corrupt the second block of b: the first block is sent, then DATA_LOSS.
    const id = entryIdOf('m/b');
    const file = path.join(agent.cacheDir, 'entries', id.slice(0, 2), id);
    const handle = await fs.open(file, 'r+');
    await handle.write(Buffer.from([b[270_000]! ^ 1]), 0, 1, 270_000);
    await handle.close();
    await readEntry(client, { key: 'm/b' }).catch(() => undefined);
    await unary(client, 'delete', { key: 'm/a' });

    const text = await scrape(agent.metricsAddress!);
    expect(sample(text, 'ckc_reads_total{outcome="hit"}')).to.equal(2);
    expect(sample(text, 'ckc_reads_total{outcome="miss"}')).to.equal(1);
    expect(sample(text, 'ckc_reads_total{outcome="invalid"}')).to.equal(1);
    expect(sample(text, 'ckc_reads_total{outcome="data_loss"}')).to.equal(1);
    expect(sample(text, 'ckc_read_bytes_total')).to.equal(1000 + 100 + 262_144);
    expect(sample(text, 'ckc_read_first_byte_seconds_count')).to.equal(3);
    expect(sample(text, 'ckc_writes_total{outcome="created"}')).to.equal(2);
    expect(sample(text, 'ckc_writes_total{outcome="exists"}')).to.equal(1);
    expect(sample(text, 'ckc_writes_total{outcome="rejected"}')).to.equal(1);
    expect(sample(text, 'ckc_written_bytes_total')).to.equal(301_000);
    expect(sample(text, 'ckc_leases_total')).to.equal(1);
    expect(sample(text, 'ckc_leased_bytes_total')).to.equal(300_000);
    expect(sample(text, 'ckc_entries_removed_total{reason="corruption"}')).to.equal(1);
    expect(sample(text, 'ckc_entries_removed_total{reason="delete"}')).to.equal(1);
    expect(sample(text, 'ckc_removed_bytes_total{reason="corruption"}')).to.equal(300_000);
    expect(sample(text, 'ckc_entries')).to.equal(0);
    expect(sample(text, 'ckc_entry_bytes')).to.equal(0);
    expect(sample(text, 'ckc_streams_in_flight{rpc="Read"}')).to.equal(0);
    expect(sample(text, 'ckc_streams_in_flight{rpc="Write"}')).to.equal(0);
    expect(sample(text, 'ckc_redis_connected')).to.equal(1);
    expect(sample(text, 'ckc_index_ready')).to.equal(1);
    expect(sample(text, 'ckc_zero_copy_framing')).to.equal(1);
    expect(sample(text, 'ckc_reconcile_runs_total{result="ok"}')).to.be.at.least(1);
    expect(text).to.match(/^process_resident_memory_bytes \d+/m);
  });

  it('parses with promtool check metrics, and our own metrics lint clean', async function () {
    const found = spawnSync('promtool', ['--version'], { stdio: 'ignore' });
    if (found.error) {
      throw new Error('promtool is missing: apt-get install -y prometheus (.ci/run does this)');
    }
    const text = await scrape(agent.metricsAddress!);
    const result = await new Promise<{ code: number; output: string }>((resolve) => {
      const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) =>
        resolve({
          code: err ? Number((err as { code?: number }).code ?? 1) : 0,
          output: stdout + stderr,
        }),
      );
      child.stdin?.end(text);
    });
    // promtool exits 1 when the text does not parse, 3 when it only has lint findings. The only
    // findings allowed are prom-client's own default gauges named *_total (nodejs_active_*).
    expect(result.output).not.to.match(/error while linting/);
    expect(result.code, result.output).to.be.oneOf([0, 3]);
    const findings = result.output.split('\n').filter((l) => l.trim() !== '');
    for (const f of findings)
      expect(f, 'lint finding on a metric of ours').to.match(/^nodejs_active_/);
  });
});
