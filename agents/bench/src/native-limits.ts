/**
 * The machine's own limits, measured with native tools in the same run as everything else:
 * loopback TCP with iperf3 (Debian's package), a file read from the page cache with `dd` to
 * /dev/null, and a durable file write with `dd conv=fdatasync`. No Node in the data path, so a
 * ratio to them says how far the product is from the machine, not from another Node program.
 * Owns: running the tools and parsing their figures. Never: recording metrics.
 */
import { execFile, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import { freePort } from './free-port';

const run = promisify(execFile);
const MB = 1e6;
export const IPERF3_INSTALL_HINT = 'apt-get install -y iperf3';

/** Why iperf3 cannot run here, or undefined when it can. */
export async function iperf3Missing(): Promise<string | undefined> {
  try {
    await run('iperf3', ['--version']);
    return undefined;
  } catch {
    return `iperf3 not found (${IPERF3_INSTALL_HINT}); the native loopback limit is missing`;
  }
}

/** Loopback TCP MB/s (received) of one iperf3 stream for `seconds`; server and client are iperf3. */
export async function iperf3Loopback(seconds: number): Promise<number> {
  const port = await freePort();
  const server = spawn('iperf3', ['-s', '-1', '-p', String(port), '-B', '127.0.0.1'], {
    stdio: 'ignore',
  });
  try {
    let lastError: unknown;
    // The server needs a moment to listen; the client retries until it does.
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        const { stdout } = await run(
          'iperf3',
          ['-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-J'],
          { maxBuffer: 8 * 1024 * 1024 },
        );
        const report = JSON.parse(stdout) as {
          end?: { sum_received?: { bits_per_second?: number } };
          error?: string;
        };
        const bps = report.end?.sum_received?.bits_per_second;
        if (bps === undefined) throw new Error(`iperf3: ${report.error ?? 'no result'}`);
        return bps / 8 / MB;
      } catch (err) {
        lastError = err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  } finally {
    server.kill('SIGKILL');
  }
}

/** `dd`'s own MB/s from its summary line ("N bytes (...) copied, S s, ..."). */
async function dd(args: readonly string[]): Promise<{ bytes: number; mbps: number }> {
  const { stderr } = await run('dd', [...args], { env: { ...process.env, LC_ALL: 'C' } });
  const m = /(\d+) bytes .* copied, ([\d.e+-]+) s/.exec(stderr);
  if (!m) throw new Error(`dd: no summary line in: ${stderr.trim()}`);
  const bytes = Number(m[1]);
  return { bytes, mbps: bytes / MB / Number(m[2]) };
}

/** MB/s of `dd` reading `file` to /dev/null in 1 MiB blocks (the file is in the page cache). */
export async function ddRead(file: string): Promise<number> {
  return (await dd([`if=${file}`, 'of=/dev/null', 'bs=1M'])).mbps;
}

/**
 * MB/s of `dd` copying `source` to `target` in 1 MiB blocks with `conv=fdatasync` (the data is on
 * disk when dd reports, as an agent Write is when it answers), then removes `target`.
 */
export async function ddDurableWrite(source: string, target: string): Promise<number> {
  try {
    return (await dd([`if=${source}`, `of=${target}`, 'bs=1M', 'conv=fdatasync'])).mbps;
  } finally {
    await fs.rm(target, { force: true });
  }
}
