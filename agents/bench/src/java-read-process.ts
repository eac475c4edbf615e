/**
 * The JVM side of the bench's `java` group: builds the Java client's test classes with Maven
 * (profile `bench`, which writes `clients/java/target/bench.argfile`) and runs
 * `io.checkpointcache.client.bench.JavaReadBench` as one long-lived child, driven over stdin one
 * read at a time, so Java's figures interleave with the Node ones round by round and the JIT warms
 * up once.
 * Owns: that child and the protocol to it. Never: recording metrics (the caller does).
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ManagedChild } from './managed-child';

const run = promisify(execFile);
/** agents/bench/lib → the repository. */
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

export const JAVA_READS = [
  'java.file',
  'java.stream.tcp',
  'java.stream.unix',
  'java.direct',
] as const;
export type JavaRead = (typeof JAVA_READS)[number];

export interface JavaReadResult {
  id: JavaRead;
  bytes: number;
  seconds: number;
  /** Where the client says the bytes came from (absent for java.file). */
  fromCache?: number;
  fromRemote?: number;
  shortCircuit?: number;
}

export interface JavaReadTarget {
  /** The entry's source file (read by java.file) and its key in the agent. */
  file: string;
  key: string;
  tcpAddress: string;
  /** `unix:/path` */
  unixAddress: string;
  /** The agent's cache directory (the short circuit reads entries from it). */
  cacheDir: string;
}

export class JavaReadProcess {
  private pending: ((line: string) => void) | undefined;

  private constructor(private readonly child: ManagedChild) {
    // One request at a time: every JSON line that is not the ready line answers the pending one.
    child.onLine((line) => {
      if (line.startsWith('{"id"')) this.pending?.(line);
    });
  }

  /**
   * Builds and starts the JVM; resolves with the reason as a string when Java or Maven is missing
   * or the build fails (the bench then leaves the java figures out and says why).
   */
  static async start(target: JavaReadTarget): Promise<JavaReadProcess | string> {
    const pom = path.join(REPO_ROOT, 'clients', 'pom.xml');
    try {
      await run('mvn', ['-q', '-B', '-f', pom, '-pl', 'java', '-P', 'bench', 'test-compile'], {
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
      if (e.code === 'ENOENT')
        return 'Maven (mvn) not found: apt-get install -y maven openjdk-17-jdk-headless';
      return `the Java client's bench build failed: ${(e.stdout ?? '') + (e.stderr ?? e.message)}`.slice(
        0,
        600,
      );
    }
    const argfile = path.join(REPO_ROOT, 'clients', 'java', 'target', 'bench.argfile');
    const child = ManagedChild.spawn({
      name: 'Java read bench (JVM)',
      command: 'java',
      args: [
        `@${argfile}`,
        target.file,
        target.key,
        target.tcpAddress,
        target.unixAddress,
        target.cacheDir,
      ],
      stdin: true,
    });
    try {
      await child.waitForLine((line) => (line.startsWith('{"ready"') ? true : undefined), 60_000);
    } catch (err) {
      await child.stop();
      return (err as Error).message.slice(0, 600);
    }
    return new JavaReadProcess(child);
  }

  get pid(): number {
    return this.child.pid;
  }

  /** One whole read of the entry by the JVM; rejects with the JVM's error. */
  read(id: JavaRead, timeoutMs = 300_000): Promise<JavaReadResult> {
    if (this.pending) return Promise.reject(new Error('JavaReadProcess: one read at a time'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        reject(this.child.failure(`did not finish ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending = (line) => {
        clearTimeout(timer);
        this.pending = undefined;
        const answer = JSON.parse(line) as JavaReadResult & { error?: string };
        if (answer.error !== undefined) reject(new Error(`${id} in the JVM: ${answer.error}`));
        else resolve(answer);
      };
      this.child.send(id);
    });
  }

  async stop(): Promise<void> {
    if (this.child.running) this.child.send('quit');
    await this.child.stop('SIGTERM', 5_000);
  }
}
