/**
 * Adapters from async functions to grpc-js handlers. grpc-js ignores the promise an async handler
 * returns, so a rejection would hang the call until its deadline; these wrappers catch every
 * error, map it through the one domain-to-status mapping, log what is not the caller's fault,
 * and end the call exactly once.
 */
import type * as grpc from '@grpc/grpc-js';
import { isCacheError, toGrpcStatus } from '@checkpoint-cache/errors';
import type { Logger } from '@checkpoint-cache/logger';
import { rejectMalformed } from './wire-check';

/** The status `err` ends a call with; errors that are not the caller's fault are logged. */
export function statusOf(err: unknown, logger: Logger, rpc: string): Partial<grpc.StatusObject> {
  if (!isCacheError(err)) logger.error('unexpected error in handler', { rpc, error: err });
  const { code, details } = toGrpcStatus(err);
  return { code, details };
}

/** `run()`, unless the request failed its wire check (then INVALID_ARGUMENT, see wire-check.ts). */
function unlessMalformed<T>(request: unknown, run: () => Promise<T>): Promise<T> {
  try {
    rejectMalformed(request);
  } catch (err) {
    return Promise.reject(err);
  }
  return run();
}

export function unaryHandler<Req, Res>(
  rpc: string,
  logger: Logger,
  fn: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    unlessMalformed(call.request, () => fn(call.request, call)).then(
      (response) => callback(null, response),
      (err: unknown) => callback(statusOf(err, logger, rpc)),
    );
  };
}

export function clientStreamHandler<Req, Res>(
  rpc: string,
  logger: Logger,
  fn: (call: grpc.ServerReadableStream<Req, Res>) => Promise<Res>,
): grpc.handleClientStreamingCall<Req, Res> {
  return (call, callback) => {
    fn(call).then(
      (response) => callback(null, response),
      (err: unknown) => callback(statusOf(err, logger, rpc)),
    );
  };
}

export function serverStreamHandler<Req, Res>(
  rpc: string,
  logger: Logger,
  fn: (call: grpc.ServerWritableStream<Req, Res>) => Promise<void>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    unlessMalformed(call.request, () => fn(call)).then(
      () => call.end(),
      (err: unknown) => {
        // grpc-js turns an 'error' event on a server stream into the call's final status.
        if (!call.cancelled) call.emit('error', statusOf(err, logger, rpc));
        else call.end();
      },
    );
  };
}
