/**
 * A Go command-line tool the project runs (ghz, grpcurl): found on PATH or in <repo>/.load/bin,
 * otherwise installed there with `go install` of a pinned version (CI has Go and the module
 * proxy), bounded in time, with a clear message when Go or the module proxy is missing.
 * Owns: finding and installing. Never: running the tool.
 */
import { execFile } from 'node:child_process';
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** How long one `go install` may take; a test's before hook allows this plus its own set-up. */
export const GO_TOOL_INSTALL_TIMEOUT_MS = 300_000;

export interface GoTool {
  /** The executable's name, which `go install` also gives it. */
  readonly name: string;
  /** The package path of the command, e.g. github.com/bojand/ghz/cmd/ghz. */
  readonly module: string;
  /** The pinned version, e.g. v0.120.0. */
  readonly version: string;
}

/** The tool's executable from PATH or `<repoRoot>/.load/bin`, installing it there if neither has it. */
export async function ensureGoTool(
  repoRoot: string,
  tool: GoTool,
  say: (line: string) => void,
): Promise<string> {
  const binDir = path.join(repoRoot, '.load', 'bin');
  const found = await findExecutable(tool.name, [
    binDir,
    ...(process.env.PATH ?? '').split(path.delimiter),
  ]);
  if (found) return found;
  const target = `${tool.module}@${tool.version}`;
  say(`${tool.name} not found: installing ${target} into ${binDir} (go install)`);
  await fs.mkdir(binDir, { recursive: true });
  try {
    await run('go', ['install', target], {
      env: { ...process.env, GOBIN: binDir },
      timeout: GO_TOOL_INSTALL_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; killed?: boolean };
    const why =
      e.code === 'ENOENT'
        ? 'Go is not installed (https://go.dev/doc/install)'
        : e.killed
          ? `it took more than ${GO_TOOL_INSTALL_TIMEOUT_MS / 1000} s`
          : (e.stderr ?? e.message).trim().split('\n').slice(-5).join('\n');
    throw new Error(
      `could not install ${tool.name}: ${why}\n` +
        `Install it by hand: GOBIN=${binDir} go install ${target}`,
      { cause: err },
    );
  }
  return path.join(binDir, tool.name);
}

async function findExecutable(name: string, dirs: readonly string[]): Promise<string | undefined> {
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      await fs.access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
