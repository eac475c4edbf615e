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
  /**
   * Redis Cluster (redis+cluster://, rediss+cluster://): the seed nodes the client asks for the
   * topology; host, port, path and db are then absent (a cluster has only database 0).
   */
  cluster?: ClusterSeed[];
  /** The endpoint as it may appear in logs: scheme, host, port or path, db; never credentials. */
  description: string;
}

/** One seed node of a Redis Cluster URL. */
export interface ClusterSeed {
  host: string;
  port: number;
}

const DEFAULT_PORT = 6379;
const TCP_PROTOCOLS = new Set(['redis:', 'rediss:']);
const UNIX_PROTOCOLS = new Set(['unix:', 'redis+unix:']);
const EXPECTED =
  'expected redis://[user:password@]host[:port][/db], rediss://... (TLS), ' +
  'unix:///path/to/redis.sock[?db=N], redis+unix:///path/to/redis.sock, or a Redis Cluster as ' +
  'redis+cluster://[user:password@]host1:port1,host2:port2 (rediss+cluster://... for TLS)';

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

/**
 * Parses `url`; throws CacheError(InvalidArgument) naming what is wrong (never the password).
 *
 * Accepted forms:
 * - `redis://[user:password@]host[:port][/db]` (also `?db=N`), `rediss://...` for TLS;
 * - `unix:///path/to/redis.sock[?db=N&username=U&password=P]`, same with `redis+unix://`;
 * - `redis+cluster://[user:password@]host1[:port1],host2[:port2],...` for a Redis Cluster: the
 *   hosts are seeds (one reachable seed is enough; the client learns every master from it), the
 *   credentials apply to every node, and there is no database (a cluster has only db 0).
 *   `rediss+cluster://...` is the TLS variant; the certificates of every node are checked against
 *   the address the cluster announces for it, so give nodes certificates for those addresses.
 */
export function parseRedisUrl(url: string): RedisEndpoint {
  if (/^rediss?\+cluster:/i.test(url)) return parseClusterUrl(url);
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

/**
 * `redis+cluster://`: the WHATWG URL parser cannot read a comma-separated host list, so the
 * authority is split here and each seed is parsed as a host of its own.
 */
function parseClusterUrl(url: string): RedisEndpoint {
  const match = /^(rediss?\+cluster):\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i.exec(
    url,
  );
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? '';
  if (!match) throw invalid(`cannot be parsed (scheme ${scheme})`);
  const [, protocol = '', userInfo, hosts = '', dbPath = '', query = ''] = match;
  const endpoint: Omit<RedisEndpoint, 'description'> = {};
  if (userInfo !== undefined && userInfo !== '') {
    const colon = userInfo.indexOf(':');
    const user = colon < 0 ? userInfo : userInfo.slice(0, colon);
    const password = colon < 0 ? '' : userInfo.slice(colon + 1);
    try {
      if (user) endpoint.username = decodeURIComponent(user);
      if (password) endpoint.password = decodeURIComponent(password);
    } catch {
      throw invalid(`has credentials that cannot be decoded (scheme ${scheme})`);
    }
  }
  if (dbPath !== '' && dbPath !== '/' && dbPath !== '/0') {
    throw invalid('names a database; a Redis Cluster has only database 0');
  }
  if (query !== '' && query !== '?') {
    const name = [...new URLSearchParams(query).keys()][0] ?? '';
    throw invalid(`has unsupported parameter ${JSON.stringify(name)} for a cluster`);
  }
  if (hosts.includes('@')) {
    throw invalid("has an '@' after its credentials; percent-encode it in the password as %40");
  }
  const seeds: ClusterSeed[] = [];
  for (const part of hosts.split(',')) {
    if (part === '') throw invalid('has an empty host in its list of cluster nodes');
    let seed: URL;
    try {
      seed = new URL(`redis://${part}`);
    } catch {
      throw invalid(`has cluster node ${JSON.stringify(part)} that is not host[:port]`);
    }
    if (seed.pathname !== '' || seed.username !== '' || seed.hostname === '') {
      throw invalid(`has cluster node ${JSON.stringify(part)} that is not host[:port]`);
    }
    const host = seed.hostname.replace(/^\[(.*)\]$/, '$1');
    seeds.push({ host, port: seed.port === '' ? DEFAULT_PORT : Number(seed.port) });
  }
  endpoint.cluster = seeds;
  if (protocol.toLowerCase() === 'rediss+cluster') endpoint.tls = {};
  return { ...endpoint, description: describeRedisOptions(endpoint) };
}

/** The endpoint of an ioredis connection's options, for logs and messages (never credentials). */
export function describeRedisOptions(options: {
  host?: string;
  port?: number;
  path?: string | null;
  tls?: unknown;
  db?: number;
  cluster?: readonly ClusterSeed[];
}): string {
  let text: string;
  if (options.cluster) {
    const seeds = options.cluster.map((s) => `${formatHost(s.host)}:${s.port}`).join(',');
    return `${options.tls ? 'rediss' : 'redis'}+cluster://${seeds}`;
  }
  if (options.path) {
    text = `unix://${options.path}`;
  } else {
    const host = formatHost(options.host ?? 'localhost');
    text = `${options.tls ? 'rediss' : 'redis'}://${host}:${options.port ?? DEFAULT_PORT}`;
  }
  return options.db ? `${text}/${options.db}` : text;
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
