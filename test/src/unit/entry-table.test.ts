/**
 * EntryTable, the index's storage (shared/cache/src/entry-table.ts): its hash table finds every
 * id it holds and none it does not, through growth and removals (backward-shift deletion leaves
 * no probe run broken), a reused slot is told apart from the entry it held before, and every
 * column keeps its values through growth while all of them stay views on one buffer.
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { EntryTable } from '@checkpoint-cache/cache';

const idOf = (i: number): string => createHash('sha256').update(`key-${i}`).digest('hex');

describe('EntryTable', function () {
  it('finds what it holds through growth and removals, and nothing else', function () {
    const table = new EntryTable();
    const slots = new Map<number, number>();
    for (let i = 0; i < 5000; i++) slots.set(i, table.insert(idOf(i), `key-${i}`));
    // Remove every third, then add more: free slots are reused, probe runs shift.
    for (let i = 0; i < 5000; i += 3) {
      table.delete(slots.get(i)!);
      slots.delete(i);
    }
    // Before any growth rehashes the table: every survivor is still found.
    for (const [i, slot] of slots) expect(table.slotOf(idOf(i)), `entry ${i}`).to.equal(slot);
    for (let i = 5000; i < 7000; i++) slots.set(i, table.insert(idOf(i), `key-${i}`));
    expect(table.count).to.equal(slots.size);
    for (let i = 0; i < 7000; i++) {
      const slot = table.slotOf(idOf(i));
      if (slots.has(i)) {
        expect(slot, `entry ${i}`).to.equal(slots.get(i));
        expect(table.idOf(slot)).to.equal(idOf(i));
        expect(table.keys[slot]).to.equal(`key-${i}`);
      } else {
        expect(slot, `removed entry ${i}`).to.equal(-1);
      }
    }
    expect(table.slotOf('not an id')).to.equal(-1);
    expect(table.slotOf('zz'.repeat(32))).to.equal(-1);
  });

  it('keeps checkpoint lists, job ids and block checksums per slot', function () {
    const table = new EntryTable();
    const a = table.insert(idOf(1), 'a');
    table.setNumbers(
      a,
      {
        size: 200_000,
        crc32c: 7,
        createdAtMs: 1,
        ttlMs: 2,
        blockSize: 65536,
      },
      3,
    );
    table.setJob(a, 'job-a');
    table.setCheckpoints(a, [3, 5]);
    table.setBlockCrcs(a, Uint32Array.of(1, 2, 3, 4));
    const b = table.insert(idOf(2), 'b');
    table.setNumbers(
      b,
      {
        size: 10,
        crc32c: 9,
        createdAtMs: 1,
        ttlMs: 2,
        blockSize: 65536,
      },
      3,
    );
    table.setJob(b, 'job-a');
    table.setCheckpoints(b, [4]);
    table.setBlockCrcs(b, Uint32Array.of(9));
    expect(table.checkpointsOf(a)).to.deep.equal([3, 5]);
    expect(table.checkpointsOf(b)).to.deep.equal([4]);
    expect(table.jobOf(a)).to.equal('job-a');
    expect([...table.blockCrcsOf(a)]).to.deep.equal([1, 2, 3, 4]);
    expect([...table.blockCrcsOf(b)]).to.deep.equal([9]);
    table.setCheckpoints(b, []);
    expect(table.checkpointsOf(b)).to.deep.equal([]);
  });

  it('a reused slot has another generation', function () {
    const table = new EntryTable();
    const first = table.insert(idOf(1), 'one');
    const generation = table.generation[first];
    table.delete(first);
    const second = table.insert(idOf(2), 'two');
    expect(second).to.equal(first);
    expect(table.generation[second]).to.not.equal(generation);
    expect(table.slotOf(idOf(1))).to.equal(-1);
  });

  it('keeps every column through growth, all columns views on one buffer', function () {
    const table = new EntryTable();
    const n = 5000; // past the first capacity (1024) and several growths by half
    const numbers = (i: number) => ({
      size: i * 4096 + 1,
      crc32c: (i * 2654435761) >>> 0,
      createdAtMs: 1_700_000_000_000 + i,
      ttlMs: 3600_000 + i,
      blockSize: 65536 + i,
    });
    const slots: number[] = [];
    for (let i = 0; i < n; i++) {
      const slot = table.insert(idOf(i), `key-${i}`);
      table.setNumbers(slot, numbers(i), 2_000_000_000_000 + i);
      table.setJob(slot, `job-${i % 7}`);
      table.setCheckpoints(slot, [i]);
      if (i % 3 === 0) table.touchQueuedMs[slot] = 10 + i;
      table.ttlKnownUntilMs[slot] = 20 + i;
      slots.push(slot);
    }
    for (let i = 0; i < n; i++) {
      const slot = slots[i]!;
      expect(table.slotOf(idOf(i)), `entry ${i}`).to.equal(slot);
      expect(table.idOf(slot)).to.equal(idOf(i));
      const want = numbers(i);
      expect(
        {
          size: table.size[slot],
          crc32c: table.crc32c[slot],
          createdAtMs: table.createdAtMs[slot],
          ttlMs: table.ttlMs[slot],
          blockSize: table.blockSize[slot],
        },
        `entry ${i}`,
      ).to.deep.equal(want);
      expect(table.lastAccessMs[slot]).to.equal(2_000_000_000_000 + i);
      expect(table.jobOf(slot)).to.equal(`job-${i % 7}`);
      expect(table.checkpointsOf(slot)).to.deep.equal([i]);
      if (i % 3 === 0) expect(table.touchQueuedMs[slot]).to.equal(10 + i);
      else expect(Number.isNaN(table.touchQueuedMs[slot]), `entry ${i}`).to.equal(true);
      expect(table.ttlKnownUntilMs[slot]).to.equal(20 + i);
      expect(table.generation[slot]).to.equal(1);
    }
    const columns = [
      table.size,
      table.crc32c,
      table.createdAtMs,
      table.ttlMs,
      table.blockSize,
      table.lastAccessMs,
      table.touchQueuedMs,
      table.ttlKnownUntilMs,
      table.generation,
      table.pack,
      table.packOffset,
    ];
    const block = table.size.buffer;
    for (const column of columns) {
      expect(column.buffer).to.equal(block);
      expect(column.length).to.equal(table.size.length);
    }
    // 9 Float64 and 4 Uint32 columns and the 32-byte ids, nothing else, no gaps.
    expect(block.byteLength).to.equal(table.size.length * (9 * 8 + 4 * 4 + 32));
    // The views do not overlap: each column's bytes lie after the previous one's.
    const spans = columns
      .map((c) => [c.byteOffset, c.byteOffset + c.byteLength] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).to.be.at.least(spans[i - 1]![1]);
  });
});
