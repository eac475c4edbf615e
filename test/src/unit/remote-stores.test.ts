import { expect } from 'chai';
import {
  FileRemoteStore,
  HttpRemoteStore,
  RemoteStoreError,
  RemoteStores,
  type RemoteStore,
} from '@checkpoint-cache/client';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pathToFileURL } from 'node:url';
import { RangeHttpServer } from '../helpers/range-http-server';
import { rejection } from '../helpers/rejection';

async function storeRejection(promise: Promise<unknown>): Promise<RemoteStoreError> {
  const err = await rejection<RemoteStoreError>(promise);
  expect(err).to.be.instanceOf(RemoteStoreError);
  return err;
}

describe('RemoteStores', () => {
  const stores = RemoteStores.withDefaults();

  it('resolves file://, absolute paths, http:// and https:// to the default adapters', () => {
    expect(stores.resolve('file:///tmp/x')).to.be.instanceOf(FileRemoteStore);
    expect(stores.resolve('/tmp/x')).to.be.instanceOf(FileRemoteStore);
    expect(stores.resolve('http://h/x')).to.be.instanceOf(HttpRemoteStore);
    expect(stores.resolve('HTTPS://h/x')).to.be.instanceOf(HttpRemoteStore);
    expect(stores.schemes()).to.deep.equal(['file', 'http', 'https']);
  });

  it('names the scheme and the registered ones when no adapter serves a URI', () => {
    expect(() => stores.resolve('hdfs://nn/flink/chk-1/a'))
      .to.throw(
        RemoteStoreError,
        /no remote store for scheme "hdfs".*registered: file, http, https/,
      )
      .with.property('code', 'UNSUPPORTED_URI');
    expect(() => stores.resolve('relative/path')).to.throw(RemoteStoreError, /absolute path/);
  });

  it('takes new schemes without changes to the client', () => {
    const hdfs: RemoteStore = {
      schemes: ['hdfs'],
      open: () => Promise.resolve(Readable.from([Buffer.from('x')])),
      stat: () => Promise.resolve({ size: 1 }),
    };
    const extended = RemoteStores.withDefaults().register(hdfs);
    expect(extended.resolve('hdfs://nn/a')).to.equal(hdfs);
  });

  it('keeps credentials and query strings out of error messages', () => {
    expect(() => stores.resolve('s3://user:secret@bucket/k?X-Amz-Signature=abc'))
      .to.throw(RemoteStoreError)
      .that.satisfies((err: Error) => !/secret|abc/.test(err.message));
  });
});

describe('FileRemoteStore', () => {
  const store = new FileRemoteStore();
  const data = randomBytes(100_003);
  let dir: string;
  let file: string;
  let uri: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ckc-file-store-'));
    file = path.join(dir, 'chk 1.bin');
    uri = pathToFileURL(file).toString();
    await writeFile(file, data);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a whole file by file:// URI (percent-encoded) and by absolute path', async () => {
    expect(uri).to.contain('%20');
    expect((await buffer(await store.open(uri, 0))).equals(data)).to.equal(true);
    expect((await buffer(await store.open(file, 0))).equals(data)).to.equal(true);
  });

  it('reads exact ranges', async () => {
    const cases: [number, number | undefined][] = [
      [0, 1],
      [1, 65_536],
      [12_345, 54_321],
      [99_999, undefined],
      [data.length - 1, 1],
      [data.length, undefined],
      [data.length, 0],
      [500, 0],
    ];
    for (const [offset, length] of cases) {
      const got = await buffer(await store.open(uri, offset, length));
      const want = data.subarray(offset, length === undefined ? undefined : offset + length);
      expect(got.equals(want), `${offset}+${length}`).to.equal(true);
    }
  });

  it('rejects ranges outside the file', async () => {
    const past = await storeRejection(store.open(uri, data.length + 1));
    expect(past.code).to.equal('RANGE_NOT_SATISFIABLE');
    expect(past.message).to.contain(`${data.length} bytes`);
    const tooLong = await storeRejection(store.open(uri, 10, data.length));
    expect(tooLong.code).to.equal('RANGE_NOT_SATISFIABLE');
  });

  it('reports a missing file as NOT_FOUND and a directory as IO', async () => {
    expect((await storeRejection(store.open(path.join(dir, 'nope'), 0))).code).to.equal(
      'NOT_FOUND',
    );
    expect((await storeRejection(store.stat(path.join(dir, 'nope')))).code).to.equal('NOT_FOUND');
    expect((await storeRejection(store.open(dir, 0))).code).to.equal('IO');
  });

  it('stats the size', async () => {
    expect(await store.stat(uri)).to.deep.equal({ size: data.length });
  });
});

