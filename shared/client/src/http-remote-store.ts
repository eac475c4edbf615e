/**
 * Remote store adapter for `http://` and `https://` URIs: ranged GETs against any server that
 * honours `Range` (nginx, S3 presigned URLs, WebHDFS behind a gateway).
 * Owns: the Range request, checking that the answer covers exactly the bytes asked for, and
 * following redirects. Never: retries, or accepting a response that covers another range.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { Readable } from 'node:stream';
import { expectLength } from './expect-length';
import type { RemoteStat, RemoteStore } from './remote-store';
import { redactUri, RemoteStoreError } from './remote-store-error';

export interface HttpRemoteStoreOptions {
  /**
   * Longest wait for the response headers (connect included). It does not limit the body: a slow
   * consumer pausing a large download must not kill it. Default 30 s.
   */
  responseTimeoutMs?: number;
  /** Redirects followed per request (WebHDFS answers with a 307 to the data node). Default 5. */
  maxRedirects?: number;
  /** Extra request headers, e.g. `Authorization`. */
  headers?: Readonly<Record<string, string>>;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

export class HttpRemoteStore implements RemoteStore {
  readonly schemes = ['http', 'https'] as const;
  private readonly responseTimeoutMs: number;
  private readonly maxRedirects: number;
  private readonly headers: Readonly<Record<string, string>>;

  constructor(options: HttpRemoteStoreOptions = {}) {
    this.responseTimeoutMs = options.responseTimeoutMs ?? 30_000;
    this.maxRedirects = options.maxRedirects ?? 5;
    this.headers = options.headers ?? {};
  }

  async open(uri: string, offset: number, length?: number): Promise<Readable> {
    const shown = redactUri(uri);
    if (length === 0) {
      // `bytes=o-(o-1)` is not a valid range; an empty read needs no request at all.
      return Readable.from([]);
    }
    const wholeObject = offset === 0 && length === undefined;
    const last = length === undefined ? '' : String(offset + length - 1);
    const headers: Record<string, string> = { ...this.headers, 'accept-encoding': 'identity' };
    if (!wholeObject) headers.range = `bytes=${offset}-${last}`;
    const res = await this.request(uri, 'GET', headers);
    const what = `GET ${shown} bytes=${offset}-${last}`;
    try {
      const expected = checkRangeResponse(res, offset, length, what);
      return expected === undefined ? res : expectLength(res, expected, what);
    } catch (err) {
      res.destroy();
      throw err;
    }
  }

  async stat(uri: string): Promise<RemoteStat> {
    const res = await this.request(uri, 'HEAD', { ...this.headers });
    res.resume();
    const what = `HEAD ${redactUri(uri)}`;
    failOnErrorStatus(res, what);
    const size = Number(res.headers['content-length']);
    if (res.statusCode !== 200 || !Number.isSafeInteger(size) || size < 0) {
      throw new RemoteStoreError(
        'BAD_RESPONSE',
        `${what}: expected 200 with a Content-Length, got ${res.statusCode} ` +
          `with Content-Length ${res.headers['content-length'] ?? 'absent'}`,
      );
    }
    return { size };
  }

  private async request(
    uri: string,
    method: 'GET' | 'HEAD',
    headers: Record<string, string>,
  ): Promise<http.IncomingMessage> {
    let url = parseHttpUrl(uri);
    for (let redirects = 0; ; redirects++) {
      const res = await this.requestOnce(url, method, headers);
      const location = res.headers.location;
      if (!REDIRECTS.has(res.statusCode ?? 0) || location === undefined) return res;
      res.resume();
      if (redirects >= this.maxRedirects) {
        throw new RemoteStoreError(
          'BAD_RESPONSE',
          `${method} ${redactUri(uri)}: more than ${this.maxRedirects} redirects`,
        );
      }
      url = parseHttpUrl(new URL(location, url).toString());
    }
  }

