/**
 * KeyedMutex: one id's operations run one at a time, in order; runAll holds several ids at once
 * and, queued for them in one step, cannot deadlock with another runAll over overlapping ids.
 */
import { expect } from 'chai';
import { KeyedMutex } from '@checkpoint-cache/cache';

function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('KeyedMutex', function () {
  it('runs one id at a time in order, other ids beside it', async function () {
    const locks = new KeyedMutex();
    const order: string[] = [];
    const first = gate();
    const a1 = locks.run('a', async () => {
      await first.opened;
      order.push('a1');
    });
    const a2 = locks.run('a', async () => {
      order.push('a2');
    });
    await locks.run('b', async () => {
      order.push('b');
    });
    first.open();
    await Promise.all([a1, a2]);
    expect(order).to.deep.equal(['b', 'a1', 'a2']);
  });

  it('runAll waits for every id it takes, and holds them all until it ends', async function () {
    const locks = new KeyedMutex();
    const order: string[] = [];
    const held = gate();
    const a = locks.run('a', async () => {
      await held.opened;
      order.push('a');
    });
    const all = locks.runAll(['a', 'b'], async () => {
      order.push('all');
    });
    const b = locks.run('b', async () => {
      order.push('b');
    });
    held.open();
    await Promise.all([a, all, b]);
    expect(order).to.deep.equal(['a', 'all', 'b']);
  });

  it('runAll over overlapping ids in opposite orders does not deadlock', async function () {
    const locks = new KeyedMutex();
    const order: string[] = [];
    const one = locks.runAll(['a', 'b', 'c'], async () => {
      await new Promise((resolve) => setImmediate(resolve));
      order.push('one');
    });
    const two = locks.runAll(['c', 'b', 'd'], async () => {
      order.push('two');
    });
    await Promise.all([one, two]);
    expect(order).to.deep.equal(['one', 'two']);
  });

  it('a failure releases every id runAll held', async function () {
    const locks = new KeyedMutex();
    const failed = locks.runAll(['a', 'b'], async () => {
      throw new Error('boom');
    });
    await failed.catch(() => undefined);
    let ran = false;
    await locks.runAll(['b', 'a'], async () => {
      ran = true;
    });
    expect(ran).to.equal(true);
  });
});
