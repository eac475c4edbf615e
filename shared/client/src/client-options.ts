/**
 * Options of CheckpointCacheClient and their defaults, each written once beside its reason.
 * Owns: defaults and validation of client options, and the grpc-js channel options.
 */
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import { RemoteStores } from './remote-stores';

const MiB = 1024 * 1024;

export interface ClientDeadlines {
  /**
   * Longest wait for a Read's header. A hung agent then costs this much before the read goes to
   * the remote store; a healthy one answers in milliseconds. Default 3 s.
   */
  firstMessageMs: number;
  /**
   * Longest silence of a Read or Write stream while the client is waiting for it (time paused by
   * backpressure does not count). There is deliberately no whole-call deadline: a large, slow,
   * healthy transfer must finish. Default 30 s.
   */
  idleMs: number;
  /** Deadline of Stat, Touch, Delete, List and Release. Default 10 s. */
  unaryMs: number;
}

export interface CheckpointCacheClientOptions {
  /** The node agent: `host:port`, `unix:/path` or `unix:///path`. */
  agent: string;
  /** Remote stores that reads fall back to. Default `RemoteStores.withDefaults()`. */
  remotes?: RemoteStores;
  deadlines?: Partial<ClientDeadlines>;
  /** Merged over DEFAULT_CHANNEL_OPTIONS. */
  channelOptions?: ChannelOptions;
  /** Default insecure: the agent listens on the node's loopback or a Unix socket. */
  credentials?: ChannelCredentials;
  /** Size of the chunks `write` sends. Default 256 KiB (the design's measured sweet spot). */
  writeChunkSize?: number;
  /** Largest chunk a Read asks the agent for; 0 lets the agent choose. Default 0. */
  readChunkSize?: number;
  /**
   * Same-node short circuit: when the agent's cache volume is mounted in this process (read-only
   * is enough), reads lease the entry and read its file directly, verifying every block against
   * the CRC32Cs the agent hands over; anything unusual goes back to streaming. `true` uses the
   * agent's own cache root path; `{ cacheRoot }` names where the volume is mounted here.
   * Default off.
   */
  shortCircuit?: boolean | { cacheRoot?: string };
}

export interface CompiledClientOptions {
  agent: string;
  remotes: RemoteStores;
  deadlines: Readonly<ClientDeadlines>;
  channelOptions: ChannelOptions;
  credentials: ChannelCredentials | undefined;
  writeChunkSize: number;
  readChunkSize: number;
  /** undefined: off; `cacheRoot` undefined: the agent's own path. */
  shortCircuit: { cacheRoot: string | undefined } | undefined;
}

/** Largest chunk either side may send; message limits below leave room for framing. */
export const MAX_CHUNK_SIZE = 8 * MiB;

export const DEFAULT_DEADLINES: Readonly<ClientDeadlines> = Object.freeze({
  firstMessageMs: 3_000,
  idleMs: 30_000,
  unaryMs: 10_000,
});

export const DEFAULT_CHANNEL_OPTIONS: Readonly<ChannelOptions> = Object.freeze({
  // The design measured ~2x Read throughput with an 8 MiB window instead of the 64 KiB default.
  'grpc-node.flow_control_window': 8 * MiB,
  // Chunks up to MAX_CHUNK_SIZE plus framing; List pages of 1000 entries with 1 KiB keys.
  'grpc.max_receive_message_length': 16 * MiB,
  'grpc.max_send_message_length': 16 * MiB,
  // Notice a dead agent on an otherwise silent connection; pings only during calls.
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.keepalive_permit_without_calls': 0,
  // A restarted agent is used again within seconds, not after grpc's 120 s maximum backoff.
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 5_000,
});

export const DEFAULT_WRITE_CHUNK_SIZE = 256 * 1024;

export function addDefaults(options: CheckpointCacheClientOptions): CompiledClientOptions {
  if (typeof options.agent !== 'string' || options.agent.trim() === '') {
    throw new TypeError('CheckpointCacheClient: agent must be "host:port" or "unix:/path"');
  }
  const deadlines = { ...DEFAULT_DEADLINES, ...options.deadlines };
  for (const [name, value] of Object.entries(deadlines)) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`CheckpointCacheClient: deadlines.${name} must be a positive number`);
    }
  }
  const writeChunkSize = options.writeChunkSize ?? DEFAULT_WRITE_CHUNK_SIZE;
  checkChunkSize('writeChunkSize', writeChunkSize, 1);
  const readChunkSize = options.readChunkSize ?? 0;
  checkChunkSize('readChunkSize', readChunkSize, 0);
  return {
    agent: normalizeAgentAddress(options.agent.trim()),
    remotes: options.remotes ?? RemoteStores.withDefaults(),
    deadlines: Object.freeze(deadlines),
    channelOptions: { ...DEFAULT_CHANNEL_OPTIONS, ...options.channelOptions },
    credentials: options.credentials,
    writeChunkSize,
    readChunkSize,
    shortCircuit:
      options.shortCircuit === undefined || options.shortCircuit === false
        ? undefined
        : { cacheRoot: options.shortCircuit === true ? undefined : options.shortCircuit.cacheRoot },
  };
}

export function checkChunkSize(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > MAX_CHUNK_SIZE) {
    throw new RangeError(`${name} must be an integer from ${min} to ${MAX_CHUNK_SIZE} bytes`);
  }
}

/**
 * grpc-js target for an agent address. `unix:/path` and `unix:///path` are grpc's own forms;
 * `unix://path` (two slashes) would make `path`'s first segment a host, so it is rejected.
 */
export function normalizeAgentAddress(agent: string): string {
  if (agent.startsWith('unix:')) {
    const rest = agent.slice('unix:'.length);
    if (rest.startsWith('//') && !rest.startsWith('///')) {
      throw new TypeError(`agent ${agent}: write unix:/absolute/path or unix:///absolute/path`);
    }
    if (rest.replace(/^\/+/, '') === '') throw new TypeError(`agent ${agent}: socket path missing`);
    return agent;
  }
  if (!/^(\[[0-9a-fA-F:.]+\]|[^\s:/]+):\d{1,5}$/.test(agent) && !agent.includes('://')) {
    throw new TypeError(`agent ${agent}: expected host:port, unix:/path or unix:///path`);
  }
  return agent;
}
