/**
 * Who may change the cache. Every client that can connect may read (Read, Stat, List, plain
 * Touch); the calls that change what the cache holds (Write, Delete, DeletePrefix, Release, and a
 * Touch that adds a checkpoint or sets a TTL) are allowed by the write access setting:
 *   socket  calls that came in over the Unix socket, whose file mode and group decide who;
 *   mtls    those, and TCP calls whose client certificate grpc-js verified (mutual TLS);
 *   any     every call.
 * How a call came in is never taken from the client's word: the Unix socket listener carries
 * `unixSocketInterceptor`, which marks the metadata object of every call it accepts (an object a
 * client cannot forge, unlike a header); mTLS is what grpc-js reports for the connection.
 * (`getPeer()` cannot tell: grpc-js 1.14 says "unknown" for a Unix socket peer, and also for a
 * TCP peer whose connection is already gone.) Without the mark a call counts as TCP, so a
 * listener wired without the interceptor fails closed.
 * Ingest, which names a file on the agent's node, is served on the Unix socket only.
 * Owns: the decision and the wording of a refusal. Never: the listeners themselves.
 */
import * as grpc from '@grpc/grpc-js';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { silentLogger, ThrottledWarn, type Logger } from '@checkpoint-cache/logger';

export type WriteAccess = 'socket' | 'mtls' | 'any';

/** How a call reached the agent, as far as the policy is concerned. */
export type CallTransport = 'unix-socket' | 'mtls' | 'tcp';

/** The parts of a grpc-js server call the policy looks at. */
export type CallOrigin = Pick<
  grpc.ServerUnaryCall<unknown, unknown>,
  'metadata' | 'getPeer' | 'getAuthContext'
>;

export interface AccessPolicyOptions {
  writeAccess: WriteAccess;
  /** The agent's Unix socket, named in refusals so the client knows where to go instead. */
  socketPath?: string;
  /** Refusals are logged here (a warning at most once a minute, the rest at debug). */
  logger?: Logger;
}

/** Metadata objects of calls accepted on the Unix socket listener. */
const arrivedOnUnixSocket = new WeakSet<grpc.Metadata>();

/**
 * Server interceptor for the Unix socket listener only (add it to that listener's credentials
 * with `grpc.experimental.createServerCredentialsWithInterceptors`): marks each call as local.
 */
export const unixSocketInterceptor: grpc.ServerInterceptor = (_method, call) =>
  new grpc.ServerInterceptingCall(call, {
    start: (next) =>
      next(
        new grpc.ServerListenerBuilder()
          .withOnReceiveMetadata((metadata, passOn) => {
            arrivedOnUnixSocket.add(metadata);
            passOn(metadata);
          })
          .build(),
      ),
  });

/** How `call` came in: over the Unix socket, over TCP with a verified client certificate, or TCP. */
export function transportOf(call: CallOrigin): CallTransport {
  if (arrivedOnUnixSocket.has(call.metadata)) return 'unix-socket';
  // grpc-js reports a peer certificate only once the TLS handshake verified it (authorized).
  const auth = call.getAuthContext();
  if (auth.transportSecurityType === 'ssl' && auth.sslPeerCertificate) return 'mtls';
  return 'tcp';
}

const ALLOWED: Readonly<Record<WriteAccess, readonly CallTransport[]>> = {
  socket: ['unix-socket'],
  mtls: ['unix-socket', 'mtls'],
  any: ['unix-socket', 'mtls', 'tcp'],
};

export class AccessPolicy {
  readonly writeAccess: WriteAccess;
  private readonly socketPath: string | undefined;
  private readonly logger: Logger;
  /** Refusals: a warning at most once a minute, the rest at debug. */
  private readonly refusals: ThrottledWarn;

  constructor(options: AccessPolicyOptions) {
    this.writeAccess = options.writeAccess;
    this.socketPath = options.socketPath;
    this.logger = options.logger ?? silentLogger;
    this.refusals = new ThrottledWarn(this.logger);
  }

  /** True when `transport` may change the cache. */
  allowsWrite(transport: CallTransport): boolean {
    return ALLOWED[this.writeAccess].includes(transport);
  }

  /** Throws CacheError(PermissionDenied), saying what to do instead, unless `call` may write. */
  checkWrite(call: CallOrigin, rpc: string): void {
    const transport = transportOf(call);
    if (this.allowsWrite(transport)) return;
    const peer = call.getPeer();
    this.refusals.warn('call refused by the write access policy', {
      rpc,
      peer,
      writeAccess: this.writeAccess,
    });
    throw new CacheError(ErrorCode.PermissionDenied, this.refusal(rpc, peer));
  }

  /**
   * Throws CacheError(PermissionDenied) unless `call` came over the Unix socket: for calls that
   * name a file on this node (Ingest), which no client elsewhere can mean, whatever the write
   * access setting.
   */
  checkSameNode(call: CallOrigin, rpc: string): void {
    if (transportOf(call) === 'unix-socket') return;
    const peer = call.getPeer();
    this.refusals.warn('call refused: served on the Unix socket only', { rpc, peer });
    const socket = this.socketPath ? `unix:${this.socketPath}` : 'its Unix socket';
    throw new CacheError(
      ErrorCode.PermissionDenied,
      `${rpc} names a file on the agent's node, so the agent serves it on ${socket} only; this ` +
        `call came over TCP from ${peer}. Use Write to send the bytes from elsewhere.`,
    );
  }

  private refusal(rpc: string, peer: string): string {
    const accepted =
      this.writeAccess === 'socket'
        ? 'only over its Unix socket'
        : 'only over its Unix socket or from TCP clients with a verified client certificate';
    const socket = this.socketPath
      ? `connect to unix:${this.socketPath} on the same node`
      : 'connect over the Unix socket on the same node';
    const widen =
      this.writeAccess === 'socket'
        ? 'or have the operator set CKC_WRITE_ACCESS (--write-access) to mtls or any'
        : 'or present a client certificate signed by the CA in CKC_TLS_CLIENT_CA';
    return (
      `${rpc} changes the cache, and this agent accepts changes ${accepted} ` +
      `(write access "${this.writeAccess}"); this call came over TCP from ${peer}. To change the ` +
      `cache, ${socket}, ${widen}. Reads are allowed from here.`
    );
  }
}
