/**
 * Which agent `ckc` talks to when `--agent` is not given. Mirrors the agent's own defaults in
 * @checkpoint-cache/config (agent-options.ts: listen 127.0.0.1:7878, socket
 * <cacheDir>/agent.sock, cacheDir ~/.cache/checkpoint-cache); keep the two in step.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';

/** The agent's default TCP address (`--listen`). */
export const DEFAULT_AGENT_TCP = '127.0.0.1:7878';

/** The agent's default cache dir (`--cache-dir`); its socket is `agent.sock` inside. */
export const DEFAULT_CACHE_DIR = path.join('~', '.cache', 'checkpoint-cache');

export const AGENT_SOCKET_NAME = 'agent.sock';

/**
 * `CKC_AGENT`; else the agent's default Unix socket (under `CKC_CACHE_DIR` or the default cache
 * dir) when it exists, the faster path on the same node; else the default TCP address.
 */
export function defaultAgent(env: NodeJS.ProcessEnv): string {
  const explicit = env['CKC_AGENT']?.trim();
  if (explicit) return explicit;
  const cacheDir = expandHome(env['CKC_CACHE_DIR']?.trim() || DEFAULT_CACHE_DIR);
  const socket = path.resolve(cacheDir, AGENT_SOCKET_NAME);
  if (existsSync(socket)) return `unix:${socket}`;
  return DEFAULT_AGENT_TCP;
}

function expandHome(dir: string): string {
  if (dir === '~') return homedir();
  if (dir.startsWith('~/')) return path.join(homedir(), dir.slice(2));
  return dir;
}
