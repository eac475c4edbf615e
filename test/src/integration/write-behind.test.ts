/** WriteBehind against a real file: order, bounds and failures of the writes it queues. */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
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
    const handle = await fs.open(file, 'w');
    const out = new WriteBehind(handle, 0, 256 * 1024);
    const pieces = Array.from({ length: 200 }, (_, i) => randomBytes(1 + ((i * 7919) % 70_000)));
    for (const piece of pieces) await out.append(piece);
    await out.flush();
    await handle.close();
    expect((await fs.readFile(file)).equals(Buffer.concat(pieces))).to.equal(true);
  });

  it('reports a failed write at the next append or flush, and settles without throwing', async function () {
    const file = path.join(dir, 'read-only');
    await fs.writeFile(file, '');
    const handle = await fs.open(file, 'r');
    const out = new WriteBehind(handle);
    await out.append(randomBytes(1000));
    const err = await rejection(out.flush());
    expect((err as NodeJS.ErrnoException).code).to.equal('EBADF');
    expect(((await rejection(out.append(randomBytes(10)))) as NodeJS.ErrnoException).code).to.equal(
      'EBADF',
    );
    await out.settle();
    await handle.close();
  });
});
