/**
 * Serialises operations on the same entry id (publish, delete, reference changes) while letting
 * different ids proceed in parallel. Reads never take it.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(id) ?? Promise.resolve();
    const result = previous.then(fn, fn);
    const tail = result.catch(() => undefined);
    this.tails.set(id, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(id) === tail) this.tails.delete(id);
    }
  }

  /**
   * `fn` holding the locks of all `ids` (distinct) at once. They are queued for together, in one
   * step, so two such calls over overlapping ids cannot each hold some and wait for the rest.
   */
  async runAll<T>(ids: readonly string[], fn: () => Promise<T>): Promise<T> {
    const previous: Promise<unknown>[] = [];
    for (const id of ids) {
      const tail = this.tails.get(id);
      if (tail) previous.push(tail);
    }
    const result = Promise.all(previous).then(fn, fn);
    const tail = result.catch(() => undefined);
    for (const id of ids) this.tails.set(id, tail);
    try {
      return await result;
    } finally {
      for (const id of ids) if (this.tails.get(id) === tail) this.tails.delete(id);
    }
  }
}
