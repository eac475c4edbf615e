/**
 * Which agent `ckc` talks to when `--agent` is not given: `CKC_AGENT`, else the agent that the
 * same environment would configure (@checkpoint-cache/config resolves CKC_SOCKET, CKC_CACHE_DIR,
 * CKC_LISTEN and CKC_CONFIG exactly as ckc-agent does): its Unix socket when it exists, the
 * faster path on the same node, else its TCP address.
 */
import { existsSync } from 'node:fs';
import { loadAgentConfig } from '@checkpoint-cache/config';

/** Used when the environment configures no TCP listener and no socket exists. */
export const FALLBACK_AGENT_TCP = '127.0.0.1:7878';

export function defaultAgent(env: NodeJS.ProcessEnv): string {
  const explicit = env['CKC_AGENT']?.trim();
  if (explicit) return explicit;
  let config: ReturnType<typeof loadAgentConfig>;
  try {
    config = loadAgentConfig({ argv: [], env });
  } catch {
    return FALLBACK_AGENT_TCP;
  }
  if (config.socket && existsSync(config.socket)) return `unix:${config.socket}`;
  if (!config.listen) return FALLBACK_AGENT_TCP;
  // An agent listening on every interface is reached on loopback.
  return config.listen.replace(/^(0\.0\.0\.0|\[::\]):/, '127.0.0.1:');
}
