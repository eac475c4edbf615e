/**
 * Turns the Redis URL an operator configured into ioredis connection settings, and describes the
 * endpoint for logs and error messages without its credentials.
 * Owns: the accepted URL forms. Never: connecting, or putting a password into any returned text.
 */
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';

/** Where and how to connect; the subset of ioredis options a URL can carry. */
export interface RedisEndpoint {
  /** TCP host (IPv6 without brackets); absent for a Unix socket. */
  host?: string;
  port?: number;
  /** Unix socket path; absent for TCP. */
  path?: string;
  /** TLS (rediss://); the server name is the host unless it is an IP address. */
  tls?: { servername?: string };
  username?: string;
  password?: string;
  db?: number;
  /** The endpoint as it may appear in logs: scheme, host, port or path, db; never credentials. */
  description: string;
}

const DEFAULT_PORT = 6379;
const TCP_PROTOCOLS = new Set(['redis:', 'rediss:']);
const UNIX_PROTOCOLS = new Set(['unix:', 'redis+unix:']);
const EXPECTED =
  'expected redis://[user:password@]host[:port][/db], rediss://... (TLS), ' +
  'unix:///path/to/redis.sock[?db=N] or redis+unix:///path/to/redis.sock';

function invalid(message: string): CacheError {
  return new CacheError(ErrorCode.InvalidArgument, `Redis URL ${message}; ${EXPECTED}`);
}

function parseDb(text: string): number {
  if (!/^\d{1,5}$/.test(text)) throw invalid(`has database ${JSON.stringify(text)}, not a number`);
  return Number(text);
}

function isIpAddress(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

/** Parses `url`; throws CacheError(InvalidArgument) naming what is wrong (never the password). */
export function parseRedisUrl(url: string): RedisEndpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The URL may hold a password, so the message shows at most its scheme.
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0];
    throw invalid(`cannot be parsed${scheme ? ` (scheme ${scheme})` : ''}`);
  }
  const protocol = parsed.protocol.toLowerCase();
  const endpoint: Omit<RedisEndpoint, 'description'> = {};
  if (parsed.username) endpoint.username = decodeURIComponent(parsed.username);
  if (parsed.password) endpoint.password = decodeURIComponent(parsed.password);

  for (const [name, value] of parsed.searchParams) {
    if (name === 'db') endpoint.db = parseDb(value);
    else if (name === 'password' && UNIX_PROTOCOLS.has(protocol)) endpoint.password = value;
    else if (name === 'username' && UNIX_PROTOCOLS.has(protocol)) endpoint.username = value;
    else throw invalid(`has unsupported parameter ${JSON.stringify(name)}`);
  }

  if (TCP_PROTOCOLS.has(protocol)) {
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === '') throw invalid('has no host');
    endpoint.host = host;
    endpoint.port = parsed.port === '' ? DEFAULT_PORT : Number(parsed.port);
    const dbPath = parsed.pathname.replace(/^\//, '');
    if (dbPath !== '') {
      if (endpoint.db !== undefined) throw invalid('gives the database both as path and as ?db=');
      endpoint.db = parseDb(dbPath);
    }
    if (protocol === 'rediss:') endpoint.tls = isIpAddress(host) ? {} : { servername: host };
  } else if (UNIX_PROTOCOLS.has(protocol)) {
    if (parsed.hostname !== '' && parsed.hostname !== 'localhost') {
      throw invalid(`names host ${JSON.stringify(parsed.hostname)}; a Unix socket URL has none`);
    }
    const socketPath = decodeURIComponent(parsed.pathname);
    if (socketPath === '' || socketPath === '/') throw invalid('has no socket path');
    endpoint.path = socketPath;
  } else {
    throw invalid(`has unsupported scheme ${protocol}`);
  }
  return { ...endpoint, description: describeRedisOptions(endpoint) };
}

/** The endpoint of an ioredis connection's options, for logs and messages (never credentials). */
export function describeRedisOptions(options: {
  host?: string;
  port?: number;
  path?: string | null;
  tls?: unknown;
  db?: number;
}): string {
  let text: string;
  if (options.path) {
    text = `unix://${options.path}`;
  } else {
    const host = options.host ?? 'localhost';
    const shownHost = host.includes(':') ? `[${host}]` : host;
    text = `${options.tls ? 'rediss' : 'redis'}://${shownHost}:${options.port ?? DEFAULT_PORT}`;
  }
  return options.db ? `${text}/${options.db}` : text;
}
