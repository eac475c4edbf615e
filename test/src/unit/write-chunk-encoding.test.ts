/** Hand-encoded Write chunks must decode, with the generated decoder, to exactly what was sent. */
import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import {
  checkpointCacheServiceDefinition,
  type WriteRequest__Output,
} from '@checkpoint-cache/proto';
import {
  allocWriteChunk,
  encodeWriteChunk,
  framedWritesFor,
  GRPC_PREFIX_BYTES,
  installZeroCopyWrites,
  isGrpcFramed,
} from '@checkpoint-cache/client/write-wire';

describe('Write chunk encoding (client)', function () {
  const write = checkpointCacheServiceDefinition()['Write'] as grpc.MethodDefinition<
    unknown,
    unknown
  >;
  const decode = (bytes: Buffer): WriteRequest__Output =>
    write.requestDeserialize(bytes) as WriteRequest__Output;

  for (const size of [0, 1, 127, 128, 16_383, 16_384, 70_000, 1_048_576]) {
    it(`round-trips ${size}-byte chunks at any offset and CRC, framed or not`, function () {
      for (const offset of [0, 1, 300, 2 ** 31, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER - size]) {
        for (const crc of [0, 127, 128, 0x7fffffff, 0xffffffff]) {
          for (const framed of [false, true]) {
            const data = allocWriteChunk(size);
            randomBytes(size).copy(data);
            const expected = Buffer.from(data);
            let message = encodeWriteChunk(offset, data, crc, framed);
            // In the chunk's own memory, ending where the data ends: nothing was copied.
            expect(message.buffer).to.equal(data.buffer);
            expect(message.byteOffset + message.length).to.equal(data.byteOffset + size);
            expect(isGrpcFramed(message)).to.equal(framed);
            if (framed) {
              expect(message[0]).to.equal(0);
              expect(message.readUInt32BE(1)).to.equal(message.length - GRPC_PREFIX_BYTES);
              message = message.subarray(GRPC_PREFIX_BYTES);
            }
            const decoded = decode(message);
            expect(decoded.kind).to.equal('chunk');
            expect(decoded.chunk?.offset).to.equal(offset);
            expect(decoded.chunk?.crc32c).to.equal(crc);
            expect(Buffer.compare(decoded.chunk!.data, expected)).to.equal(0);
          }
        }
      }
    });
  }

  it('encodes a shorter prefix of a chunk buffer in place (the last chunk of a source)', function () {
    const data = allocWriteChunk(1000);
    randomBytes(1000).copy(data);
    const part = data.subarray(0, 10);
    const message = encodeWriteChunk(5, part, 9, false);
    expect(message.buffer).to.equal(data.buffer);
    expect(decode(message).chunk?.data.equals(data.subarray(0, 10))).to.equal(true);
  });

  it("never writes in front of a caller's bytes: those are copied into a chunk buffer", function () {
    const backing = randomBytes(4096);
    const before = Buffer.from(backing);
    for (const at of [0, 64, 1000]) {
      const data = backing.subarray(at, at + 100);
      const message = encodeWriteChunk(0, data, 1, true);
      expect(message.buffer).not.to.equal(backing.buffer);
      expect(decode(message.subarray(GRPC_PREFIX_BYTES)).chunk?.data.equals(data)).to.equal(true);
    }
    expect(backing.equals(before)).to.equal(true);
  });

  it("skips grpc-js's copy of framed chunks with the grpc-js in package-lock.json", function () {
    // If this fails after a grpc-js upgrade, the identity handler's writeMessage changed: check
    // shared/client/src/write-wire/write-framing.ts against it. Writes still work meanwhile (the
    // client then does not frame, and grpc-js copies each chunk, as before the patch).
    expect(installZeroCopyWrites()).to.equal(true);
    expect(framedWritesFor({})).to.equal(true);
    // A compressing channel would take the prefix for message bytes.
    expect(framedWritesFor({ 'grpc.default_compression_algorithm': 2 })).to.equal(false);
  });
});
