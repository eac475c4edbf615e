/**
 * The socket limit: a plain net.Server that, on every connection, pipes one file's bytes from
 * disk into the socket and closes it; no framing, no checksums. Over loopback TCP or a Unix
 * socket it is what Node can move from a file to a peer, the ceiling for any protocol on top.
 * Owns: its listening socket. Never: reading anything from the peer.
 */
import { createReadStream } from 'node:fs';
import * as net from 'node:net';
import { pipeline } from 'node:stream/promises';

/** The agent's checksum block size: the pipe's smaller read size, and the Node file-read limit's. */
export const RAW_PIPE_READ_SIZE = 256 * 1024;
/**
 * The read sizes the bench measures the raw pipes at; the faster one is the limit (on this machine
 * 1 MiB reads moved about twice what 256 KiB reads did, see docs/benchmarks.md).
 */
export const RAW_PIPE_READ_SIZES = { '256k': RAW_PIPE_READ_SIZE, '1m': 1024 * 1024 } as const;
export type RawPipeReadSize = keyof typeof RAW_PIPE_READ_SIZES;

export class RawPipeServer {
  private readonly server: net.Server;

  constructor(
    private readonly file: string,
    private readonly readSize: number = RAW_PIPE_READ_SIZE,
  ) {
    this.server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      pipeline(createReadStream(this.file, { highWaterMark: this.readSize }), socket).catch(() =>
        socket.destroy(),
      );
    });
  }

  /** Listens on `127.0.0.1:0` (`{ port: 0 }`) or a Unix socket path; returns the address. */
  listen(where: { port: number } | { path: string }): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      const done = (): void => {
        const address = this.server.address();
        resolve(typeof address === 'string' ? address : `127.0.0.1:${address?.port ?? 0}`);
      };
      if ('path' in where) this.server.listen(where.path, done);
      else this.server.listen(where.port, '127.0.0.1', done);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
