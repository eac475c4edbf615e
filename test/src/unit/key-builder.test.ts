/** KeyBuilder: key shapes, the shared hash tag, TTL-key parsing and validation. No I/O. */
import { expect } from 'chai';
import { ErrorCode, hasErrorCode } from '@checkpoint-cache/errors';
import { DEFAULT_KEY_PREFIX, KeyBuilder, LegacyKeys, nodeNumberOf } from '@checkpoint-cache/redis';

const ID = 'a'.repeat(64);
/** ID in base64url: the same 32 bytes, 43 characters. */
const RID = Buffer.from(ID, 'hex').toString('base64url');

/** The Redis Cluster hash tag of a key: what is between the first '{' and the next '}'. */
function hashTag(key: string): string | undefined {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : undefined;
}

function expectInvalid(fn: () => unknown, pattern: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(hasErrorCode(error, ErrorCode.InvalidArgument), String(error)).to.equal(true);
  expect((error as Error).message).to.match(pattern);
}

describe('KeyBuilder', function () {
  const keys = new KeyBuilder('ckc', 'node-1');

  it('makes every key of a node under <prefix>:{<nodeId>}:', function () {
    expect(keys.entries()).to.equal('ckc:{node-1}:e');
    expect(keys.ttl(ID)).to.equal(`ckc:{node-1}:t:${RID}`);
    expect(keys.bytes()).to.equal('ckc:{node-1}:b');
    expect(keys.count()).to.equal('ckc:{node-1}:n');
    expect(keys.ttlPattern()).to.equal('ckc:{node-1}:t:*');
  });

  it('names an entry in Redis by its id in base64url, and reads the id back', function () {
    expect(RID).to.have.length(43);
    expect(keys.recordId(ID)).to.equal(RID);
    expect(keys.idOfRecord(RID)).to.equal(ID);
    expect(keys.locations(ID)).to.equal(`ckc:l:{${RID.slice(0, 22)}}`);
    for (const notOne of ['', 'x', ID, `${RID}=`, RID.slice(1)]) {
      expect(keys.idOfRecord(notOne), notOne).to.equal(undefined);
    }
  });

  it('numbers a node in the location index by the first 52 bits of sha256(node id)', function () {
    expect(keys.nodeNumber).to.equal(nodeNumberOf('node-1'));
    expect(Number.isSafeInteger(keys.nodeNumber)).to.equal(true);
    expect(keys.nodeNumber).to.not.equal(new KeyBuilder('ckc', 'node-2').nodeNumber);
    expect(keys.nodes()).to.equal('ckc:nodes');
  });

  it('gives all keys of a node the same hash tag, so scripts stay in one cluster slot', function () {
    const all = [keys.entries(), keys.ttl(ID), keys.bytes(), keys.count()];
    expect(all.map(hashTag)).to.deep.equal(all.map(() => 'node-1'));
  });

  it('uses the default prefix when none is given', function () {
    const k = new KeyBuilder(undefined, 'n');
    expect(DEFAULT_KEY_PREFIX).to.equal('ckc');
    expect(k.prefix).to.equal('ckc');
    expect(k.entries()).to.equal('ckc:{n}:e');
  });

  it("allows ':' and '.' in the prefix", function () {
    expect(new KeyBuilder('team.a:ckc', 'n').entries()).to.equal('team.a:ckc:{n}:e');
  });

  describe('idOfTtlKey', function () {
    it('reads the entry id back from a TTL key of this node', function () {
      expect(keys.idOfTtlKey(keys.ttl(ID))).to.equal(ID);
    });

    it('returns undefined for keys of other nodes, prefixes and kinds', function () {
      const otherNode = new KeyBuilder('ckc', 'node-2');
      const otherPrefix = new KeyBuilder('ckc2', 'node-1');
      const longerNode = new KeyBuilder('ckc', 'node-10');
      for (const key of [
        otherNode.ttl(ID),
        otherPrefix.ttl(ID),
        longerNode.ttl(ID),
        new KeyBuilder('c', 'node-1').ttl(ID),
        keys.entries(),
        new LegacyKeys(keys).ttl(ID),
        'ckc:{node-1}:t:',
        'ckc:{node-1}:t',
        `ckc:{node-1}:t:${ID}`,
        '',
        `x${keys.ttl(ID)}`,
      ]) {
        expect(keys.idOfTtlKey(key), key).to.equal(undefined);
      }
    });
  });

  describe('validation', function () {
    it('rejects an empty, braced, spaced or colon node id with a clear error', function () {
      expectInvalid(() => new KeyBuilder('ckc', ''), /node id is empty/);
      for (const bad of ['a:b', 'a{b', 'a}b', 'a b', 'a\tb', 'a\n', 'a*', 'a?b', '[a]']) {
        expectInvalid(() => new KeyBuilder('ckc', bad), /node id .* must not contain ':'/);
      }
    });

    it('rejects an empty, braced or spaced prefix', function () {
      expectInvalid(() => new KeyBuilder('', 'n'), /prefix is empty/);
      for (const bad of ['{ckc}', 'ck}', 'ck c', ' ckc', 'ckc*']) {
        expectInvalid(() => new KeyBuilder(bad, 'n'), /prefix .* must not contain '\{'/);
      }
    });

    it('rejects an empty entry id, or one that is not sha256 in hex', function () {
      expectInvalid(() => keys.recordId(''), /entry id is empty/);
      expectInvalid(() => keys.ttl(''), /entry id is empty/);
      for (const bad of ['abc', ID.toUpperCase(), `${ID}0`, '../'.repeat(22)]) {
        expectInvalid(() => keys.ttl(bad), /is not sha256\(key\) in lower-case hex/);
      }
    });
  });
});
