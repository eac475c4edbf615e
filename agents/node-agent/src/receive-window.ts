/**
 * Widens the HTTP/2 receive window of the agent's gRPC server, so that a client streaming a Write
 * is not stopped every 64 KiB to wait for the agent's WINDOW_UPDATE. With HTTP/2's default window
 * (65,535 bytes, which grpc-js's server keeps: it ignores `grpc-node.flow_control_window`) strace
 * of the agent showed a read of 32-48 KiB, then a WINDOW_UPDATE, then a wait for the client,
 * repeated: every 256 KiB chunk cost several round trips between two processes, each one a
 * scheduler wake-up, and on a loaded machine those wake-ups, not the disk, set the Write's speed
 * (measured: about twice the MB/s with an 8 MiB window; docs/benchmarks.md, "#14 targets").
 *
 * grpc-js (1.14) offers no option for it, so this reaches two of its private fields: the options
 * every HTTP/2 server it creates is given (`commonServerOptions`, where the stream window goes,
 * as `settings.initialWindowSize`), and the HTTP/2 servers it created (`http2Servers`, whose new
 * sessions get the connection window through Node's public `setLocalWindowSize`). Each is checked
 * before use; when either is missing (another grpc-js) nothing is changed and the agent says so:
 * it works as before, only slower.
 *
 * Memory: a peer may send up to the window before the agent reads it, so each connection can hold
 * up to `bytes` of unread Write data (the grpc-js server pauses a call's stream after each message).
 * Owns: that patch. Never: other server settings, or installing itself as a side effect.
 */
import type * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';

/** The receive window the agent advertises, per stream and per connection. */
export const RECEIVE_WINDOW_BYTES = 8 * 1024 * 1024;

interface GrpcServerInternals {
  commonServerOptions?: http2.ServerOptions;
  http2Servers?: Map<http2.Http2Server | http2.Http2SecureServer, unknown>;
}

const WIDENED: unique symbol = Symbol('checkpoint-cache.receiveWindow');

/**
 * Sets the stream window of every HTTP/2 server `server` creates from now on; call it before the
 * first bind. False when this grpc-js does not have the field it sets (nothing is changed).
 */
export function widenStreamWindow(server: grpc.Server, bytes = RECEIVE_WINDOW_BYTES): boolean {
  const options = (server as unknown as GrpcServerInternals).commonServerOptions;
  if (typeof options !== 'object' || options === null) return false;
  options.settings = { ...options.settings, initialWindowSize: bytes };
  return true;
}

/**
 * Gives every new connection of the HTTP/2 servers `server` has bound so far a connection window
 * of `bytes`; call it after each bind (a server already handled is skipped). False when this
 * grpc-js does not keep its servers where this looks (nothing is changed).
 */
export function widenConnectionWindows(server: grpc.Server, bytes = RECEIVE_WINDOW_BYTES): boolean {
  const servers = (server as unknown as GrpcServerInternals).http2Servers;
  if (!(servers instanceof Map)) return false;
  for (const h2 of servers.keys()) {
    const marked = h2 as typeof h2 & { [WIDENED]?: boolean };
    if (marked[WIDENED]) continue;
    marked[WIDENED] = true;
    h2.on('session', (session: http2.ServerHttp2Session) => {
      try {
        session.setLocalWindowSize(bytes);
      } catch {
        // A session already closing: it has no more data to receive.
      }
    });
  }
  return true;
}
