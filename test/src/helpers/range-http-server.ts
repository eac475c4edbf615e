/**
 * A real HTTP server on 127.0.0.1:0 serving in-memory objects with `Range` support, plus routes
 * that misbehave the ways real servers and proxies do, for the HTTP remote store tests.
 *
 * Routes: `/o/<name>` the object (200, or 206 for a Range, 416 past the end; HEAD too);
 * `/ignores-range/<name>` always 200 with the whole object; `/wrong-range/<name>` 206 with a
 * Content-Range one byte off; `/short/<name>` a correct 206 whose body stops halfway;
 * `/redirect/<name>` 307 to `/o/<name>`; anything else 404.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export class RangeHttpServer {
  readonly objects = new Map<string, Buffer>();
  /** Range header of each request, in order (`undefined` when absent). */
  readonly ranges: (string | undefined)[] = [];
  private readonly server: http.Server;

  private constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  static async start(): Promise<RangeHttpServer> {
    const fake = new RangeHttpServer();
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  url(name: string, route = 'o'): string {
    return `${this.baseUrl}/${route}/${name}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.ranges.push(req.headers.range);
    const [, route, name] = /^\/([^/]+)\/([^?]+)/.exec(req.url ?? '') ?? [];
    const data = name === undefined ? undefined : this.objects.get(name);
    if (data === undefined) {
      res.writeHead(404).end('not here');
      return;
    }
    if (route === 'redirect') {
      res.writeHead(307, { location: `/o/${name}` }).end();
      return;
    }
    if (route === 'ignores-range') {
      res.writeHead(200, { 'content-length': data.length }).end(data);
      return;
    }
    const range = parseRange(req.headers.range, data.length);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
      return;
    }
    if (range === undefined) {
      res.writeHead(200, { 'content-length': data.length, 'accept-ranges': 'bytes' });
      res.end(req.method === 'HEAD' ? undefined : data);
      return;
    }
    const [first, last] = range;
    const body = data.subarray(first, last + 1);
    const shown = route === 'wrong-range' ? `${first + 1}-${last + 1}` : `${first}-${last}`;
    res.writeHead(206, {
      'content-length': body.length,
      'content-range': `bytes ${shown}/${data.length}`,
    });
    if (route === 'short') {
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
      return;
    }
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}

function parseRange(
  header: string | undefined,
  size: number,
): [number, number] | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d+)-(\d*)$/.exec(header);
  if (!match) return undefined;
  const first = Number(match[1]);
  const last = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (first >= size || last < first) return 'unsatisfiable';
  return [first, last];
}
