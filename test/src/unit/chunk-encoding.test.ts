/** Hand-encoded Read chunks must decode, with the generated decoder, to exactly what was sent. */
import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { CHUNK_HEADROOM, type NodeCache } from '@checkpoint-cache/cache';
import {
  checkpointCacheServiceDefinition,
  type ReadResponse__Output,
} from '@checkpoint-cache/proto';
import { AccessPolicy, CheckpointCacheService } from '@checkpoint-cache/service';
import {
  encodeReadChunk,
  GRPC_FRAMED,
  GRPC_PREFIX_BYTES,
  installZeroCopyFraming,
} from '@checkpoint-cache/service/read-wire';

describe('Read chunk encoding', function () {
  const read = checkpointCacheServiceDefinition()['Read'] as grpc.MethodDefinition<
    unknown,
    ReadResponse__Output
  >;

  for (const size of [0, 1, 127, 128, 16_383, 16_384, 70_000, 262_144]) {
    it(`round-trips ${size}-byte chunks at any offset and CRC, with and without headroom`, function () {
      for (const offset of [0, 1, 300, 2 ** 31, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER - size]) {
        for (const crc of [0, 127, 128, 0x7fffffff, 0xffffffff]) {
          for (const headroom of [0, CHUNK_HEADROOM]) {
            const backing = Buffer.alloc(CHUNK_HEADROOM + size, 0xee);
            const data = backing.subarray(CHUNK_HEADROOM);
            randomBytes(size).copy(data);
            const expected = Buffer.from(data);
            const decoded = read.responseDeserialize(encodeReadChunk(offset, data, crc, headroom));
            expect(decoded.kind).to.equal('chunk');
            expect(decoded.chunk?.offset).to.equal(offset);
            expect(decoded.chunk?.crc32c).to.equal(crc);
            expect(Buffer.compare(decoded.chunk!.data, expected)).to.equal(0);
          }
        }
      }
    });
  }

  it('writes the gRPC message prefix in front when asked, in the headroom or in a new buffer', function () {
    for (const size of [0, 5, 70_000, 262_144]) {
      for (const headroom of [0, CHUNK_HEADROOM]) {
        const backing = Buffer.alloc(CHUNK_HEADROOM + size, 0xee);
        const data = backing.subarray(CHUNK_HEADROOM);
        randomBytes(size).copy(data);
        const expected = Buffer.from(data);
        const framed = encodeReadChunk(7, data, 42, headroom, true);
        expect((framed as Buffer & Record<symbol, unknown>)[GRPC_FRAMED]).to.equal(true);
        expect(framed[0]).to.equal(0);
        expect(framed.readUInt32BE(1)).to.equal(framed.length - GRPC_PREFIX_BYTES);
        // Zero-copy with headroom: the message ends where the data ends, in the same memory.
        if (headroom) expect(framed.buffer).to.equal(backing.buffer);
        const decoded = read.responseDeserialize(framed.subarray(GRPC_PREFIX_BYTES));
        expect(decoded.chunk?.offset).to.equal(7);
        expect(decoded.chunk?.crc32c).to.equal(42);
        expect(Buffer.compare(decoded.chunk!.data, expected)).to.equal(0);
        const plain = encodeReadChunk(7, data, 42, headroom);
        expect((plain as Buffer & Record<symbol, unknown>)[GRPC_FRAMED]).to.equal(undefined);
      }
    }
  });

  it("skips grpc-js's copy of framed chunks with the grpc-js in package-lock.json", function () {
    // If this fails after a grpc-js upgrade, BaseServerInterceptingCall.serializeMessage changed:
    // check services/checkpoint-cache/src/read-wire/grpc-framing.ts against it. Reads still work meanwhile
    // (chunks are copied, as before the patch).
    expect(installZeroCopyFraming()).to.equal(true);
  });

  it("has the Read serializer strip the prefix if grpc-js's own copy would frame the chunk again", function () {
    // What a grpc.Server of another grpc-js copy (which the patch did not reach) would call.
    let definition: grpc.ServiceDefinition | undefined;
    new CheckpointCacheService({
      cache: {} as NodeCache,
      accessPolicy: new AccessPolicy({ writeAccess: 'any' }),
    }).addToServer({
      addService: (d: grpc.ServiceDefinition) => (definition = d),
    } as unknown as grpc.Server);
    const serialize = (definition!['Read'] as grpc.MethodDefinition<unknown, Buffer>)
      .responseSerialize;
    const backing = Buffer.alloc(CHUNK_HEADROOM + 1000, 7);
    const data = backing.subarray(CHUNK_HEADROOM);
    const framed = encodeReadChunk(3, data, 9, CHUNK_HEADROOM, true);
    const plain = encodeReadChunk(3, data, 9, CHUNK_HEADROOM, false);
    expect(Buffer.compare(serialize(framed), plain)).to.equal(0);
    expect(serialize(plain)).to.equal(plain);
  });
});
