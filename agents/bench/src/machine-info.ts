/**
 * The machine a run was taken on, as docs/benchmarks.md shows it: cores, memory, kernel, OS, and
 * the versions of Node, grpc-js and the peers.
 * Owns: where each fact comes from. Never: judging the machine.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  os: string;
  node: string;
  grpcJs: string;
  nginx?: string;
  ghz?: string;
}

export async function describeMachine(
  extra: { nginx?: string; ghz?: string } = {},
): Promise<MachineInfo> {
  const osRelease = await fs.readFile('/etc/os-release', 'utf8').catch(() => '');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? os.type();
  const grpcJsManifest = await fs.readFile(require.resolve('@grpc/grpc-js/package.json'), 'utf8');
  const grpcJs = (JSON.parse(grpcJsManifest) as { version: string }).version;
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: os.release(),
    os: pretty,
    node: process.version,
    grpcJs,
    ...(extra.nginx ? { nginx: extra.nginx } : {}),
    ...(extra.ghz ? { ghz: extra.ghz } : {}),
  };
}

export function formatMachine(m: MachineInfo): string {
  const peers = [m.nginx ? `nginx ${m.nginx}` : '', m.ghz ? `ghz ${m.ghz}` : '']
    .filter(Boolean)
    .join(', ');
  return (
    `${m.cpus} cores (${m.cpuModel}), ${m.memoryGiB} GiB memory, Linux ${m.kernel} (${m.os}), ` +
    `Node ${m.node}, grpc-js ${m.grpcJs}${peers ? `, ${peers}` : ''}`
  );
}
