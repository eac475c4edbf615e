/** KeyBuilder: key shapes, the shared hash tag, TTL-key parsing and validation. No I/O. */
import { expect } from 'chai';
import { ErrorCode, hasErrorCode } from '@checkpoint-cache/errors';
import { DEFAULT_KEY_PREFIX, KeyBuilder } from '@checkpoint-cache/redis';

const ID = 'a'.repeat(64);

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
    expect(keys.entry(ID)).to.equal(`ckc:{node-1}:entry:${ID}`);
    expect(keys.ttl(ID)).to.equal(`ckc:{node-1}:ttl:${ID}`);
    expect(keys.lru()).to.equal('ckc:{node-1}:lru');
    expect(keys.bytes()).to.equal('ckc:{node-1}:bytes');
    expect(keys.count()).to.equal('ckc:{node-1}:count');
    expect(keys.ttlPattern()).to.equal('ckc:{node-1}:ttl:*');
    expect(keys.entryPattern()).to.equal('ckc:{node-1}:entry:*');
  });

  it('gives all keys of a node the same hash tag, so scripts stay in one cluster slot', function () {
    const all = [keys.entry(ID), keys.ttl(ID), keys.lru(), keys.bytes(), keys.count()];
    expect(all.map(hashTag)).to.deep.equal(all.map(() => 'node-1'));
  });

  it('uses the default prefix when none is given', function () {
    const k = new KeyBuilder(undefined, 'n');
    expect(DEFAULT_KEY_PREFIX).to.equal('ckc');
    expect(k.prefix).to.equal('ckc');
    expect(k.lru()).to.equal('ckc:{n}:lru');
  });

  it("allows ':' and '.' in the prefix", function () {
    expect(new KeyBuilder('team.a:ckc', 'n').lru()).to.equal('team.a:ckc:{n}:lru');
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
        keys.entry(ID),
        keys.lru(),
        'ckc:{node-1}:ttl:',
        'ckc:{node-1}:ttl',
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

    it('rejects an empty entry id', function () {
      expectInvalid(() => keys.entry(''), /entry id is empty/);
      expectInvalid(() => keys.ttl(''), /entry id is empty/);
    });
  });
});
