/** A Logger that keeps its records, for tests that check what was logged. */
import type { LogMeta, Logger } from '@checkpoint-cache/logger';

export interface LogRecord extends LogMeta {
  level: string;
  message: string;
}

/** A Logger pushing every record (child loggers included) to `records`. */
export function recordingLogger(records: LogRecord[]): Logger {
  const at =
    (level: string) =>
    (message: string, meta?: LogMeta): void => {
      records.push({ ...meta, level, message });
    };
  const logger: Logger = {
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    child: () => logger,
  };
  return logger;
}
