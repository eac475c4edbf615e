/** parseRedisUrl: the accepted URL forms, and credentials never reaching the description. */
import { expect } from 'chai';
import { ErrorCode, hasErrorCode } from '@checkpoint-cache/errors';
import { describeRedisOptions, parseRedisUrl } from '@checkpoint-cache/redis';

function parseError(url: string): Error {
  try {
    parseRedisUrl(url);
  } catch (err) {
    expect(hasErrorCode(err, ErrorCode.InvalidArgument), String(err)).to.equal(true);
    return err as Error;
  }
  throw new Error(`expected ${url} to be rejected`);
}

describe('parseRedisUrl', function () {
  it('reads redis:// with host, port, credentials and db', function () {
    expect(parseRedisUrl('redis://user:p%40ss@redis.example:7000/2')).to.deep.equal({
      host: 'redis.example',
      port: 7000,
      username: 'user',
      password: 'p@ss',
      db: 2,
      description: 'redis://redis.example:7000/2',
    });
  });

  it('defaults the port and takes ?db=', function () {
    const e = parseRedisUrl('redis://h?db=3');
    expect(e).to.include({ host: 'h', port: 6379, db: 3, description: 'redis://h:6379/3' });
  });

  it('turns on TLS for rediss://, with the host as server name', function () {
    expect(parseRedisUrl('rediss://:secret@redis.example').tls).to.deep.equal({
      servername: 'redis.example',
    });
    expect(parseRedisUrl('rediss://10.0.0.1:6380').tls).to.deep.equal({});
    expect(parseRedisUrl('rediss://h').description).to.equal('rediss://h:6379');
  });

  it('reads IPv6 hosts without brackets', function () {
    const e = parseRedisUrl('redis://[::1]:7001');
    expect(e).to.include({ host: '::1', port: 7001, description: 'redis://[::1]:7001' });
  });

  it('reads unix:// and redis+unix:// socket URLs', function () {
    expect(parseRedisUrl('unix:///run/redis/redis.sock')).to.deep.equal({
      path: '/run/redis/redis.sock',
      description: 'unix:///run/redis/redis.sock',
    });
    expect(parseRedisUrl('redis+unix:///tmp/r.sock?db=1&password=pw')).to.deep.equal({
      path: '/tmp/r.sock',
      db: 1,
      password: 'pw',
      description: 'unix:///tmp/r.sock/1',
    });
    expect(parseRedisUrl('unix:///tmp/a%20b.sock').path).to.equal('/tmp/a b.sock');
  });

  it('never puts the password into the description', function () {
    for (const url of [
      'redis://:topsecret@h',
      'redis://u:topsecret@h:1/1',
      'rediss://u:topsecret@h',
      'unix:///s.sock?password=topsecret',
    ]) {
      expect(parseRedisUrl(url).description, url).not.to.include('topsecret');
    }
  });

  it('rejects what it cannot use, without echoing credentials', function () {
    expect(parseError('http://h:6379').message).to.match(/unsupported scheme http:/);
    expect(parseError('redis://').message).to.match(/has no host/);
    expect(parseError('redis://h/x').message).to.match(/database "x"/);
    expect(parseError('redis://h/1?db=2').message).to.match(/both as path and as \?db=/);
    expect(parseError('redis://h?family=6').message).to.match(/unsupported parameter "family"/);
    expect(parseError('unix://host/tmp/s.sock').message).to.match(/a Unix socket URL has none/);
    expect(parseError('unix:///').message).to.match(/no socket path/);
    const unparsable = parseError('redis://:topsecret@[bad');
    expect(unparsable.message).to.match(/cannot be parsed/);
    expect(unparsable.message).not.to.include('topsecret');
  });
});

describe('describeRedisOptions', function () {
  it('describes ioredis options without credentials', function () {
    expect(describeRedisOptions({ host: 'h', port: 1, db: 0 })).to.equal('redis://h:1');
    expect(describeRedisOptions({ path: '/s.sock', host: 'localhost' })).to.equal('unix:///s.sock');
    expect(describeRedisOptions({ host: 'h', port: 2, tls: {}, db: 4 })).to.equal('rediss://h:2/4');
  });
});
