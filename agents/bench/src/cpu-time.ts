/**
 * CPU time used by a process, from /proc/<pid>/stat (user + system), and its children's pids.
 * CPU per byte moved barely depends on how busy the machine is, where MB/s swings 2-3x; so the
 * bench reports both.
 * Owns: reading /proc. Never: anything but reading.
 */
import { promises as fs } from 'node:fs';

/** USER_HZ: the unit of utime/stime, 100 on every Linux architecture Node runs on. */
const TICKS_PER_SECOND = 100;

/** User + system CPU seconds `pid` has used so far (not counting its children). */
export async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm) ": state is [0], utime [11], stime [12].
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** CPU seconds of this process (all threads), from Node's own counter. */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Direct children of `pid` (e.g. nginx's workers), or none when the kernel does not say. */
export async function childPids(pid: number): Promise<number[]> {
  const text = await fs.readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.split(/\s+/).filter(Boolean).map(Number);
}
