/**
 * The logger's records, read back from the stream they are written to: errors keep what an
 * operator needs to find the fault (stack, cause chain), in both formats.
 */
import { expect } from 'chai';
import { Writable } from 'node:stream';
import { ThrottledWarn, createLogger, type LogFormat, type Logger } from '@checkpoint-cache/logger';

/** A logger at debug writing to memory, and the records it wrote. */
function capture(
  format: LogFormat = 'json',
  level: 'info' | 'debug' = 'debug',
): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    objectMode: true,
    write(chunk: unknown, _encoding, done) {
      const info = chunk as Record<symbol, unknown>;
      lines.push(String(info[Symbol.for('message')]));
      done();
    },
  });
  return { logger: createLogger({ level, format, stream }), lines };
}

interface LoggedError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
  cause?: LoggedError | string;
}

describe('logger', () => {
  it('writes records at or above its level, from child loggers too, and drops the rest', () => {
    const { logger, lines } = capture('json', 'info');
    const child = logger.child({ rpc: 'Write' });
    logger.debug('dropped');
    child.debug('dropped too', { id: 'x' });
    child.info('kept', { id: 'y' });
    logger.warn('kept too');
    expect(lines.map((l) => (JSON.parse(l) as { message: string }).message)).to.deep.equal([
      'kept',
      'kept too',
    ]);
    expect(JSON.parse(lines[0] ?? '')).to.include({ rpc: 'Write', id: 'y', level: 'info' });
  });

  it('logs an error with its stack and its cause chain', () => {
    const { logger, lines } = capture();
    const root = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    const middle = new Error('sidecar unreadable', { cause: root });
    const top = new TypeError('handler failed', { cause: middle });
    logger.error('unexpected error in handler', { rpc: 'Read', error: top });

    expect(lines).to.have.length(1);
    const record = JSON.parse(lines[0] ?? '') as { error: LoggedError };
    const error = record.error;
    expect(error.name).to.equal('TypeError');
    expect(error.message).to.equal('handler failed');
    expect(error.stack).to.contain('handler failed').and.to.contain('logger.test.js');
    const cause = error.cause as LoggedError;
    expect(cause.message).to.equal('sidecar unreadable');
    expect(cause.stack).to.contain('logger.test.js');
    const rootCause = cause.cause as LoggedError;
    expect(rootCause).to.include({ name: 'Error', message: 'EIO: i/o error, read', code: 'EIO' });
    expect(rootCause.cause).to.equal(undefined);
  });

  it('bounds the cause chain, even a cyclic one', () => {
    const { logger, lines } = capture();
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    a.cause = b;
    logger.warn('cyclic', { error: a });

    const record = JSON.parse(lines[0] ?? '') as { error: LoggedError };
    let depth = 0;
    for (let e: LoggedError | string | undefined = record.error; e; depth++) {
      e = typeof e === 'string' ? undefined : e.cause;
    }
    expect(depth).to.be.within(2, 10);
  });

  it('keeps a cause that is not an Error, as text', () => {
    const { logger, lines } = capture();
    logger.warn('odd', { error: new Error('wrapped', { cause: 'ETIMEDOUT after 5 s' }) });
    const record = JSON.parse(lines[0] ?? '') as { error: LoggedError };
    expect(record.error.cause).to.equal('ETIMEDOUT after 5 s');
  });

  it('prints the stack in the text format too', () => {
    const { logger, lines } = capture('text');
    logger.error('unexpected error in handler', {
      error: new Error('outer', { cause: new Error('inner') }),
    });
    expect(lines[0]).to.contain('outer').and.to.contain('inner').and.to.contain('logger.test.js');
  });

  it('warns once per interval and logs the repeats at debug, counting them', function () {
    const { logger, lines } = capture();
    let now = 1_000_000;
    const warning = new ThrottledWarn(logger, { intervalMs: 60_000, now: () => now });
    const levels = (): string[] => lines.map((l) => (JSON.parse(l) as { level: string }).level);

    warning.warn('disk full', { root: '/cache' });
    for (let i = 0; i < 1000; i++) {
      now += 10;
      warning.warn('disk full', { root: '/cache' });
    }
    expect(levels().filter((l) => l === 'warn')).to.have.length(1);
    expect(levels().filter((l) => l === 'debug')).to.have.length(1000);

    now += 60_000;
    warning.warn('disk full', { root: '/cache' });
    const last = JSON.parse(lines[lines.length - 1] ?? '') as Record<string, unknown>;
    expect(last).to.include({ level: 'warn', root: '/cache', loggedAtDebugSinceLastWarning: 1000 });
    expect(last['message']).to.match(/^disk full \(repeats within 60 s logged at debug\)$/);
  });
});
