/**
 * The short circuit of an entry that shares its file with others (issue #16: the agent packs
 * small entries several to a file): the client asks with accept_offset, reads entry.size bytes
 * from the lease's data_offset and nothing around them, and streams from the agent when the file
 * is too short or the lease is refused with FAILED_PRECONDITION. The agent does not pack entries
 * yet (its data_offset is always 0), so the leases come from FakeCacheServer, hand-made and
 * pointing into a real file with other bytes before and after the entry.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { crc32c } from '@checkpoint-cache/checksum';
import { CheckpointCacheClient } from '@checkpoint-cache/client';
import type { LeaseResponse } from '@checkpoint-cache/proto';
import { FakeCacheServer } from '../helpers/fake-cache-server';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';

const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = 4 * KiB;
/** Over two of the client's 1 MiB spans, so the read ahead runs too; a short last block. */
const SIZE = 2 * MiB + 3 * BLOCK + 777;
/** Not a multiple of BLOCK: a reader that aligned file offsets to blocks would read the wrong bytes. */
const BEFORE = 5_000;
const AFTER = 3_000;

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

function blockCrcs(data: Buffer): Buffer {
  const blocks = Math.ceil(data.length / BLOCK);
  const crcs = Buffer.alloc(blocks * 4);
  for (let b = 0; b < blocks; b++) {
    crcs.writeUInt32BE(crc32c(data.subarray(b * BLOCK, (b + 1) * BLOCK)), b * 4);
  }
  return crcs;
}

describe('same-node short circuit of an entry in a shared file', function () {
  this.timeout(30_000);
  let fake: FakeCacheServer;
  let root: string;
  let client: CheckpointCacheClient;
  const data = randomBytes(SIZE);
  const before = randomBytes(BEFORE);
  const after = randomBytes(AFTER);

  /** The entry's file below the cache root, written as `bytes`, and its lease from `dataOffset`. */
  async function leased(key: string, bytes: Buffer, dataOffset: number): Promise<void> {
    const relativePath = path.join('packs', `${key.replace(/\W/g, '_')}.pack`);
    await fs.mkdir(path.join(root, 'packs'), { recursive: true });
    await fs.writeFile(path.join(root, relativePath), bytes);
    fake.put(key, { data });
    const lease: LeaseResponse = {
      entry: { key, size: SIZE, crc32c: crc32c(data), nodeId: 'fake-node' },
      cacheRoot: root,
      relativePath,
      blockSize: BLOCK,
      blockCrc32c: blockCrcs(data),
      expiresAtMs: Date.now() + 60_000,
      dataOffset,
    };
    fake.leases.set(key, lease);
  }

  beforeEach(async function () {
    fake = await FakeCacheServer.start();
    root = await makeTempDir('ckc-shared-file');
    client = new CheckpointCacheClient({ agent: fake.address, shortCircuit: true });
  });
  afterEach(async function () {
    client?.close();
    await fake?.stop();
    if (root) await removeTempDir(root);
  });

  it('reads entry.size bytes from data_offset, whole and in ranges, asking with accept_offset', async function () {
    await leased('packed', Buffer.concat([before, data, after]), BEFORE);
    expect((await readAll(client.read('packed'))).equals(data), 'whole entry').to.equal(true);
    const ranges = [
      { offset: BLOCK - 5, length: 2 * BLOCK + 10 }, // across block boundaries
      { offset: MiB - 100, length: BLOCK + 200 }, // across the client's 1 MiB spans
      { offset: 0, length: 10 }, // the first bytes: none of `before`
      { offset: SIZE - 10, length: undefined }, // the last bytes: none of `after`
    ];
    let bytes = SIZE;
    for (const { offset, length } of ranges) {
      const got = await readAll(client.read('packed', { offset, length }));
      const end = length === undefined ? SIZE : offset + length;
      expect(got.equals(data.subarray(offset, end)), `range ${offset}..${end}`).to.equal(true);
      bytes += end - offset;
    }
    const s = client.stats();
    expect(s.bytesShortCircuit).to.equal(bytes);
    expect(s.bytesFromCache).to.equal(bytes);
    expect(s.shortCircuitMisses, 'every block verified').to.equal(0);
    expect(fake.reads, "the agent's Read").to.have.length(0);
    expect(fake.leaseRequests.map((r) => r.acceptOffset)).to.deep.equal(
      Array<boolean>(ranges.length + 1).fill(true),
    );
  });

  it('reads an entry at data_offset 0 of a file longer than the entry', async function () {
    await leased('first', Buffer.concat([data, after]), 0);
    expect((await readAll(client.read('first'))).equals(data)).to.equal(true);
    expect(client.stats().bytesShortCircuit).to.equal(SIZE);
    expect(fake.reads).to.have.length(0);
  });

  it('streams from the agent when the file is shorter than data_offset + size', async function () {
    // Longer than the entry, one byte short of its end: the file's length is no guide by itself.
    await leased('truncated', Buffer.concat([before, data.subarray(0, SIZE - 1)]), BEFORE);
    expect((await readAll(client.read('truncated'))).equals(data)).to.equal(true);
    const s = client.stats();
    expect(s.bytesShortCircuit).to.equal(0);
    expect(s.bytesFromCache).to.equal(SIZE);
    expect(s.shortCircuitMisses).to.equal(1);
    expect(s.fallbacks).to.deep.equal({});
    expect(fake.reads).to.have.length(1);
  });

  it('streams from the agent, not the remote store, when Lease is FAILED_PRECONDITION', async function () {
    fake.put('refused', { data });
    fake.leases.set('refused', {
      code: grpc.status.FAILED_PRECONDITION,
      details: 'the entry shares its file with others: read it with Read',
    });
    const remote = path.join(root, 'remote-copy');
    await fs.writeFile(remote, data);
    const got = await readAll(client.read('refused', { remote: `file://${remote}` }));
    expect(got.equals(data)).to.equal(true);
    const s = client.stats();
    expect(s.bytesFromCache).to.equal(SIZE);
    expect(s.bytesFromRemote).to.equal(0);
    expect(s.bytesShortCircuit).to.equal(0);
    expect(s.shortCircuitMisses).to.equal(1);
    expect(s.fallbacks).to.deep.equal({});
    expect(s.failedReads).to.equal(0);
    expect(fake.reads).to.have.length(1);
  });
});
