/** WriteBehind against a real file: order, bounds and failures of the writes it queues. */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { WriteBehind } from '@checkpoint-cache/cache';
import { rejection } from '../helpers/rejection';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';

describe('WriteBehind', function () {
  let dir: string;

  beforeEach(async () => {
    dir = await makeTempDir('ckc-write-behind-');
  });
  afterEach(async () => {
    await removeTempDir(dir);
  });

  it('writes every appended chunk in order, several per writev, bounded by its queue', async function () {
    const file = path.join(dir, 'out');
    const fd = openSync(file, 'w');
    const out = new WriteBehind(fd, 0, 256 * 1024);
    const pieces = Array.from({ length: 200 }, (_, i) => randomBytes(1 + ((i * 7919) % 70_000)));
    for (const piece of pieces) await out.append(piece);
    await out.flush();
    closeSync(fd);
    expect((await fs.readFile(file)).equals(Buffer.concat(pieces))).to.equal(true);
  });

  it('writes a small rest at flush with a synchronous call, after the writes in flight', async function () {
    const file = path.join(dir, 'out');
    const fd = openSync(file, 'w');
    const out = new WriteBehind(fd, 0, 8 * 1024 * 1024, 256 * 1024);
    const pieces = Array.from({ length: 20 }, () => randomBytes(64 * 1024));
    for (const piece of pieces) await out.append(piece);
    const tail = randomBytes(4096);
    await out.append(tail);
    await out.flush();
    // A flush with nothing in flight and a few KiB queued: written before flush returns.
    const last = randomBytes(100);
    await out.append(last);
    const flushed = out.flush();
    expect((await fs.stat(file)).size).to.equal(20 * 64 * 1024 + 4096 + 100);
    await flushed;
    closeSync(fd);
    expect((await fs.readFile(file)).equals(Buffer.concat([...pieces, tail, last]))).to.equal(true);
  });

  it('reports a failed write at the next append or flush, and settles without throwing', async function () {
    const file = path.join(dir, 'read-only');
    await fs.writeFile(file, '');
    const fd = openSync(file, 'r');
    const out = new WriteBehind(fd);
    await out.append(randomBytes(1000));
    const err = await rejection(out.flush());
    expect((err as NodeJS.ErrnoException).code).to.equal('EBADF');
    expect(((await rejection(out.append(randomBytes(10)))) as NodeJS.ErrnoException).code).to.equal(
      'EBADF',
    );
    await out.settle();
    closeSync(fd);
  });
});
