/**
 * grpcurl, the command-line gRPC client operators use against the agent, pinned and found or
 * go-installed like ghz (ensureGoTool); runs one command and reports what it printed and how it
 * exited, failed RPCs included (grpcurl exits 64 + the gRPC status code).
 * Owns: the pinned version. Never: starting servers.
 */
import { execFile } from 'node:child_process';
import { ensureGoTool, type GoTool } from '@checkpoint-cache/bench';

export const GRPCURL: GoTool = Object.freeze({
  name: 'grpcurl',
  module: 'github.com/fullstorydev/grpcurl/cmd/grpcurl',
  version: 'v1.9.4',
});

/** grpcurl's exit code for an RPC that ended with a status other than OK. */
const RPC_ERROR_EXIT_BASE = 64;

export interface GrpcurlResult {
  stdout: string;
  stderr: string;
  /** The process's exit code: 0, or 64 + the gRPC status of a failed RPC, or another failure. */
  exitCode: number;
  /** The gRPC status of a failed RPC, when the exit code says one. */
  rpcStatus?: number;
}

export class Grpcurl {
  private constructor(readonly executable: string) {}

  static async ensure(repoRoot: string, say: (line: string) => void): Promise<Grpcurl> {
    return new Grpcurl(await ensureGoTool(repoRoot, GRPCURL, say));
  }

  /** Runs `grpcurl ...args`; rejects only if it cannot run or runs past `timeoutMs`. */
  run(args: readonly string[], timeoutMs = 20_000): Promise<GrpcurlResult> {
    return new Promise((resolve, reject) => {
      execFile(this.executable, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
        if (err && (typeof err.code !== 'number' || err.killed)) {
          reject(
            new Error(
              `grpcurl ${args.join(' ')} ${err.killed ? `ran longer than ${timeoutMs} ms` : 'could not run'}: ${stderr || err.message}`,
              { cause: err },
            ),
          );
          return;
        }
        const exitCode = typeof err?.code === 'number' ? err.code : 0;
        resolve({
          stdout,
          stderr,
          exitCode,
          ...(exitCode > RPC_ERROR_EXIT_BASE ? { rpcStatus: exitCode - RPC_ERROR_EXIT_BASE } : {}),
        });
      });
    });
  }
}
