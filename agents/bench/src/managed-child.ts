/**
 * A child process the bench starts (agent, reference servers, nginx): its output kept for error
 * messages, a wait for the line that says it is ready, and a stop that escalates to SIGKILL.
 * Each child runs in its own process group, so Ctrl-C reaches only the bench, which then stops
 * the children in order; a watchdog kills the group if the bench itself dies without cleaning up.
 * Owns: one child and its watchdog. Never: deciding when to stop (the CleanupStack does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

export interface ManagedChildOptions {
  /** Shown in messages. */
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const OUTPUT_TAIL_CHARS = 6000;

export class ManagedChild {
  private output = '';
  private readonly lineListeners = new Set<(line: string) => void>();
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private watchdog: ChildProcess | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: null, signal: null }));
    });
    let partial = { stdout: '', stderr: '' };
    const collect = (which: 'stdout' | 'stderr') => (data: Buffer) => {
      const text = data.toString('utf8');
      this.output = (this.output + text).slice(-OUTPUT_TAIL_CHARS);
      const lines = (partial[which] + text).split('\n');
      partial = { ...partial, [which]: lines.pop() ?? '' };
      for (const line of lines) for (const listener of this.lineListeners) listener(line);
    };
    child.stdout?.on('data', collect('stdout'));
    child.stderr?.on('data', collect('stderr'));
  }

  static spawn(options: ManagedChildOptions): ManagedChild {
    const child = spawn(options.command, options.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
      detached: true,
    });
    const managed = new ManagedChild(options.name, child);
    if (child.pid !== undefined) managed.watchdog = startWatchdog(`kill -9 -${child.pid}`);
    return managed;
  }

  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new Error(`${this.name} has no pid (it did not start)`);
    return pid;
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last few KB of its standard output and error. */
  get outputTail(): string {
    return this.output;
  }

  /** Calls `listener` with every later output line until the process exits. */
  onLine(listener: (line: string) => void): void {
    this.lineListeners.add(listener);
  }

  /**
   * Resolves with the first non-undefined `match(line)` over its output lines; rejects when the
   * process exits first or after `timeoutMs`, with the output so far.
   */
  waitForLine<T>(match: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (err: Error | undefined, value?: T): void => {
        clearTimeout(timer);
        this.lineListeners.delete(listener);
        if (err) reject(err);
        else resolve(value as T);
      };
      const listener = (line: string): void => {
        const value = match(line);
        if (value !== undefined) finish(undefined, value);
      };
      // Lines and the exit arrive on later ticks, so `timer` is set before finish can run.
      const timer = setTimeout(
        () => finish(this.failure(`was not ready within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.lineListeners.add(listener);
      void this.exited.then(({ code, signal }) =>
        finish(this.failure(`exited (${signal ?? code}) before it was ready`)),
      );
    });
  }

  /** An Error naming the child, with its output tail. */
  failure(what: string): Error {
    const tail = this.output.trim();
    return new Error(`${this.name} ${what}${tail ? `; its output:\n${tail}` : ''}`);
  }

  /**
   * Sends `signal` to the process (not its group: an agent shuts its own redis-server down),
   * waits up to `graceMs`, then SIGKILLs the whole group. Idempotent.
   */
  stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    this.stopping ??= (async () => {
      const pid = this.child.pid;
      if (pid !== undefined && this.running) {
        this.child.kill(signal);
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          this.exited.then(() => false),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(true), graceMs);
          }),
        ]);
        clearTimeout(timer);
        if (timedOut) process.stderr.write(`ckc-bench: ${this.name} ignored ${signal}; killing\n`);
      }
      // Whatever is left of the group (nginx workers, a stuck grandchild) goes too.
      if (pid !== undefined) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // the group is already gone
        }
      }
      await this.exited;
      this.watchdog?.kill('SIGKILL');
      this.watchdog = undefined;
    })();
    return this.stopping;
  }
}

/**
 * Runs `shellCommand` when the bench process dies, however it dies (even SIGKILL, where no exit
 * hook runs): the watchdog blocks reading its stdin, which reaches EOF when our end closes. The
 * caller kills the watchdog (SIGKILL, so the command does not run) once it has cleaned up itself.
 */
export function startWatchdog(shellCommand: string): ChildProcess {
  const watchdog = spawn('sh', ['-c', `read _; ${shellCommand} >/dev/null 2>&1`], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  watchdog.on('error', () => undefined);
  watchdog.unref();
  (watchdog.stdin as Socket | null)?.unref();
  return watchdog;
}
