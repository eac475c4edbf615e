/**
 * The demo's stand-in for HDFS or S3: an HTTP server with Range support that serves a folder no
 * faster than a configured link rate, so that "restore from remote" costs what a real network
 * would. Owns: its listening socket and the rate limit. Never: anything outside its folder (file
 * names are checked against the folder's own listing).
 */
import { createReadStream, promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Shares one link between all responses: bytes leave back to back at the link rate, and an idle
 * link saves up no credit (no burst after a pause).
 */
class LinkRate {
  /** When the link is free again, in ms of performance.now(). */
  private freeAtMs = 0;

  constructor(private readonly bytesPerSecond: number) {}

  /** Resolves when `bytes` more have crossed the link. */
  async take(bytes: number): Promise<void> {
    const now = performance.now();
    this.freeAtMs = Math.max(now, this.freeAtMs) + (bytes / this.bytesPerSecond) * 1000;
    const waitMs = this.freeAtMs - now;
    // Short waits are left to accumulate: timers overshoot by about a millisecond each.
    if (waitMs >= 10) await new Promise((r) => setTimeout(r, waitMs));
  }

  throttle(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, done: TransformCallback) => {
        this.take(chunk.length).then(
          () => done(null, chunk),
          (err: Error) => done(err),
        );
      },
    });
  }
}

export interface ThrottledHttpServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

export async function startThrottledHttpServer(
  root: string,
  bytesPerSecond: number,
): Promise<ThrottledHttpServer> {
  const link = new LinkRate(bytesPerSecond);
  const server = http.createServer((req, res) => {
    serve(root, link, req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function serve(
  root: string,
  link: LinkRate,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const name = decodeURIComponent((req.url ?? '/').slice(1));
  if (!(await fs.readdir(root)).includes(name)) {
    res.writeHead(404).end();
    return;
  }
  const file = path.join(root, name);
  const size = (await fs.stat(file)).size;
  let start = 0;
  let end = size - 1;
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  if (range) {
    start = Number(range[1]);
    end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start >= size) {
      res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    res.writeHead(206, {
      'Content-Length': end - start + 1,
      'Content-Range': `bytes ${start}-${end}/${size}`,
      'Accept-Ranges': 'bytes',
    });
  } else {
    res.writeHead(200, { 'Content-Length': size, 'Accept-Ranges': 'bytes' });
  }
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  await pipeline(createReadStream(file, { start, end }), link.throttle(), res);
}
