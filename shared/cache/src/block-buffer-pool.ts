/**
 * Reuses the buffers that reads fill block by block. Streaming a large entry otherwise allocates a
 * new 256 KiB buffer per block, and the garbage collector then takes a quarter of the agent's CPU
 * (measured, docs/benchmarks.md). A buffer comes back only when its bytes have been handed to the
 * socket, so nothing still referenced is ever overwritten.
 */
export class BlockBufferPool {
  private readonly free: Buffer[] = [];

  /** Buffers of `size` bytes; at most `keep` idle ones are kept. */
  constructor(
    readonly size: number,
    private readonly keep: number,
  ) {}

  acquire(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  release(buffer: Buffer): void {
    if (buffer.length === this.size && this.free.length < this.keep) this.free.push(buffer);
  }
}
