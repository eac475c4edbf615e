/**
 * The bench's `java` scenario: one round of the Java client's reads (a plain FileInputStream of
 * the source file, streamed over TCP and the Unix socket, the short circuit) in a rotating order,
 * each kept only when the client's own counters say the bytes came the way its name says.
 * Owns: that round. Never: the JVM's life (JavaReadProcess) or the catalogue (metric-catalogue).
 */
import type { BenchFile } from './bench-data';
import type { BenchResults } from './bench-results';
import { JAVA_READS, type JavaRead, type JavaReadProcess } from './java-read-process';

const MB = 1e6;

/** The Java client in its own JVM: a plain file read, streamed over TCP and Unix, short circuit. */
export async function javaScenario(
  round: number,
  java: JavaReadProcess,
  large: BenchFile,
  results: BenchResults,
): Promise<string> {
  const order: JavaRead[] = [...JAVA_READS.slice(round % 4), ...JAVA_READS.slice(0, round % 4)];
  const parts: string[] = [];
  for (const id of order) {
    const r = await java.read(id);
    if (r.bytes !== large.size)
      throw new Error(`${id}: read ${r.bytes} bytes, expected ${large.size}`);
    const fromAgent = id === 'java.file' || (r.fromCache === large.size && r.fromRemote === 0);
    const direct = id !== 'java.direct' || r.shortCircuit === large.size;
    if (!fromAgent || !direct) {
      results.notes.push(
        `round ${round + 1}: ${id} did not read every byte the way its name says ` +
          `(from the agent ${r.fromCache ?? 0}, remote ${r.fromRemote ?? 0}, short circuit ` +
          `${r.shortCircuit ?? 0} of ${large.size}); its figure is left out`,
      );
      continue;
    }
    const mbps = r.bytes / MB / r.seconds;
    results.record(id, round, mbps);
    parts.push(`${id.slice(5)} ${mbps.toFixed(0)}`);
  }
  return `${parts.join(', ')} MB/s`;
}
