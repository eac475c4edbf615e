/**
 * The `ckc-agent` process: configuration from argv and the environment, the agent, and signals.
 * Exit codes: 0 after a graceful shutdown or --help; 1 when the agent cannot start or a second
 * signal cuts the shutdown short; 2 for a configuration error.
 * Owns: the process (signals, exit codes, standard streams). Never: agent behaviour.
 */
import * as grpc from '@grpc/grpc-js';
import {
  formatHelp,
  helpRequested,
  isConfigError,
  loadAgentConfig,
  type AgentConfig,
} from '@checkpoint-cache/config';
import { createLogger } from '@checkpoint-cache/logger';
import { startNodeAgent, type RunningAgent } from './node-agent';

const PROGRAM = 'ckc-agent';
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
/** After the work is done, how long leftover handles may keep the process alive. */
const EXIT_LINGER_MS = 1000;

function exit(code: number): void {
  process.exitCode = code;
  // Normally the process ends by itself once everything is closed; this only guards against a
  // handle someone forgot. unref(): the timer itself keeps nothing alive.
  setTimeout(() => process.exit(code), EXIT_LINGER_MS).unref();
}

async function main(argv: readonly string[]): Promise<void> {
  if (helpRequested(argv)) {
    process.stdout.write(formatHelp(PROGRAM));
    return;
  }
  let config: AgentConfig;
  try {
    config = loadAgentConfig({ argv, env: process.env, cwd: process.cwd() });
  } catch (err) {
    if (!isConfigError(err)) throw err;
    process.stderr.write(`${PROGRAM}: ${err.message} (see ${PROGRAM} --help)\n`);
    exit(EXIT_USAGE);
    return;
  }

  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  // grpc-js prints its own errors with console.error; keep standard error one log format.
  grpc.setLogger({
    error: (...args: unknown[]) => log.warn('grpc-js', { detail: args.join(' ') }),
  });
  let agent: RunningAgent | undefined;
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      log.error('second signal: exiting without finishing the shutdown', { signal });
      process.exit(EXIT_FAILURE);
    }
    signalled = signal;
    log.info('signal received: shutting down', { signal, graceMs: config.shutdownGrace });
    // Before the agent is up, start-up finishes first and is then shut down (below).
    if (agent) void agent.shutdown().then(() => exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP reloads the TLS certificates of the TCP listener (and no longer ends the process).
  process.on('SIGHUP', () => {
    if (!agent || signalled) {
      log.info('SIGHUP ignored: the agent is not serving', { starting: !agent });
    } else if (!config.tlsCert) {
      log.info('SIGHUP: nothing to reload (no --tls-cert)');
    } else {
      void agent.reloadTls('SIGHUP').then((changed) => {
        if (!changed) log.info('SIGHUP: TLS files unchanged or refused; certificates kept');
      });
    }
  });

  try {
    agent = await startNodeAgent(config, { logger: log, onFatal: () => exit(EXIT_FAILURE) });
  } catch (err) {
    log.error('node agent could not start', {
      error: err,
      reason: err instanceof Error ? err.message : String(err),
    });
    exit(EXIT_FAILURE);
    return;
  }
  if (signalled) await agent.shutdown().then(() => exit(0));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(
    `${PROGRAM}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  exit(EXIT_FAILURE);
});
