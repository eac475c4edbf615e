/**
 * The agent's side of Redis security at start-up: TLS files for rediss:// (CA, client certificate
 * and key), and one clear, fatal error when Redis refuses the agent's user, whether for its
 * password or for a command its ACL does not allow. Without this a wrong password showed up only
 * as a warning and an endless reconnect loop, and a missing permission only at the first write.
 * Owns: the wording of those errors (they name the setting to fix). Never: log a password or key;
 * messages carry the endpoint description (parseRedisUrl), which has no credentials.
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { AgentConfig } from '@checkpoint-cache/config';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { Logger } from '@checkpoint-cache/logger';
import type { RedisMetadataStore } from '@checkpoint-cache/redis';
import { loadTlsMaterial, optionLabel } from './tls-files';

/** TLS settings for rediss:// from the Redis TLS options, checked; undefined when none is set. */
export async function loadRedisTls(config: AgentConfig): Promise<TlsOptions | undefined> {
  const { redisTlsCa, redisTlsCert, redisTlsKey } = config;
  if (!redisTlsCa && !redisTlsCert) return undefined;
  const material = await loadTlsMaterial({
    ...(redisTlsCert && redisTlsKey
      ? {
          cert: { path: redisTlsCert, option: 'redisTlsCert' },
          key: { path: redisTlsKey, option: 'redisTlsKey' },
        }
      : {}),
    ...(redisTlsCa ? { ca: { path: redisTlsCa, option: 'redisTlsCa' } } : {}),
  });
  const { ca, cert, key } = material;
  return { ...(ca ? { ca } : {}), ...(cert && key ? { cert, key } : {}) };
}

/** The start-up error for Redis refusing the agent's user (see isRedisAuthError). */
export function redisRefusedError(err: unknown, endpoint: string): CacheError {
  const reply = rootMessage(err);
  return new CacheError(
    ErrorCode.FailedPrecondition,
    `Redis at ${endpoint} refused the agent's user (${reply}): fix the user name and password ` +
      `in ${optionLabel('redisUrl')}, or that user's ACL on the server ` +
      '(docs/security.md lists the commands the agent needs)',
    { cause: err },
  );
}

/**
 * Asks Redis whether the agent's user may run every command the agent needs on this node's keys,
 * and fails start-up, listing the refused ones, when it may not. Servers before Redis 7.0 cannot
 * tell: logged at debug, and refusals then surface as errors of the calls that hit them.
 */
export async function checkRedisAccessAtStart(
  metadata: RedisMetadataStore,
  endpoint: string,
  log: Logger,
): Promise<void> {
  const check = await metadata.checkAccess();
  if (!check.verified) {
    log.debug('Redis cannot check ACL permissions before 7.0; not checked', { redis: endpoint });
    return;
  }
  if (check.refused.length === 0) return;
  throw new CacheError(
    ErrorCode.FailedPrecondition,
    `Redis at ${endpoint} does not allow the agent's user (from ${optionLabel('redisUrl')}) ` +
      `commands the agent needs: ${check.refused.join('; ')}. Grant them to that user (keys ` +
      `under the prefix ${metadata.keys.prefix}:*), see docs/security.md for a minimal ACL`,
  );
}

/** The message of the innermost error: the Redis reply itself, e.g. "WRONGPASS ...". */
function rootMessage(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 16; depth++) {
    const next =
      (e as { lastNodeError?: unknown }).lastNodeError ?? (e as { cause?: unknown }).cause;
    if (!(next instanceof Error)) break;
    e = next;
  }
  return e instanceof Error ? e.message : String(e);
}
