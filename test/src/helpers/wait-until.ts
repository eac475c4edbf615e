/**
 * Polls a condition instead of sleeping a fixed time: fast when the condition comes true early,
 * and a clear failure (with what was awaited) when it never does.
 */
export interface WaitUntilOptions {
  /** Give up after this long. Default 10000. */
  timeoutMs?: number;
  /** Pause between polls. Default 20. */
  intervalMs?: number;
  /** What was awaited, for the error on timeout. */
  message?: string;
}

export async function waitUntil(
  predicate: () => boolean | Promise<boolean>,
  { timeoutMs = 10_000, intervalMs = 20, message = 'condition' }: WaitUntilOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await predicate()) return;
      lastError = undefined;
    } catch (err) {
      // A predicate that throws is "not yet"; the last error is reported on timeout.
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`waitUntil timed out after ${timeoutMs} ms: ${message}${why}`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
