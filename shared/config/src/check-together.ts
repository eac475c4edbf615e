/**
 * The rules that involve more than one option: at least one listener, Unix socket paths that fit
 * (the agent's and the embedded Redis's), TLS files that go together and with what they apply to.
 * Owns: those rules and the wording of their errors. Never: I/O, or parsing a single value.
 */
import * as path from 'node:path';
import { optionNamed as spec } from './agent-options';
import { ConfigError } from './config-error';
import type { Value } from './parse-option-value';

/**
 * Longest Unix socket path, in bytes, that binds everywhere the agent runs: sun_path holds 108
 * bytes on Linux and 104 on macOS, including the terminating NUL.
 */
export const MAX_SOCKET_PATH_BYTES = 103;

/** Where the private Redis puts its socket, relative to the cache dir (the agent uses this too). */
export const EMBEDDED_REDIS_SOCKET = path.join('redis', 'redis.sock');

/** Rules that involve more than one option; a ConfigError naming one of them when broken. */
export function checkTogether(values: Record<string, Value>, labels: Record<string, string>): void {
  if (values['listen'] === undefined && values['socket'] === undefined) {
    throw new ConfigError(
      `${labels['listen']}=off and ${labels['socket']}=off: the agent needs at least one listener`,
      labels['listen'] ?? '',
    );
  }
  const socket = values['socket'];
  if (typeof socket === 'string') {
    const derived = labels['socket']?.startsWith('default') ?? true;
    if (derived) {
      const cacheDir = values['cacheDir'] as string;
      checkSocketPath(
        socket,
        labels['cacheDir'] ?? '--cache-dir',
        'choose a shorter --cache-dir or set --socket',
        cacheDir,
      );
    } else {
      checkSocketPath(socket, labels['socket'] ?? '--socket', 'choose a shorter path');
    }
  }
  checkTls(values, labels);
  if (values['redisUrl'] === undefined) {
    const cacheDir = values['cacheDir'] as string;
    checkSocketPath(
      path.join(cacheDir, EMBEDDED_REDIS_SOCKET),
      labels['cacheDir'] ?? '--cache-dir',
      'choose a shorter --cache-dir or set --redis-url',
      cacheDir,
    );
  }
}

/** TLS options that only make sense together, or with the listener or URL they apply to. */
function checkTls(values: Record<string, Value>, labels: Record<string, string>): void {
  const set = (name: string): boolean => values[name] !== undefined;
  const pair = (a: string, b: string): void => {
    if (set(a) !== set(b)) {
      const [given, missing] = set(a) ? [a, b] : [b, a];
      throw new ConfigError(
        `${labels[given]} is set but ${spec(missing).env} (--${spec(missing).flag}) is not: ` +
          'the certificate and its key go together',
        labels[given] ?? '',
      );
    }
  };
  pair('tlsCert', 'tlsKey');
  if (set('tlsClientCa') && !set('tlsCert')) {
    throw new ConfigError(
      `${labels['tlsClientCa']} needs ${spec('tlsCert').env} and ${spec('tlsKey').env}: ` +
        'mutual TLS is TLS with client certificates',
      labels['tlsClientCa'] ?? '',
    );
  }
  if (set('tlsCert') && !set('listen')) {
    throw new ConfigError(
      `${labels['tlsCert']} is set but ${labels['listen']}=off: TLS applies to the TCP ` +
        'listener only (the Unix socket is guarded by its file mode)',
      labels['tlsCert'] ?? '',
    );
  }
  if (values['writeAccess'] === 'mtls' && !set('tlsClientCa')) {
    throw new ConfigError(
      `${labels['writeAccess']}=mtls needs ${spec('tlsClientCa').env} (--tls-client-ca): ` +
        'without it no TCP client has a certificate to be trusted by',
      labels['writeAccess'] ?? '',
    );
  }
  pair('redisTlsCert', 'redisTlsKey');
  const redisTls = ['redisTlsCa', 'redisTlsCert'].find(set);
  const url = values['redisUrl'];
  if (redisTls && !(typeof url === 'string' && /^rediss(\+cluster)?:/i.test(url))) {
    throw new ConfigError(
      `${labels[redisTls]} is set but ${spec('redisUrl').env} is ` +
        `${url === undefined ? 'unset' : 'not a rediss:// URL'}: Redis TLS files apply to ` +
        'rediss:// and rediss+cluster:// only',
      labels[redisTls] ?? '',
    );
  }
}

function checkSocketPath(socket: string, label: string, remedy: string, shown = socket): void {
  const bytes = Buffer.byteLength(socket);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new ConfigError(
      `${label}=${JSON.stringify(shown)}: the socket path ${socket} is ${bytes} bytes, ` +
        `longer than the ${MAX_SOCKET_PATH_BYTES} a Unix socket allows; ${remedy}`,
      label,
    );
  }
}
