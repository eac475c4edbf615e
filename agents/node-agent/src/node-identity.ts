/**
 * This node's id when the configuration names none: `<cacheDir>/node.id`, written from the host
 * name on first start so that it stays stable across restarts even if the host name changes.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MAX_NODE_ID_LENGTH, NODE_ID_DOC, NODE_ID_PATTERN } from '@checkpoint-cache/config';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';

export const NODE_ID_FILE = 'node.id';

export interface ResolvedNodeId {
  nodeId: string;
  /** Where it came from: 'config', the file read, or the file just created. */
  source: 'config' | 'file' | 'created';
}

export async function resolveNodeId(
  cacheDir: string,
  configured: string | undefined,
  hostname: string = os.hostname(),
): Promise<ResolvedNodeId> {
  if (configured !== undefined) return { nodeId: configured, source: 'config' };
  const file = path.join(cacheDir, NODE_ID_FILE);
  const existing = await readNodeIdFile(file);
  if (existing !== undefined) return { nodeId: existing, source: 'file' };
  const nodeId = nodeIdFromHostname(hostname);
  try {
    // 'wx': if another process created it first, its id wins.
    await fs.writeFile(file, `${nodeId}\n`, { flag: 'wx', mode: 0o644 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const raced = await readNodeIdFile(file);
    if (raced !== undefined) return { nodeId: raced, source: 'file' };
  }
  return { nodeId, source: 'created' };
}

async function readNodeIdFile(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const nodeId = text.trim();
  if (!NODE_ID_PATTERN.test(nodeId)) {
    throw new CacheError(
      ErrorCode.FailedPrecondition,
      `${file} holds ${JSON.stringify(nodeId)}, which is not a node id (${NODE_ID_DOC}); ` +
        'fix the file or set --node-id / CKC_NODE_ID',
    );
  }
  return nodeId;
}

/** The host name, reduced to what a node id may hold. */
export function nodeIdFromHostname(hostname: string): string {
  const cleaned = hostname
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, MAX_NODE_ID_LENGTH);
  return NODE_ID_PATTERN.test(cleaned) ? cleaned : 'node';
}
