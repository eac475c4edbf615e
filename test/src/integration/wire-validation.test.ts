/**
 * Requests checked as bytes on the wire, sent as raw protobuf by a grpc-js client with identity
 * serializers (as a Go or C++ client could send them): string fields that are not UTF-8 and
 * uint64 values past 2^53 - 1 are refused with INVALID_ARGUMENT naming the field and, for
 * numbers, the exact value sent.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { crc32c } from '@checkpoint-cache/checksum';
import type { EntryInfo__Output } from '@checkpoint-cache/proto';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { rawClient, readEntry, unary, writeEntry, type RawClient } from '../helpers/raw-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { rejection } from '../helpers/rejection';
import { waitUntil } from '../helpers/wait-until';

const SERVICE = '/checkpointcache.v1.CheckpointCache';
const identity = (b: Buffer): Buffer => b;

function varint(value: bigint): Buffer {
  const out: number[] = [];
  let v = value;
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? low | 0x80 : low);
  } while (v > 0n);
  return Buffer.from(out);
}

/** A length-delimited field (string, bytes or message). */
function lenField(field: number, bytes: Buffer | string): Buffer {
  const body = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  return Buffer.concat([varint(BigInt((field << 3) | 2)), varint(BigInt(body.length)), body]);
}

function varintField(field: number, value: bigint): Buffer {
  return Buffer.concat([varint(BigInt(field << 3)), varint(value)]);
}

/** `inv/` followed by two bytes that are not UTF-8 in either order (both decode to U+FFFD). */
const BAD_KEY_A = Buffer.from([0x69, 0x6e, 0x76, 0x2f, 0xff, 0xfe]);
const BAD_KEY_B = Buffer.from([0x69, 0x6e, 0x76, 0x2f, 0xfe, 0xff]);
const U64_MAX = 2n ** 64n - 1n;

function expectStatus(err: unknown, code: grpc.status, pattern: RegExp): void {
  const e = err as grpc.ServiceError;
  expect(e, 'expected the call to fail').to.be.instanceOf(Error);
  expect(grpc.status[e.code], e.details).to.equal(grpc.status[code]);
  expect(e.details).to.match(pattern);
}

