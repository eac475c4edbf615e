/**
 * One agent per node id. Every Redis key of a node carries its id, so two agents configured with
 * the same id (a CKC_NODE_ID copied into a ConfigMap instead of taken from spec.nodeName) would
 * overwrite and expire each other's entries without a word. Each agent holds its node id in Redis
 * (`<prefix>:{<node>}:owner`, refreshed every HOLD_MS / 3, expiring after HOLD_MS) under a token
 * kept in its cache directory: an agent restarted on the same disk is the same holder and takes
 * over at once; an agent on another disk is refused at start-up, and one that finds the clash
 * later (it started while Redis was down, or Redis lost the key and the other claimed it first)
 * stops.
 * Owns: the token file and the hold's life cycle. Never: what the agent does with the refusal.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { Logger } from '@checkpoint-cache/logger';
import type { RedisMetadataStore } from '@checkpoint-cache/redis';
import { optionLabel } from './tls-files';

export const AGENT_TOKEN_FILE = 'agent.token';
export const HOLD_MS = 30_000;

const TOKEN_PATTERN = /^[0-9a-f]{32}$/;

/**
 * The token of the agent using `cacheDir`, created on first use. The file is written to a temp
 * name, synced and renamed into place, so a crash leaves either a whole token or none; a file
 * that holds no token (damaged) is replaced by a new one, and the old token's hold in Redis lapses
 * after HOLD_MS.
 */
export async function agentToken(cacheDir: string, log?: Logger): Promise<string> {
  const file = path.join(cacheDir, AGENT_TOKEN_FILE);
  let text: string | undefined;
  try {
    text = (await fs.readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text !== undefined && TOKEN_PATTERN.test(text)) return text;
  if (text !== undefined) {
    log?.warn('agent token file damaged: a new token is made', { file });
  }
  const token = randomBytes(16).toString('hex');
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await fs.open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(`${token}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
  return token;
}

export class NodeClaim {
  private timer: NodeJS.Timeout | undefined;
  private held = false;
  private stopped = false;

  /**
   * `onClash` is called once when a refresh finds the node id held by another agent (this one
   * started while Redis was unreachable, or Redis lost the key and the other claimed it first):
   * this agent must stop, the other keeps the id.
   */
  constructor(
    private readonly metadata: RedisMetadataStore,
    private readonly token: string,
    private readonly log: Logger,
    private readonly holdMs = HOLD_MS,
    private readonly onClash: (error: CacheError) => void = () => undefined,
  ) {}

  /**
   * Takes the node id; throws CacheError(FailedPrecondition) when another agent holds it. When
   * Redis cannot be reached, logs and goes on: the refreshes claim it once Redis is back.
   */
  async claim(): Promise<void> {
    let holder: string | undefined;
    try {
      holder = await this.metadata.claimNode(this.token, this.holdMs);
    } catch (error) {
      this.log.warn('node id not claimed yet: Redis unavailable; retried while running', { error });
      return;
    }
    if (holder !== undefined) throw this.clash();
    this.held = true;
  }

  /** Refreshes the hold every holdMs / 3 until release(). */
  start(): void {
    this.timer = setInterval(() => void this.refresh(), Math.max(1, Math.floor(this.holdMs / 3)));
    this.timer.unref();
  }

  /** Stops refreshing and gives the node id up if this agent holds it. */
  async release(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    if (!this.held) return;
    this.held = false;
    await this.metadata.releaseNode(this.token).catch((error: unknown) => {
      this.log.warn('node id not released; it lapses by itself', { error });
    });
  }

  private async refresh(): Promise<void> {
    if (this.stopped || !this.metadata.isAvailable()) return;
    let holder: string | undefined;
    try {
      holder = await this.metadata.claimNode(this.token, this.holdMs);
    } catch {
      return; // Redis went away; the next refresh tries again.
    }
    if (this.stopped) return;
    if (holder === undefined) {
      if (!this.held) this.log.info('node id claimed', { node: this.metadata.keys.nodeId });
      this.held = true;
      return;
    }
    this.held = false;
    const error = this.clash();
    this.log.error(error.message, { node: this.metadata.keys.nodeId });
    this.stopped = true;
    clearInterval(this.timer);
    this.onClash(error);
  }

  private clash(): CacheError {
    const node = this.metadata.keys.nodeId;
    return new CacheError(
      ErrorCode.FailedPrecondition,
      `node id ${JSON.stringify(node)} is in use by another agent (with another cache directory) ` +
        `on the same Redis and prefix ${this.metadata.keys.prefix}; every agent needs its own ` +
        `${optionLabel('nodeId')} (the DaemonSet takes it from spec.nodeName). If that agent is ` +
        `gone, its hold lapses within ${Math.ceil(this.holdMs / 1000)} s`,
    );
  }
}
