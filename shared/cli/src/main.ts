/**
 * Entry point of the `ckc` executable (bin/ckc.js): runs the command line and sets the exit code.
 * Owns: the process boundary (argv, stdio, environment). Everything else is in run-cli.ts.
 */
import { runCli } from './run-cli';

runCli(process.argv.slice(2), {
  stdin: () => process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `ckc: internal error: ${err instanceof Error ? err.stack : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
