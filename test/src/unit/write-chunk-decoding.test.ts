/**
 * The agent's Write chunk decoder against the generated (protobufjs) one: whatever it takes, it
 * must decode exactly as protobufjs does, and everything else it must leave to the checked path.
 */
import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { allocWriteChunk, encodeWriteChunk } from '@checkpoint-cache/client/write-wire';
import {
  checkpointCacheServiceDefinition,
  type WriteRequest,
  type WriteRequest__Output,
} from '@checkpoint-cache/proto';
import { decodeWriteChunk } from '@checkpoint-cache/service/write-wire';

const write = checkpointCacheServiceDefinition()['Write'] as grpc.MethodDefinition<
  WriteRequest,
  WriteRequest__Output
>;

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
const field = (tag: number, body: Buffer): Buffer => Buffer.concat([varint(BigInt(tag)), body]);
const len = (tag: number, body: Buffer): Buffer =>
  field(tag, Buffer.concat([varint(BigInt(body.length)), body]));
const chunkOf = (...fields: Buffer[]): Buffer => len(0x12, Buffer.concat(fields));

/** The fields the write path reads, as protobufjs decodes them (or why it could not). */
function generic(bytes: Buffer): unknown {
  try {
    const m = write.requestDeserialize(bytes);
    return { kind: m.kind, offset: m.chunk?.offset, crc32c: m.chunk?.crc32c, data: m.chunk?.data };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function fast(bytes: Buffer): unknown {
  const m = decodeWriteChunk(bytes);
  if (!m) return undefined;
  return { kind: m.kind, offset: m.chunk?.offset, crc32c: m.chunk?.crc32c, data: m.chunk?.data };
}

/** Whatever the fast path takes, protobufjs reads the same way. */
function expectAgrees(bytes: Buffer, label: string): void {
  const taken = fast(bytes);
  if (taken !== undefined) expect(taken, label).to.deep.equal(generic(bytes));
}

describe('Write chunk decoding (agent)', function () {
  it('takes what clients send, as a slice of the message, exactly as protobufjs decodes it', function () {
    for (const size of [0, 1, 127, 128, 70_000, 1_048_576]) {
      for (const offset of [0, 1, 2 ** 31, Number.MAX_SAFE_INTEGER - size]) {
        for (const crc of [0, 127, 128, 0xffffffff]) {
          const data = allocWriteChunk(size);
          randomBytes(size).copy(data);
          const ours = encodeWriteChunk(offset, data, crc, false);
          const theirs = write.requestSerialize({ chunk: { offset, data, crc32c: crc } });
          for (const bytes of [ours, theirs]) {
            const decoded = decodeWriteChunk(bytes);
            expect(decoded, `${size} bytes at ${offset}`).not.to.equal(undefined);
            expect(fast(bytes)).to.deep.equal(generic(bytes));
            // No copy: the data is the message's own memory.
            expect(decoded!.chunk!.data.buffer).to.equal(bytes.buffer);
          }
          // Without a CRC32C (optional on Write) and, as proto3 writers do, without offset 0.
          const bare = write.requestSerialize({ chunk: { offset, data } });
          expect(fast(bare)).to.deep.equal(generic(bare));
          expect(decodeWriteChunk(bare)!.chunk!.crc32c).to.equal(undefined);
        }
      }
    }
  });

  it('takes the fields in any order', function () {
    const data = randomBytes(10);
    const bytes = chunkOf(len(0x12, data), field(0x18, varint(7n)), field(0x08, varint(300n)));
    expect(fast(bytes)).to.deep.equal({ kind: 'chunk', offset: 300, crc32c: 7, data });
    expect(fast(bytes)).to.deep.equal(generic(bytes));
    // Offset 0 left out, as proto3 writers (Java, Go) do.
    const noOffset = chunkOf(len(0x12, data));
    expect(fast(noOffset)).to.deep.equal({ kind: 'chunk', offset: 0, crc32c: undefined, data });
    expect(fast(noOffset)).to.deep.equal(generic(noOffset));
  });

  it('leaves every other shape to the checked path', function () {
    const data = randomBytes(10);
    const cases: Record<string, Buffer> = {
      header: write.requestSerialize({ header: { key: 'k', jobId: 'j' } }),
      'no data field': chunkOf(field(0x08, varint(1n))),
      'offset past 2^53 - 1': chunkOf(field(0x08, varint(2n ** 53n)), len(0x12, data)),
      'offset 2^64 - 1': chunkOf(field(0x08, varint(2n ** 64n - 1n)), len(0x12, data)),
      'crc32c past 32 bits': chunkOf(field(0x18, varint(2n ** 32n)), len(0x12, data)),
      'negative crc32c (10 bytes)': chunkOf(field(0x18, varint(2n ** 64n - 1n)), len(0x12, data)),
      'non-minimal varint': chunkOf(field(0x08, Buffer.from([0x81, 0x00])), len(0x12, data)),
      'repeated data': chunkOf(len(0x12, data), len(0x12, data)),
      'repeated offset': chunkOf(field(0x08, varint(1n)), field(0x08, varint(2n)), len(0x12, data)),
      'unknown field': chunkOf(len(0x12, data), field(0x20, varint(1n))),
      'offset as bytes': chunkOf(len(0x0a, data), len(0x12, data)),
      'two chunks': Buffer.concat([chunkOf(len(0x12, data)), chunkOf(len(0x12, data))]),
      'trailing field after the chunk': Buffer.concat([chunkOf(len(0x12, data)), len(0x0a, data)]),
      'data running past the chunk': chunkOf(field(0x12, Buffer.concat([varint(50n), data]))),
      'chunk length past the message': Buffer.concat([Buffer.from([0x12, 0x7f]), len(0x12, data)]),
      'cut short': chunkOf(len(0x12, data)).subarray(0, 8),
      'wire type 7': chunkOf(Buffer.from([0x0f]), len(0x12, data)),
      empty: Buffer.alloc(0),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      expect(decodeWriteChunk(bytes), name).to.equal(undefined);
    }
  });

  it('agrees with protobufjs on every prefix and every one-byte change of a chunk', function () {
    const data = randomBytes(40);
    const base = encodeWriteChunk(129, Buffer.from(data), 0xdeadbeef, false);
    for (let cut = 0; cut <= base.length; cut++) {
      expectAgrees(base.subarray(0, cut), `prefix ${cut}`);
    }
    for (let at = 0; at < 12; at++) {
      for (const value of [0x00, 0x01, 0x08, 0x0a, 0x12, 0x18, 0x7f, 0x80, 0xff]) {
        const changed = Buffer.from(base);
        changed[at] = value;
        expectAgrees(changed, `byte ${at} = ${value}`);
      }
    }
  });
});
