/**
 * The project's logger interface, with winston behind it.
 * Owns: log format and levels. Never: deciding what is worth logging (callers do).
 * Child loggers carry context such as node, rpc and key.
 */
import type { Writable } from 'node:stream';
import * as winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'json' | 'text';
export type LogMeta = Record<string, unknown>;

export interface Logger {
  error(message: string, meta?: LogMeta): void;
  warn(message: string, meta?: LogMeta): void;
  info(message: string, meta?: LogMeta): void;
  debug(message: string, meta?: LogMeta): void;
  /** A logger that adds `meta` to every record. */
  child(meta: LogMeta): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where records go; standard error by default, so that standard output stays for data. */
  stream?: Writable;
}

/**
 * Records below the level are dropped here: winston formats every record (timestamp, JSON) and
 * only its transport compares levels, so a debug record cost its formatting at level info (the
 * group commit logs one per group: issue #16).
 */
class WinstonLogger implements Logger {
  constructor(private readonly inner: winston.Logger) {}

  error(message: string, meta?: LogMeta): void {
    if (this.inner.isLevelEnabled('error')) this.inner.error(message, meta);
  }
  warn(message: string, meta?: LogMeta): void {
    if (this.inner.isLevelEnabled('warn')) this.inner.warn(message, meta);
  }
  info(message: string, meta?: LogMeta): void {
    if (this.inner.isLevelEnabled('info')) this.inner.info(message, meta);
  }
  debug(message: string, meta?: LogMeta): void {
    if (this.inner.isLevelEnabled('debug')) this.inner.debug(message, meta);
  }
  child(meta: LogMeta): Logger {
    return new WinstonLogger(this.inner.child(meta));
  }
}

/** Causes followed per error: enough for wrapped I/O errors, bounded against cycles. */
const MAX_CAUSE_DEPTH = 8;

/**
 * An error as a plain object (JSON.stringify of an Error is `{}`). The stack and the cause chain
 * are kept: an unexpected error is logged once, and without them nobody can tell where it began.
 */
function errorRecord(err: Error, depth = 0): Record<string, unknown> {
  const code = (err as { code?: unknown }).code;
  const record: Record<string, unknown> = {
    name: err.name,
    message: err.message,
    ...(code === undefined ? {} : { code }),
    ...(err.stack === undefined ? {} : { stack: err.stack }),
  };
  const cause = err.cause;
  if (cause === undefined) return record;
  if (depth + 1 >= MAX_CAUSE_DEPTH) record['cause'] = '(further causes not logged)';
  else record['cause'] = cause instanceof Error ? errorRecord(cause, depth + 1) : String(cause);
  return record;
}

const serializeErrors = winston.format((info) => {
  for (const [k, v] of Object.entries(info)) {
    if (v instanceof Error) info[k] = errorRecord(v);
  }
  return info;
});

export function createLogger(options: LoggerOptions = {}): Logger {
  const format =
    options.format === 'text'
      ? winston.format.combine(
          serializeErrors(),
          winston.format.timestamp(),
          winston.format.printf(({ timestamp, level, message, ...meta }) => {
            const rest = Object.keys(meta).length > 0 ? ' ' + JSON.stringify(meta) : '';
            return `${String(timestamp)} ${level.toUpperCase().padEnd(5)} ${String(message)}${rest}`;
          }),
        )
      : winston.format.combine(
          serializeErrors(),
          winston.format.timestamp(),
          winston.format.json(),
        );
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console({
        stderrLevels: ['error', 'warn', 'info', 'debug'],
      });
  return new WinstonLogger(
    winston.createLogger({ level: options.level ?? 'info', format, transports: [transport] }),
  );
}

class SilentLogger implements Logger {
  error(): void {}
  warn(): void {}
  info(): void {}
  debug(): void {}
  child(): Logger {
    return this;
  }
}

/** Discards everything; for library callers that pass no logger. */
export const silentLogger: Logger = new SilentLogger();

export interface ThrottledWarnOptions {
  /** Least time between two warnings; default 60 s. */
  intervalMs?: number;
  /** The clock, in ms (tests pass their own). */
  now?: () => number;
}

/**
 * A condition that can recur on every call (a full disk, an unreachable store) logged at warn at
 * most once per interval, the rest at debug: the first occurrence reaches the operator, a
 * thousand calls do not flood the log. The next warning says how many were logged at debug.
 */
export class ThrottledWarn {
  private readonly intervalMs: number;
  private readonly now: () => number;
  private lastWarnMs: number | undefined;
  private atDebug = 0;

  constructor(
    private readonly logger: Logger,
    options: ThrottledWarnOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** The condition is over: its next occurrence is warned about at once. */
  reset(): void {
    this.lastWarnMs = undefined;
    this.atDebug = 0;
  }

  warn(message: string, meta?: LogMeta): void {
    const now = this.now();
    if (this.lastWarnMs !== undefined && now - this.lastWarnMs < this.intervalMs) {
      this.atDebug++;
      this.logger.debug(message, meta);
      return;
    }
    this.lastWarnMs = now;
    const since = this.atDebug > 0 ? { loggedAtDebugSinceLastWarning: this.atDebug } : {};
    this.atDebug = 0;
    this.logger.warn(`${message} (repeats within ${this.intervalMs / 1000} s logged at debug)`, {
      ...meta,
      ...since,
    });
  }
}
