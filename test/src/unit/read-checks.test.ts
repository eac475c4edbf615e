/** The client's checks of what the agent streams: headers against the range, chunks. */
import { expect } from 'chai';
import { checkChunk, headerProblem } from '@checkpoint-cache/client';
import { crc32c } from '@checkpoint-cache/checksum';
import type { ReadHeader__Output } from '@checkpoint-cache/proto';

function header(offset: number, length: number, size: number): ReadHeader__Output {
  return {
    offset,
    length,
    source: 'SOURCE_LOCAL_DISK',
    entry: {
      key: 'k',
      jobId: '',
      checkpointIds: [],
      size,
      crc32c: 0,
      createdAtMs: 0,
      lastAccessMs: 0,
      ttlMs: 0,
      nodeId: 'n',
    },
  };
}

describe('read checks', function () {
  describe('headerProblem', function () {
    it('accepts the range asked for, with or without a length', function () {
      expect(headerProblem(header(10, 90, 100), 10, undefined)).to.equal(undefined);
      expect(headerProblem(header(10, 5, 100), 10, 5)).to.equal(undefined);
    });

    it('names what differs', function () {
      expect(headerProblem(header(11, 89, 100), 10, undefined)).to.match(/offset 11, asked for 10/);
      expect(headerProblem(header(10, 6, 100), 10, 5)).to.match(/length 6, asked for 5/);
      expect(headerProblem(header(10, 95, 100), 10, 95)).to.match(/exceeds entry size 100/);
      expect(headerProblem(header(10, 80, 100), 10, undefined)).to.match(/stops before the end/);
    });
  });

  describe('checkChunk', function () {
    const data = Buffer.from('checkpoint bytes');

    it('passes a chunk at the position with its CRC32C, and returns that CRC', function () {
      expect(checkChunk({ offset: 5, data, crc32c: crc32c(data) }, 5, 100)).to.deep.equal({
        ok: true,
        crc32c: crc32c(data),
      });
    });

    it('names the fault the fallback policy acts on', function () {
      const at = (c: { offset: number; crc32c?: number | null }, end?: number): unknown => {
        const r = checkChunk({ data, ...c }, 5, end);
        return r.ok ? 'ok' : r.fault;
      };
      expect(at({ offset: 6, crc32c: crc32c(data) })).to.equal('OFFSET_MISMATCH');
      expect(at({ offset: 5, crc32c: (crc32c(data) + 1) >>> 0 })).to.equal('CHECKSUM_MISMATCH');
      expect(at({ offset: 5 })).to.equal('CHECKSUM_MISMATCH');
      expect(at({ offset: 5, crc32c: null })).to.equal('CHECKSUM_MISMATCH');
      expect(at({ offset: 5, crc32c: crc32c(data) }, 10)).to.equal('PROTOCOL_ERROR');
    });
  });
});
