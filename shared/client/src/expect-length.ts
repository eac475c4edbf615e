/**
 * Turns a stream that might stop early (a dropped connection, a file truncated under us) into
 * one that fails instead: remote reads must never be short without saying so.
 */
import { pipeline, Readable, Transform } from 'node:stream';
import { RemoteStoreError } from './remote-store-error';

/** `source`, failing with `LENGTH_MISMATCH` unless it yields exactly `expected` bytes. */
export function expectLength(source: Readable, expected: number, what: string): Readable {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > expected) {
        callback(
          new RemoteStoreError(
            'LENGTH_MISMATCH',
            `${what}: received more than the ${expected} bytes asked for`,
          ),
        );
        return;
      }
      callback(null, chunk);
    },
    flush(callback) {
      if (seen !== expected) {
        callback(
          new RemoteStoreError(
            'LENGTH_MISMATCH',
            `${what}: stream ended after ${seen} of ${expected} bytes`,
          ),
        );
        return;
      }
      callback();
    },
  });
  // pipeline destroys `counter` with the source's error, which is what the reader sees.
  return pipeline(source, counter, () => undefined);
}