describe('HttpRemoteStore', () => {
  const store = new HttpRemoteStore({ responseTimeoutMs: 5_000 });
  const data = randomBytes(200_001);
  let server: RangeHttpServer;

  before(async () => {
    server = await RangeHttpServer.start();
    server.objects.set('chk', data);
  });

  after(async () => {
    await server.stop();
  });

  it('gets the whole object without a Range header', async () => {
    server.ranges.length = 0;
    const got = await buffer(await store.open(server.url('chk'), 0));
    expect(got.equals(data)).to.equal(true);
    expect(server.ranges).to.deep.equal([undefined]);
  });

  it('gets exact ranges with Range: bytes=o-e and checks the 206', async () => {
    const cases: [number, number | undefined][] = [
      [0, 1],
      [1, 100_000],
      [65_536, 65_536],
      [123_456, undefined],
      [data.length - 1, undefined],
      [0, data.length],
      [77, 0],
    ];
    server.ranges.length = 0;
    for (const [offset, length] of cases) {
      const got = await buffer(await store.open(server.url('chk'), offset, length));
      const want = data.subarray(offset, length === undefined ? undefined : offset + length);
      expect(got.equals(want), `${offset}+${length}`).to.equal(true);
    }
    expect(server.ranges).to.deep.equal([
      'bytes=0-0',
      'bytes=1-100000',
      'bytes=65536-131071',
      'bytes=123456-',
      `bytes=${data.length - 1}-`,
      `bytes=0-${data.length - 1}`,
    ]);
  });

  it('reports 404 as NOT_FOUND with the status in the message', async () => {
    const err = await storeRejection(store.open(server.url('missing'), 10, 10));
    expect(err.code).to.equal('NOT_FOUND');
    expect(err.message).to.match(/HTTP 404/);
    expect((await storeRejection(store.stat(server.url('missing')))).code).to.equal('NOT_FOUND');
  });

  it('reports a range past the end (416) as RANGE_NOT_SATISFIABLE', async () => {
    const err = await storeRejection(store.open(server.url('chk'), data.length + 5, 10));
    expect(err.code).to.equal('RANGE_NOT_SATISFIABLE');
    expect(err.message).to.contain(`bytes */${data.length}`);
  });

  it('rejects a 206 whose Content-Range covers other bytes', async () => {
    const err = await storeRejection(store.open(server.url('chk', 'wrong-range'), 100, 50));
    expect(err.code).to.equal('BAD_RESPONSE');
    expect(err.message).to.match(
      /Content-Range "bytes 101-150\/200001" does not cover bytes 100-149/,
    );
  });

  it('rejects a 200 to a range that does not start at 0', async () => {
    const err = await storeRejection(store.open(server.url('chk', 'ignores-range'), 100, 50));
    expect(err.code).to.equal('BAD_RESPONSE');
    expect(err.message).to.match(/ignored the Range header/);
  });

  it('accepts a 200 for a range that is the whole object', async () => {
    const got = await buffer(await store.open(server.url('chk', 'ignores-range'), 0, data.length));
    expect(got.equals(data)).to.equal(true);
  });

  it('fails the stream when the body stops early', async () => {
    const stream = await store.open(server.url('chk', 'short'), 1000, 100_000);
    let failure: unknown;
    try {
      await buffer(stream);
    } catch (err) {
      failure = err;
    }
    expect(failure).to.be.instanceOf(Error);
  });

  it('follows redirects', async () => {
    const got = await buffer(await store.open(server.url('chk', 'redirect'), 10, 20));
    expect(got.equals(data.subarray(10, 30))).to.equal(true);
  });

  it('stats the size with HEAD', async () => {
    expect(await store.stat(server.url('chk'))).to.deep.equal({ size: data.length });
  });

  it('reports a refused connection as IO', async () => {
    const err = await storeRejection(store.open('http://127.0.0.1:1/x', 0, 10));
    expect(err.code).to.equal('IO');
  });
});
