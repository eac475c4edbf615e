/**
 * The socket limit: a plain net.Server that, on every connection, pipes one file's bytes from
 * disk into the socket and closes it; no framing, no checksums. Over loopback TCP or a Unix
 * socket it is what Node can move from a file to a peer, the ceiling for any protocol on top.
 * Owns: its listening socket. Never: reading anything from the peer.
 */
import { createReadStream } from 'node:fs';
import * as net from 'node:net';
import { pipeline } from 'node:stream/promises';

/** Same read size as the agent's checksum blocks, so both sides issue the same disk reads. */
export const RAW_PIPE_READ_SIZE = 256 * 1024;

export class RawPipeServer {
  private readonly server: net.Server;

  constructor(private readonly file: string) {
    this.server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      pipeline(createReadStream(this.file, { highWaterMark: RAW_PIPE_READ_SIZE }), socket).catch(
        () => socket.destroy(),
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
