/**
 * Peers for PeerFill, as the agent sees them: the location index and peer addresses in Redis
 * (RedisMetadataStore) and a gRPC Read to the other node's agent over TCP, with mutual TLS when
 * this agent has a certificate, a key and a CA (the same certificates as its listener, taken from
 * ListenerTls: agents present their own certificate to each other). When those are reloaded
 * (a rotation), the clients are rebuilt: calls already streaming finish on their connection,
 * new calls dial with the new certificates. A peer read carries the `ckc-peer-read` metadata key,
 * and an agent never asks its own peers on behalf of such a read: a stale index cannot make a
 * chain.
 * Owns: the clients to other agents (one per address, closed with close()). Never: read or check
 * certificate files (ListenerTls does), decide which peer to try next or what a chunk is worth
 * (PeerFill does), or serve anything.
 */
import * as grpc from '@grpc/grpc-js';
import {
  entryIdOf,
  type EntryInfo,
  type PeerChunk,
  type PeerLocation,
  type PeerStream,
  type Peers,
} from '@checkpoint-cache/cache';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import {
  checkpointCacheClientConstructor,
  type CheckpointCacheClient,
  type ReadResponse__Output,
} from '@checkpoint-cache/proto';
import type { RedisMetadataStore } from '@checkpoint-cache/redis';
import { PEER_READ_METADATA } from '@checkpoint-cache/service';

/** Largest chunk asked of a peer (its agent caps it at its own --max-chunk-size). */
const PEER_CHUNK_SIZE = 1024 * 1024;

const MiB = 1024 * 1024;

/**
 * A peer that has not sent its read header within this long (an address that no longer answers,
 * a refused TLS handshake) is left for the next one. Below the clients' first-message timeout
 * (3 s by default in both clients), so that the next holder still gets a turn before the caller
 * gives up on the agent and reads from the remote store; a healthy peer answers in milliseconds.
 */
const PEER_HEADER_MS = 2_000;

/**
 * A peer that sends nothing for this long between two chunks is left for the next one (which
 * continues at the offset reached). Only time spent waiting for the peer counts, not the caller's
 * backpressure. Well below the clients' idle timeouts (the Flink plugin's 30 s), so that a silent
 * peer costs a failover to the next peer, not a fall-back of the caller to the remote store.
 * Slower than this per chunk (1 MiB) is under 200 KiB/s.
 */
const PEER_SILENCE_MS = 5_000;

/** Client settings for streams of large files from another agent (see docs/benchmarks.md). */
const PEER_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc-node.flow_control_window': 8 * MiB,
  'grpc.max_receive_message_length': 16 * MiB,
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
};

/** The certificates peers see: the agent's listener's (ListenerTls), followed across reloads. */
export interface PeerTls {
  /** Certificate chain and key this agent presents, and the CA peers' certificates chain to. */
  readonly material: { cert?: Buffer; key?: Buffer; ca?: Buffer };
  /** Called after every reload that put new certificates in use. */
  onReload(listener: () => void): void;
}

export interface AgentPeersOptions {
  metadata: RedisMetadataStore;
  nodeId: string;
  /** Certificates for mutual TLS to other agents; absent: plaintext. */
  tls?: PeerTls;
}

export class AgentPeers implements Peers {
  private readonly clients = new Map<string, CheckpointCacheClient>();
  private credentials: grpc.ChannelCredentials | undefined;

  constructor(private readonly options: AgentPeersOptions) {
    options.tls?.onReload(() => this.renewCredentials());
  }

  async locate(id: string): Promise<PeerLocation[]> {
    const { metadata, nodeId } = this.options;
    // In node-id order: the same order on every node and every run (Redis returns a set's
    // members in no particular order), which makes failover reproducible.
    const nodes = (await metadata.holders(id)).filter((n) => n !== nodeId).sort();
    const located: PeerLocation[] = [];
    for (const node of nodes) {
      const address = await metadata.peerAddress(node);
      if (address) located.push({ nodeId: node, address });
    }
    return located;
  }

