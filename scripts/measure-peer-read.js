#!/usr/bin/env node
/**
 * Peer read throughput as a ratio to local reads, measured in one run (docs/benchmarks.md):
 * a private redis-server and two real agent processes (A, B) on loopback sharing it; for each of
 * R entries of S MiB written to A: a local read on A, the first read on B (a peer read: streamed
 * from A, verified, stored on B), and a second read on B (now local). Prints MB/s and the ratios.
 * Usage: npm run build && node scripts/measure-peer-read.js [MiB per entry = 256] [rounds = 3]
 * Never: used by the agent or the tests; it only measures.
 */
'use strict';
const { spawn } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const grpc = require('@grpc/grpc-js');
const { crc32c } = require('@checkpoint-cache/checksum');
const { checkpointCacheClientConstructor } = require('@checkpoint-cache/proto');

const MiB = 1024 * 1024;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port) {
  for (let i = 0; i < 300; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.end(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${port}`);
}

function write(client, key, data) {
  return new Promise((resolve, reject) => {
    const call = client.write((err, res) => (err ? reject(err) : resolve(res)));
    call.write({ header: { key, jobId: 'bench', checkpointId: 1, size: data.length } });
    for (let o = 0; o < data.length; o += MiB) {
      const part = data.subarray(o, o + MiB);
      call.write({ chunk: { offset: o, data: part, crc32c: crc32c(part) } });
    }
    call.end();
  });
}

/** Reads `key` whole; resolves with { source, bytes, seconds }. */
function read(client, key) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let bytes = 0;
    let source;
    const call = client.read({ key });
    call.on('data', (m) => {
      if (m.header) source = m.header.source;
      if (m.chunk) bytes += m.chunk.data.length;
    });
    call.on('error', reject);
    call.on('end', () =>
      resolve({ source, bytes, seconds: Number(process.hrtime.bigint() - started) / 1e9 }),
    );
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const mib = Number(process.argv[2] ?? 256);
  const rounds = Number(process.argv[3] ?? 3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckc-peer-bench-'));
  const children = [];
  const clients = [];
  try {
    const redisPort = await freePort();
    children.push(
      spawn('redis-server', ['--port', String(redisPort), '--save', '', '--appendonly', 'no'], {
        stdio: 'ignore',
      }),
    );
    await waitForPort(redisPort);
    const bin = path.join(__dirname, '..', 'agents', 'node-agent', 'bin', 'ckc-agent.js');
    const agents = [];
    for (const name of ['a', 'b']) {
      const port = await freePort();
      const env = Object.fromEntries(
        Object.entries(process.env).filter(([n]) => !n.startsWith('CKC_')),
      );
      const args = [
        bin,
        `--listen=127.0.0.1:${port}`,
        `--peer-address=127.0.0.1:${port}`,
        `--redis-url=redis://127.0.0.1:${redisPort}`,
        `--node-id=bench-${name}`,
        `--cache-dir=${path.join(dir, name)}`,
        '--socket=off',
        '--write-access=any',
        '--log-level=warn',
      ];
      children.push(spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env }));
      await waitForPort(port);
      const Client = checkpointCacheClientConstructor();
      const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
        'grpc-node.flow_control_window': 8 * MiB,
        'grpc.max_receive_message_length': 16 * MiB,
      });
      clients.push(client);
      agents.push(client);
    }
    const [a, b] = agents;
    const rates = { localA: [], peerB: [], localB: [] };
    for (let r = 0; r < rounds; r++) {
      const key = `hdfs://nn/bench/peer/${r}-${randomBytes(4).toString('hex')}`;
      await write(a, key, randomBytes(mib * MiB));
      const rate = (x) => x.bytes / MiB / x.seconds;
      const localA = await read(a, key);
      const peerB = await read(b, key);
      const localB = await read(b, key);
      if (peerB.source !== 'SOURCE_PEER' || localB.source !== 'SOURCE_LOCAL_DISK') {
        throw new Error(`unexpected sources ${peerB.source}, ${localB.source}`);
      }
      rates.localA.push(rate(localA));
      rates.peerB.push(rate(peerB));
      rates.localB.push(rate(localB));
    }
    const m = Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, median(v)]));
    console.log(
      JSON.stringify({
        entryMiB: mib,
        rounds,
        medianMiBps: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v)])),
        peerOverLocal: Number((m.peerB / m.localA).toFixed(2)),
        secondReadOverLocal: Number((m.localB / m.localA).toFixed(2)),
        all: Object.fromEntries(
          Object.entries(rates).map(([k, v]) => [k, v.map((x) => Math.round(x))]),
        ),
      }),
    );
  } finally {
    for (const c of clients) c.close();
    // Agents first (they close their Redis connections), then Redis.
    const [redis, ...agentChildren] = children;
    await Promise.all(
      agentChildren.map(
        (c) => new Promise((resolve) => (c.kill('SIGTERM'), c.once('exit', resolve))),
      ),
    );
    redis?.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
