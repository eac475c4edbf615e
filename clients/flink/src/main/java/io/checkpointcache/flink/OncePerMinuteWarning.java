package io.checkpointcache.flink;

import org.slf4j.Logger;

/**
 * The plugin's one "warn once a minute", for cache failures that come in bursts (an agent down
 * fails every upload and every delete): the first of a minute at WARN, the rest at DEBUG, so a
 * TaskManager's log says the cache is unwell without repeating it for every file.
 * Owns: the time of the last warning. Safe to share between threads; two racing warnings may both
 * reach WARN, which costs one line.
 */
final class OncePerMinuteWarning {
  private static final long INTERVAL_MS = 60_000;

  private final Logger log;
  private volatile long lastWarnMs;

  OncePerMinuteWarning(Logger log) {
    this.log = log;
  }

  /** Logs {@code format} (slf4j style) with the plugin's prefix. */
  void warn(String format, Object... args) {
    long now = System.currentTimeMillis();
    if (now - lastWarnMs >= INTERVAL_MS) {
      lastWarnMs = now;
      log.warn("checkpoint-cache: " + format + " (further failures within 60 s at DEBUG)", args);
    } else {
      log.debug("checkpoint-cache: " + format, args);
    }
  }
}
