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
}