  private requestOnce(
    url: URL,
    method: 'GET' | 'HEAD',
    headers: Record<string, string>,
  ): Promise<http.IncomingMessage> {
    const shown = redactUri(url.toString());
    return new Promise((resolve, reject) => {
      const transport = url.protocol === 'https:' ? https : http;
      const req = transport.request(url, { method, headers }, (res) => {
        req.setTimeout(0);
        resolve(res);
      });
      req.setTimeout(this.responseTimeoutMs, () => {
        req.destroy(
          new RemoteStoreError(
            'IO',
            `${method} ${shown}: no response within ${this.responseTimeoutMs} ms`,
          ),
        );
      });
      req.on('error', (err) => {
        reject(
          err instanceof RemoteStoreError
            ? err
            : new RemoteStoreError('IO', `${method} ${shown}: ${err.message}`, { cause: err }),
        );
      });
      req.end();
    });
  }
}

function parseHttpUrl(uri: string): URL {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (err) {
    throw new RemoteStoreError('UNSUPPORTED_URI', `${redactUri(uri)} is not a valid URL`, {
      cause: err,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RemoteStoreError(
      'UNSUPPORTED_URI',
      `${redactUri(uri)} is not an http:// or https:// URL`,
    );
  }
  return url;
}

function failOnErrorStatus(res: http.IncomingMessage, what: string): void {
  const code = res.statusCode ?? 0;
  if (code >= 200 && code < 300) return;
  const text = `${what}: HTTP ${code} ${res.statusMessage ?? ''}`.trimEnd();
  if (code === 404 || code === 410) throw new RemoteStoreError('NOT_FOUND', text);
  if (code === 416) {
    const range = res.headers['content-range'];
    throw new RemoteStoreError(
      'RANGE_NOT_SATISFIABLE',
      range === undefined ? text : `${text} (${range})`,
    );
  }
  throw new RemoteStoreError('BAD_RESPONSE', text);
}

/**
 * Checks that `res` carries exactly the asked range; returns the body length to expect, or
 * undefined when the server did not say (a whole-object 200 without Content-Length).
 */
function checkRangeResponse(
  res: http.IncomingMessage,
  offset: number,
  length: number | undefined,
  what: string,
): number | undefined {
  failOnErrorStatus(res, what);
  const encoding = res.headers['content-encoding'];
  if (encoding !== undefined && encoding !== 'identity') {
    throw new RemoteStoreError(
      'BAD_RESPONSE',
      `${what}: server sent Content-Encoding ${encoding}; byte ranges need identity`,
    );
  }
  const contentLength =
    res.headers['content-length'] === undefined ? undefined : Number(res.headers['content-length']);
  if (res.statusCode === 206) {
    const header = res.headers['content-range'] ?? '';
    const match = CONTENT_RANGE.exec(header);
    const first = match ? Number(match[1]) : NaN;
    const last = match ? Number(match[2]) : NaN;
    const total = match && match[3] !== '*' ? Number(match[3]) : undefined;
    const wantedLast =
      length !== undefined ? offset + length - 1 : total !== undefined ? total - 1 : last;
    if (
      !match ||
      first !== offset ||
      last !== wantedLast ||
      (total !== undefined && last >= total)
    ) {
      throw new RemoteStoreError(
        'BAD_RESPONSE',
        `${what}: 206 with Content-Range "${header}" does not cover bytes ${offset}-${wantedLast}`,
      );
    }
    const expected = last - first + 1;
    if (contentLength !== undefined && contentLength !== expected) {
      throw new RemoteStoreError(
        'BAD_RESPONSE',
        `${what}: Content-Length ${contentLength} disagrees with Content-Range "${header}"`,
      );
    }
    return expected;
  }
  if (res.statusCode === 200) {
    // A plain 200 is the whole object: acceptable only when the whole object was asked for.
    const whole =
      offset === 0 &&
      (length === undefined || (contentLength !== undefined && contentLength === length));
    if (!whole) {
      throw new RemoteStoreError(
        'BAD_RESPONSE',
        `${what}: server ignored the Range header (200 with Content-Length ` +
          `${contentLength ?? 'absent'})`,
      );
    }
    return contentLength;
  }
  throw new RemoteStoreError('BAD_RESPONSE', `${what}: unexpected HTTP ${res.statusCode}`);
}
