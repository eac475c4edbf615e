import { CacheError, ErrorCode } from '@checkpoint-cache/errors';

/**
 * A configuration value that cannot be used. The message starts with the option as the user wrote
 * it (`--default-ttl`, `CKC_DEFAULT_TTL`, `agent.yaml: defaultTtl`) and the bad value, so it can
 * be printed on its own.
 */
export class ConfigError extends CacheError {
  override readonly name = 'ConfigError';

  constructor(
    message: string,
    /** The option as the user wrote it (flag, environment variable or file key); '' if none. */
    readonly option: string = '',
    options?: { cause?: unknown },
  ) {
    super(ErrorCode.InvalidArgument, message, options);
  }
}

export function isConfigError(err: unknown): err is ConfigError {
  return err instanceof ConfigError;
}