describe('requests checked on the wire', function () {
  let redis: RedisServerHandle;
  let agent: TestAgent;
  let raw: grpc.Client;
  let client: RawClient;

  before(async function () {
    redis = await startRedisServer();
    agent = await startTestAgent({ redisUrl: redis.url });
    raw = new grpc.Client(agent.address, grpc.credentials.createInsecure());
    client = rawClient(agent.address);
  });
  after(async function () {
    raw?.close();
    client?.close();
    await agent?.stop();
    await redis?.stop();
  });

  function unaryRaw(method: string, body: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      raw.makeUnaryRequest(`${SERVICE}/${method}`, identity, identity, body, (err, res) =>
        err ? reject(err) : resolve(res as Buffer),
      );
    });
  }

  function readRaw(body: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const call = raw.makeServerStreamRequest(`${SERVICE}/Read`, identity, identity, body);
      call.on('data', () => undefined);
      call.on('error', reject);
      call.on('end', resolve);
    });
  }

  function writeRaw(messages: Buffer[]): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const call = raw.makeClientStreamRequest(
        `${SERVICE}/Write`,
        identity,
        identity,
        (err, res) => (err ? reject(err) : resolve(res as Buffer)),
      );
      for (const m of messages) call.write(m);
      call.end();
    });
  }

  /** A WriteRequest holding a WriteHeader made of `fields`. */
  const writeHeader = (...fields: Buffer[]): Buffer => lenField(1, Buffer.concat(fields));

  async function expectNothingStored(): Promise<void> {
    expect(await fs.readdir(path.join(agent.cacheDir, 'tmp'))).to.deep.equal([]);
    expect(agent.cache.usage().entries).to.equal(0);
  }

  it('refuses a key that is not UTF-8 in Stat, Read, Delete, Touch, Lease, ReportCorrupt', async function () {
    for (const method of ['Stat', 'Delete', 'Touch', 'Lease', 'ReportCorrupt']) {
      const err = await rejection(unaryRaw(method, lenField(1, BAD_KEY_A)));
      expectStatus(err, grpc.status.INVALID_ARGUMENT, /^key is not valid UTF-8 \(6 bytes\)/);
    }
    const err = await rejection(readRaw(lenField(1, BAD_KEY_A)));
    expectStatus(err, grpc.status.INVALID_ARGUMENT, /^key is not valid UTF-8/);
  });

  it('refuses a Write whose header key or job_id is not UTF-8, storing nothing', async function () {
    const chunk = lenField(2, Buffer.concat([varintField(1, 0n), lenField(2, 'data')]));
    let err = await rejection(
      writeRaw([writeHeader(lenField(1, BAD_KEY_A), lenField(2, 'job')), chunk]),
    );
    expectStatus(err, grpc.status.INVALID_ARGUMENT, /^header\.key is not valid UTF-8/);
    err = await rejection(
      writeRaw([writeHeader(lenField(1, 'hdfs://nn/ok'), lenField(2, BAD_KEY_B)), chunk]),
    );
    expectStatus(err, grpc.status.INVALID_ARGUMENT, /^header\.job_id is not valid UTF-8/);
    await expectNothingStored();
  });

  it('refuses a WriteBatch with one item whose key is not UTF-8 as a whole, storing no item', async function () {
    // WriteBatchRequest { items (1): WriteBatchItem { header (1): WriteHeader, data (2) } }
    const item = (key: Buffer | string): Buffer =>
      lenField(1, Buffer.concat([lenField(1, lenField(1, key)), lenField(2, 'data')]));
    const err = await rejection(
      unaryRaw('WriteBatch', Buffer.concat([item('hdfs://nn/batch-ok'), item(BAD_KEY_A)])),
    );
    // The check knows the field's path, not which item: the whole call is refused.
    expectStatus(err, grpc.status.INVALID_ARGUMENT, /^items\.header\.key is not valid UTF-8/);
    await expectNothingStored();
  });

  it('refuses a job_id that is not UTF-8 in List and Release', async function () {
    for (const method of ['List', 'Release']) {
      const err = await rejection(unaryRaw(method, lenField(1, BAD_KEY_A)));
      expectStatus(err, grpc.status.INVALID_ARGUMENT, /^job_id is not valid UTF-8/);
    }
  });

  it('keeps keys that differ only in invalid bytes apart from a key spelling U+FFFD', async function () {
    // What protobufjs would decode both BAD_KEYs to; as real UTF-8 (EF BF BD) it is a valid key.
    const replacementKey = 'inv/\uFFFD\uFFFD';
    const data = Buffer.from('bytes of the key that really contains U+FFFD');
    const written = await writeEntry(
      client,
      { key: replacementKey, jobId: 'j', size: data.length, crc32c: crc32c(data) },
      data,
    );
    expect(written.created).to.equal(true);
    try {
      for (const bad of [BAD_KEY_A, BAD_KEY_B]) {
        const err = await rejection(readRaw(lenField(1, bad)));
        expectStatus(err, grpc.status.INVALID_ARGUMENT, /^key is not valid UTF-8/);
      }
      const read = await readEntry(client, { key: replacementKey });
      expect(read.data.equals(data)).to.equal(true);
      const info = await unary<object, EntryInfo__Output>(client, 'stat', { key: replacementKey });
      expect(info.key).to.equal(replacementKey);
    } finally {
      await unary(client, 'delete', { key: replacementKey });
    }
  });

  it('names the exact uint64 a caller sent past 2^53 - 1', async function () {
    let err = await rejection(
      writeRaw([writeHeader(lenField(1, 'hdfs://nn/big'), varintField(3, U64_MAX))]),
    );
    expectStatus(
      err,
      grpc.status.INVALID_ARGUMENT,
      /^header\.checkpoint_id must be a whole number from 0 to 9007199254740991, got 18446744073709551615$/,
    );
    err = await rejection(readRaw(Buffer.concat([lenField(1, 'k'), varintField(2, 2n ** 53n)])));
    expectStatus(err, grpc.status.INVALID_ARGUMENT, /^offset .* got 9007199254740992$/);
    // One below: an eight-byte varint that passes the check (the entry is simply not there).
    err = await rejection(
      readRaw(Buffer.concat([lenField(1, 'k'), varintField(2, 2n ** 53n - 1n)])),
    );
    expectStatus(err, grpc.status.NOT_FOUND, /.*/);
    err = await rejection(
      unaryRaw('Release', Buffer.concat([lenField(1, 'j'), varintField(2, U64_MAX)])),
    );
    expectStatus(
      err,
      grpc.status.INVALID_ARGUMENT,
      /^below_checkpoint_id .* got 18446744073709551615$/,
    );
    await expectNothingStored();
  });

  it('answers INVALID_ARGUMENT, not INTERNAL, to bytes that are not the request message', async function () {
    // Field 1 announces 5 bytes and carries 1.
    const err = await rejection(unaryRaw('Stat', Buffer.from([0x0a, 0x05, 0x61])));
    expectStatus(err, grpc.status.INVALID_ARGUMENT, /not a valid checkpointcache\.v1\.StatRequest/);
  });

  describe('Write chunks sent as raw frames (the agent decodes them without protobufjs)', function () {
    const header = (key: string, size: number): Buffer =>
      writeHeader(lenField(1, key), lenField(2, 'j'), varintField(4, BigInt(size)));
    const chunk = (...fields: Buffer[]): Buffer => lenField(2, Buffer.concat(fields));
    const data = Buffer.from('0123456789abcdef');
    const crc = BigInt(crc32c(data));

    it('stores chunks in any field order, with offset 0 or the CRC32C left out', async function () {
      const shapes: Record<string, Buffer[]> = {
        canonical: [chunk(varintField(1, 0n), lenField(2, data), varintField(3, crc))],
        'data first': [chunk(lenField(2, data), varintField(3, crc), varintField(1, 0n))],
        'offset 0 left out': [chunk(lenField(2, data), varintField(3, crc))],
        'no CRC32C, two chunks': [
          chunk(lenField(2, data.subarray(0, 5))),
          chunk(varintField(1, 5n), lenField(2, data.subarray(5))),
        ],
      };
      for (const [name, chunks] of Object.entries(shapes)) {
        const key = `hdfs://nn/raw-write/${name.replace(/\W/g, '-')}`;
        const res = await writeRaw([header(key, data.length), ...chunks]);
        expect(res.length, name).to.be.above(0);
        expect((await readEntry(client, { key })).data.equals(data), name).to.equal(true);
        await unary(client, 'delete', { key });
      }
    });

    it('refuses malformed chunk frames with INVALID_ARGUMENT, storing nothing', async function () {
      const cases: Record<string, [Buffer, RegExp]> = {
        'data running past the chunk': [
          chunk(varintField(1, 0n), Buffer.concat([Buffer.from([0x12, 50]), data])),
          /not a valid checkpointcache\.v1\.WriteRequest message/,
        ],
        'chunk running past the message': [
          Buffer.concat([Buffer.from([0x12, 0x7f]), lenField(2, data)]),
          /not a valid checkpointcache\.v1\.WriteRequest message/,
        ],
        'offset 2^64 - 1': [
          chunk(varintField(1, U64_MAX), lenField(2, data)),
          /^chunk\.offset must be a whole number from 0 to 9007199254740991, got 18446744073709551615$/,
        ],
        'wire type 7': [
          chunk(Buffer.from([0x0f]), lenField(2, data)),
          /not a valid checkpointcache\.v1\.WriteRequest message/,
        ],
        'a number cut short': [
          chunk(lenField(2, data), Buffer.from([0x08, 0xff])),
          /not a valid checkpointcache\.v1\.WriteRequest message/,
        ],
        'a CRC32C that does not match': [
          chunk(varintField(1, 0n), lenField(2, data), varintField(3, crc ^ 1n)),
          /chunk at offset 0 has CRC32C .* but the message says .*damaged in transit/,
        ],
      };
      for (const [name, [bad, pattern]] of Object.entries(cases)) {
        const err = await rejection(writeRaw([header(`hdfs://nn/raw-bad/${name}`, 16), bad]));
        expectStatus(err, grpc.status.INVALID_ARGUMENT, pattern);
        await waitUntil(
          async () => (await fs.readdir(path.join(agent.cacheDir, 'tmp'))).length === 0,
          { message: `${name}: the refused write left its temp file behind` },
        );
        await expectNothingStored();
      }
    });
  });

  // grpc-js refuses the message before any handler sees it and sends its own words; no server
  // option or interceptor can change them (the documented limit is all a caller gets).
  it('refuses a message over 16 MiB with grpc-js RESOURCE_EXHAUSTED, keeping nothing', async function () {
    const tmp = path.join(agent.cacheDir, 'tmp');
    const done = new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.write((e) => resolve(e));
      call.write({ header: { key: 'hdfs://nn/huge-chunk', jobId: 'j' } });
      // The oversized chunk goes only once the agent has staged the write, so the check below
      // that nothing is left cannot run before the temp file exists.
      void waitUntil(async () => (await fs.readdir(tmp)).length === 1, {
        message: 'the write was never staged',
      }).then(() => call.write({ chunk: { offset: 0, data: Buffer.alloc(16 * 1024 * 1024 + 1) } }));
    });
    const err = await done;
    expectStatus(
      err,
      grpc.status.RESOURCE_EXHAUSTED,
      /^Received message larger than max \(\d+ vs\.? 16777216\)$/,
    );
    await waitUntil(async () => (await fs.readdir(path.join(agent.cacheDir, 'tmp'))).length === 0, {
      message: 'the refused write left its temp file behind',
    });
    await expectNothingStored();
  });

  it('still serves well-formed requests afterwards', async function () {
    const err = await rejection(unary(client, 'stat', { key: 'hdfs://nn/absent' }));
    expectStatus(err, grpc.status.NOT_FOUND, /not cached/);
  });
});
