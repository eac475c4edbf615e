/**
 * OpenFiles on a real file system: handles are shared, kept in LRU order, and a forgotten handle
 * is never handed out again (a key deleted and written anew must be read from its new file).
 */
import { expect } from 'chai';
import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { OpenFiles } from '@checkpoint-cache/cache';
import { waitUntil } from '../helpers/wait-until';

async function readAll(
  handle: { read: (b: Buffer, o: number, l: number, p: number) => Promise<{ bytesRead: number }> },
  size: number,
): Promise<string> {
  const buf = Buffer.alloc(size);
  const { bytesRead } = await handle.read(buf, 0, size, 0);
  return buf.subarray(0, bytesRead).toString();
}

describe('OpenFiles', function () {
  let dir: string;
  const file = (name: string): string => path.join(dir, name);

  beforeEach(async function () {
    dir = await mkdtemp(path.join(tmpdir(), 'ckc-open-files-'));
    for (const name of ['a', 'b', 'c']) await writeFile(file(name), `contents of ${name}`);
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('lends one handle to every read of the same entry', async function () {
    const files = new OpenFiles(4);
    const first = await files.acquire('a', file('a'));
    const second = await files.acquire('a', file('a'));
    expect(second.handle).to.equal(first.handle);
    first.release();
    second.release();
    const third = await files.acquire('a', file('a'));
    expect(third.handle).to.equal(first.handle);
    expect(third.handle.fd).to.be.above(-1);
    third.release();
    expect(files.size).to.equal(1);
    await files.closeAll();
    expect(first.handle.fd).to.equal(-1);
  });

  it('after forget, opens the file anew and closes the old handle once its reads are done', async function () {
    const files = new OpenFiles(4);
    const reading = await files.acquire('a', file('a'));
    // The entry goes away and the same key is written again with other bytes.
    files.forget('a');
    await unlink(file('a'));
    await writeFile(file('a.tmp'), 'new contents');
    await rename(file('a.tmp'), file('a'));
    const fresh = await files.acquire('a', file('a'));
    expect(fresh.handle).to.not.equal(reading.handle);
    expect(await readAll(fresh.handle, 64)).to.equal('new contents');
    // The read that started before keeps its (unlinked) file until it is done.
    expect(await readAll(reading.handle, 64)).to.equal('contents of a');
    expect(reading.handle.fd).to.be.above(-1);
    reading.release();
    await waitUntil(() => reading.handle.fd === -1, { message: 'reading closed' });
    fresh.release();
    await files.closeAll();
  });

  it('forgets an open that was still in flight, and never hands that handle out again', async function () {
    const files = new OpenFiles(4);
    const pending = files.acquire('a', file('a'));
    files.forget('a');
    const lent = await pending;
    const again = await files.acquire('a', file('a'));
    expect(again.handle).to.not.equal(lent.handle);
    lent.release();
    again.release();
    await files.closeAll();
    expect(lent.handle.fd).to.equal(-1);
    expect(again.handle.fd).to.equal(-1);
  });

  it('closes the least recently used idle handle beyond its capacity, not one in use', async function () {
    const files = new OpenFiles(2);
    const a = await files.acquire('a', file('a'));
    const b = await files.acquire('b', file('b'));
    b.release();
    // a is older but lent; b is idle. Adding c pushes a out of the cache, but a stays open.
    const c = await files.acquire('c', file('c'));
    c.release();
    expect(files.size).to.equal(2);
    expect(a.handle.fd).to.be.above(-1);
    expect(await readAll(a.handle, 64)).to.equal('contents of a');
    a.release();
    await waitUntil(() => a.handle.fd === -1, { message: 'a closed' });
    expect(b.handle.fd).to.be.above(-1);
    await files.closeAll();
    expect(b.handle.fd).to.equal(-1);
    expect(c.handle.fd).to.equal(-1);
  });

  it('passes open errors on and caches nothing for them', async function () {
    const files = new OpenFiles(2);
    const err = await files.acquire('x', file('missing')).catch((e: NodeJS.ErrnoException) => e);
    expect((err as NodeJS.ErrnoException).code).to.equal('ENOENT');
    await new Promise((resolve) => setImmediate(resolve));
    expect(files.size).to.equal(0);
    await writeFile(file('missing'), 'now here');
    const lent = await files.acquire('x', file('missing'));
    expect(await readAll(lent.handle, 64)).to.equal('now here');
    lent.release();
    await files.closeAll();
  });

  it('with capacity 0, opens and closes per read', async function () {
    const files = new OpenFiles(0);
    const a = await files.acquire('a', file('a'));
    expect(files.size).to.equal(0);
    a.release();
    a.release(); // a second release is harmless
    await waitUntil(() => a.handle.fd === -1, { message: 'a closed' });
  });
});
