/**
 * What eviction may choose from when small entries are packed (issue #16): a pack's live entries
 * go together (their bytes leave the disk only with the last of them), a pack with a leased entry
 * not at all, entries with files of their own one by one, as before.
 */
import { expect } from 'chai';
import {
  Leases,
  SIDECAR_VERSION,
  evictionCandidates,
  type PackPlace,
} from '@checkpoint-cache/cache';

function entry(id: string, size: number, lastAccessMs: number, pack?: number) {
  const place: PackPlace | undefined = pack === undefined ? undefined : { pack, offset: 16 };
  return {
    id,
    lastAccessMs,
    pack: place,
    sidecar: {
      version: SIDECAR_VERSION,
      key: id,
      jobId: 'job',
      checkpointIds: [],
      size,
      crc32c: 0,
      createdAtMs: 0,
      ttlMs: 1000,
      blockSize: 65_536,
      blockCrcs: Uint32Array.of(0),
    },
  };
}

describe('evictionCandidates', function () {
  it('makes one candidate of each pack, last used when its most recent entry was', function () {
    const leases = new Leases();
    const candidates = evictionCandidates(
      [
        entry('own-a', 100, 5),
        entry('p1-a', 10, 1, 1),
        entry('p1-b', 20, 9, 1),
        entry('p2-a', 30, 2, 2),
        entry('own-b', 200, 3),
      ],
      leases,
    );
    const byId = new Map(candidates.map((c) => [c.id, c]));
    expect(candidates).to.have.length(4);
    expect(byId.get('own-a')).to.deep.equal({ id: 'own-a', size: 100, lastAccessMs: 5 });
    expect(byId.get('p1-a')).to.deep.equal({
      id: 'p1-a',
      size: 30,
      lastAccessMs: 9,
      ids: ['p1-a', 'p1-b'],
    });
    expect(byId.get('p2-a')?.ids).to.deep.equal(['p2-a']);
  });

  it('leaves out a pack any of whose entries is leased, and leased entries of their own', function () {
    const leases = new Leases();
    leases.grant('p1-b', Date.now() + 60_000);
    leases.grant('own-a', Date.now() + 60_000);
    const candidates = evictionCandidates(
      [
        entry('own-a', 100, 5),
        entry('p1-a', 10, 1, 1),
        entry('p1-b', 20, 9, 1),
        entry('own-b', 1, 1),
      ],
      leases,
    );
    expect(candidates.map((c) => c.id)).to.deep.equal(['own-b']);
  });

  it('sizes a pack as its whole file when told it: what evicting its live entries frees', function () {
    const candidates = evictionCandidates(
      [entry('p1-a', 10, 1, 1), entry('p2-a', 30, 2, 2), entry('own', 5, 3)],
      new Leases(),
      (pack) => (pack === 1 ? 4096 : undefined),
    );
    expect(candidates.map((c) => [c.id, c.size])).to.deep.equal([
      ['own', 5],
      ['p1-a', 4096],
      ['p2-a', 30],
    ]);
  });
});
