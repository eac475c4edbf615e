/**
 * Stand-in for the shaped link when network namespaces cannot be made (no root): an HTTP server
 * on loopback with Range support whose responses share one token bucket at the link rate. It runs
 * in the bench process, so it is a weaker stand-in than nginx behind tc; the bench says so in its
 * output whenever it is used.
 * Owns: its listening socket and the bucket. Never: paths outside its folder (only names of the
 * files it was given are served).
 */
import { createReadStream } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Bytes leave back to back at the rate; an idle link saves up at most `burstBytes` of credit. */
class TokenBucket {
  private tokens: number;
  private lastMs = performance.now();

  constructor(
    private readonly bytesPerSecond: number,
    private readonly burstBytes: number,
  ) {
    this.tokens = burstBytes;
  }

  async take(bytes: number): Promise<void> {
    const now = performance.now();
    this.tokens = Math.min(
      this.burstBytes,
      this.tokens + ((now - this.lastMs) / 1000) * this.bytesPerSecond,
    );
    this.lastMs = now;
    this.tokens -= bytes;
    if (this.tokens < 0) {
      const waitMs = (-this.tokens / this.bytesPerSecond) * 1000;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}

export class ThrottledRangeServer {
  private readonly server: http.Server;
  private readonly bucket: TokenBucket;

  /** `files`: URL path (without the leading `/`) → file on disk. */
  constructor(
    private readonly files: ReadonlyMap<string, { path: string; size: number }>,
    bitsPerSecond: number,
  ) {
    this.bucket = new TokenBucket(bitsPerSecond / 8, 512 * 1024);
    this.server = http.createServer((req, res) => {
      this.serve(req, res).catch(() => res.destroy());
    });
  }

  /** Listens on 127.0.0.1:0; returns `http://127.0.0.1:PORT`. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const file = this.files.get(decodeURIComponent((req.url ?? '/').slice(1)));
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end();
      return;
    }
    let start = 0;
    let end = file.size - 1;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), end) : end;
      if (start > end) {
        res.writeHead(416, { 'content-range': `bytes */${file.size}` }).end();
        return;
      }
      res.writeHead(206, {
        'content-range': `bytes ${start}-${end}/${file.size}`,
        'content-length': end - start + 1,
      });
    } else {
      res.writeHead(200, { 'content-length': file.size });
    }
    if (req.method === 'HEAD' || file.size === 0) {
      res.end();
      return;
    }
    const bucket = this.bucket;
    const throttle = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        bucket.take(chunk.length).then(
          () => done(null, chunk),
          (err: Error) => done(err),
        );
      },
    });
    await pipeline(createReadStream(file.path, { start, end }), throttle, res);
  }
}