  async open(peer: PeerLocation, key: string, offset: number): Promise<PeerStream> {
    const client = this.client(peer.address);
    const metadata = new grpc.Metadata();
    metadata.set(PEER_READ_METADATA, '1');
    const call = client.read({ key, offset, maxChunkSize: PEER_CHUNK_SIZE }, metadata);
    const messages = call[Symbol.asyncIterator]() as AsyncIterator<ReadResponse__Output>;
    let first: IteratorResult<ReadResponse__Output>;
    try {
      // A node whose address no longer answers (its pod gone, the packets dropped) would
      // otherwise hold the reader for a TCP connect timeout before the next peer is tried.
      first = await nextWithin(messages, call, PEER_HEADER_MS, 'no read header');
    } catch (err) {
      throw peerError(peer, err);
    }
    const header = first.done ? undefined : first.value.header;
    if (!header?.entry) {
      call.cancel();
      throw new CacheError(ErrorCode.Unavailable, `peer ${peer.nodeId} sent no read header`);
    }
    const e = header.entry;
    const entry: EntryInfo = {
      key: e.key,
      id: entryIdOf(e.key),
      jobId: e.jobId,
      checkpointIds: e.checkpointIds.map(Number),
      size: Number(e.size),
      crc32c: Number(e.crc32c),
      createdAtMs: Number(e.createdAtMs),
      lastAccessMs: Number(e.lastAccessMs),
      ttlMs: Number(e.ttlMs),
      nodeId: e.nodeId,
    };
    async function* chunks(): AsyncGenerator<PeerChunk> {
      try {
        // A peer that stalls mid-stream (its disk hangs, its packets are dropped) would hold the
        // reader until keepalive gives up (~40 s) or forever (a live process answers pings).
        const silent = 'nothing more mid-stream';
        for (
          let r = await nextWithin(messages, call, PEER_SILENCE_MS, silent);
          !r.done;
          r = await nextWithin(messages, call, PEER_SILENCE_MS, silent)
        ) {
          const c = r.value.chunk;
          if (!c) continue;
          yield { offset: Number(c.offset), data: c.data, crc32c: Number(c.crc32c ?? -1) };
        }
      } catch (err) {
        throw peerError(peer, err);
      }
    }
    return { entry, chunks: chunks(), cancel: () => call.cancel() };
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  /**
   * New certificates: new credentials and new clients. A closed grpc-js client fails only calls
   * still waiting for a connection (UNAVAILABLE: PeerFill tries the next peer); a call already
   * streaming finishes, because its HTTP/2 session is closed gracefully once it is unused.
   */
  private renewCredentials(): void {
    this.credentials = undefined;
    this.close();
  }

  private client(address: string): CheckpointCacheClient {
    let client = this.clients.get(address);
    if (!client) {
      const Client = checkpointCacheClientConstructor();
      client = new Client(address, this.channelCredentials(), PEER_CHANNEL_OPTIONS);
      this.clients.set(address, client);
    }
    return client;
  }

  private channelCredentials(): grpc.ChannelCredentials {
    if (this.credentials) return this.credentials;
    const tls = this.options.tls;
    if (!tls) {
      this.credentials = grpc.credentials.createInsecure();
    } else {
      const { ca, key, cert } = tls.material;
      // Peers are dialled by pod IP, which agent certificates rarely name; the CA (which issues
      // agent certificates only, docs/security.md) is what is trusted, so the name is not checked.
      this.credentials = grpc.credentials.createSsl(ca ?? null, key ?? null, cert ?? null, {
        checkServerIdentity: () => undefined,
      });
    }
    return this.credentials;
  }
}

/** The next message, or a rejection (and the call cancelled) after `ms` without one. */
async function nextWithin(
  messages: AsyncIterator<ReadResponse__Output>,
  call: grpc.ClientReadableStream<ReadResponse__Output>,
  ms: number,
  what: string,
): Promise<IteratorResult<ReadResponse__Output>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      messages.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          call.cancel();
          reject(new Error(`${what} within ${ms} ms`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function peerError(peer: PeerLocation, err: unknown): CacheError {
  const status = (err as Partial<grpc.ServiceError>).code;
  const code = status === grpc.status.NOT_FOUND ? ErrorCode.NotFound : ErrorCode.Unavailable;
  return new CacheError(
    code,
    `peer ${peer.nodeId} (${peer.address}): ${(err as Error).message ?? String(err)}`,
    { cause: err },
  );
}
