/**
 * Entry point of the `ckc` executable (bin/ckc.js): runs the command line and sets the exit code.
 * Owns: the process boundary (argv, stdio, environment). Everything else is in run-cli.ts.
 */
import { installZeroCopyWrites } from '@checkpoint-cache/client';
import { runCli } from './run-cli';

// Write chunks go out without grpc-js's copy (write-framing.ts in the client); if this grpc-js is
// not the one the patch knows, they are copied as before.
installZeroCopyWrites();

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
