/**
 * The TypeScript client's fallback policy is the one in test/conformance/fallback-policy.json,
 * which the Java client's tests check too: which agent statuses send a read to the remote store,
 * and which client-detected faults exist and what status each fails with when there is no remote.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { FALLBACK_STATUSES, LOCAL_READ_FAULTS, statusOfFault } from '@checkpoint-cache/client';

interface Policy {
  version: number;
  fallbackStatuses: (keyof typeof status)[];
  clientFaults: { name: string; status: keyof typeof status; onlyIn?: string[] }[];
}

const POLICY = JSON.parse(
  readFileSync(path.resolve(__dirname, '..', '..', 'conformance', 'fallback-policy.json'), 'utf8'),
) as Policy;

describe('fallback policy (test/conformance/fallback-policy.json)', function () {
  it('falls back on exactly the listed statuses and surfaces every other one', function () {
    expect(POLICY.version).to.equal(1);
    const codes = Object.values(status).filter((v): v is status => typeof v === 'number');
    const fallingBack = codes.filter((c) => FALLBACK_STATUSES.has(c)).map((c) => status[c]);
    expect(fallingBack.sort()).to.deep.equal([...POLICY.fallbackStatuses].sort());
  });

  it('detects exactly the listed faults that apply to it, each with its status', function () {
    const mine = POLICY.clientFaults.filter((f) => !f.onlyIn || f.onlyIn.includes('typescript'));
    expect(Object.keys(LOCAL_READ_FAULTS).sort()).to.deep.equal(mine.map((f) => f.name).sort());
    for (const f of mine) {
      expect(status[statusOfFault(f.name as keyof typeof LOCAL_READ_FAULTS)], f.name).to.equal(
        f.status,
      );
    }
  });
});
