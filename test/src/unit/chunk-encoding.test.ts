/** Hand-encoded Read chunks must decode, with the generated decoder, to exactly what was sent. */
import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { CHUNK_HEADROOM } from '@checkpoint-cache/cache';
import {
  checkpointCacheServiceDefinition,
  type ReadResponse__Output,
} from '@checkpoint-cache/proto';
import { encodeReadChunk } from '@checkpoint-cache/service';

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
});
