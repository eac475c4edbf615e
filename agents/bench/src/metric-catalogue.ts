/**
 * The bench's metric catalogue: every figure `npm run bench` can report, with its section, label,
 * kind (limit, peer, framework, agent) and the ratios printed beside it. Limits are the fastest the
 * machine does in the same run (native tools included); every ratio is to one of them or a peer.
 * Owns: ids, labels and ratios. Never: measuring.
 */
import type { BenchOptions } from './bench-options';
import type { BenchResults, MetricSpec } from './bench-results';

export interface CatalogueContext {
  nginxVersion: string | undefined;
  remoteDescription: string;
  checkpointBytes: number;
}

export function defineMetrics(results: BenchResults, options: BenchOptions, ctx: CatalogueContext): void {
  const o = options;
  const define = (spec: MetricSpec): void => results.define(spec);
  const LIMITS = 'Limits';
  const STREAM = `One ${fmtBytes(o.size)} file, one stream`;
  define({ id: 'file.native', section: LIMITS, label: 'file read, dd bs=1M → /dev/null (native)', unit: 'MB/s', kind: 'limit', chart: true });
  define({ id: 'file', section: LIMITS, label: 'file read, Node fs.createReadStream (256 KiB) → nothing', unit: 'MB/s', kind: 'limit', chart: true, ratios: [{ to: 'file.native', name: 'dd read' }] });
  define({ id: 'iperf3', section: LIMITS, label: 'loopback TCP, iperf3 (native, one stream)', unit: 'MB/s', kind: 'limit', chart: true });
  for (const [transport, name] of [['tcp', 'loopback TCP'], ['unix', 'Unix socket']] as const) {
    for (const [size, sizeName] of [['256k', '256 KiB'], ['1m', '1 MiB']] as const) {
      define({ id: `${transport}.${size}`, section: LIMITS, label: `raw ${name} pipe, Node, ${sizeName} file reads → socket → nothing`, unit: 'MB/s', kind: 'limit', ratios: [{ to: 'iperf3', name: 'iperf3' }] });
    }
  }
  define({ id: 'tcp', section: LIMITS, label: 'raw loopback TCP pipe, Node: the faster of 256 KiB / 1 MiB reads (each round)', chartLabel: 'raw loopback TCP pipe, Node (best read size)', unit: 'MB/s', kind: 'limit', chart: true, ratios: [{ to: 'iperf3', name: 'iperf3' }, { to: 'file', name: 'file read' }] });
  define({ id: 'unix', section: LIMITS, label: 'raw Unix socket pipe, Node: the faster of 256 KiB / 1 MiB reads (each round)', chartLabel: 'raw Unix socket pipe, Node (best read size)', unit: 'MB/s', kind: 'limit', chart: true, ratios: [{ to: 'tcp', name: 'raw TCP' }, { to: 'iperf3', name: 'iperf3' }] });
  define({ id: 'nginx', section: STREAM, label: `nginx ${ctx.nginxVersion ?? ''} (sendfile, 1 worker) → Node http.get`, unit: 'MB/s', kind: 'peer', chart: true, ratios: [{ to: 'tcp', name: 'raw TCP' }] });
  define({ id: 'constant.tcp', section: STREAM, label: 'grpc-js constant server → client stub, TCP', unit: 'MB/s', kind: 'framework', chart: true, ratios: [{ to: 'tcp', name: 'raw TCP' }, { to: 'nginx', name: 'nginx' }] });
  define({ id: 'agent.tcp', section: STREAM, label: 'agent → client stub, TCP', unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: 'tcp', name: 'raw TCP' }, { to: 'iperf3', name: 'iperf3' }, { to: 'nginx', name: 'nginx' }, { to: 'constant.tcp', name: 'grpc-js constant' }] });
  define({ id: 'agent.direct', section: STREAM, label: 'agent, same-node short circuit (client shortCircuit: Lease, then the file read and verified directly)', chartLabel: 'agent, same-node short circuit (client option)', unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: 'file.native', name: 'dd read' }, { to: 'file', name: 'Node file read' }, { to: 'agent.unix', name: 'agent Unix' }] });
  define({ id: 'agent.unix', section: STREAM, label: 'agent → client stub, Unix socket', unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: 'unix', name: 'raw Unix' }, { to: 'nginx', name: 'nginx' }, { to: 'agent.tcp', name: 'agent TCP' }] });

  const JVM = `The Java client (what Flink reads through): one ${fmtBytes(o.size)} entry, one stream, 1 MiB reads`;
  define({ id: 'java.file', section: JVM, label: "Java FileInputStream of the same file (what Flink's own local recovery reads at)", unit: 'MB/s', kind: 'peer', chart: true, ratios: [{ to: 'file.native', name: 'dd read' }, { to: 'java.direct', name: 'Java short circuit' }] });
  define({ id: 'java.stream.tcp', section: JVM, label: 'Java client streamed from the agent, TCP', unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: 'tcp', name: 'raw TCP' }, { to: 'java.file', name: 'Java file' }, { to: 'agent.tcp', name: 'TS client TCP' }, { to: 'java.stream.unix', name: 'Java Unix' }] });
  define({ id: 'java.stream.unix', section: JVM, label: 'Java client streamed from the agent, Unix socket', unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: 'unix', name: 'raw Unix' }, { to: 'tcp', name: 'raw TCP' }, { to: 'java.file', name: 'Java file' }, { to: 'java.stream.tcp', name: 'Java TCP' }] });
  define({ id: 'java.direct', section: JVM, label: 'Java client, same-node short circuit (Lease, then the file read and verified directly)', chartLabel: 'Java client, short circuit', unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: 'java.file', name: 'Java file' }, { to: 'file.native', name: 'dd read' }, { to: 'java.stream.unix', name: 'Java streamed Unix' }] });

  const WRITE = `Writing one ${fmtBytes(o.size)} file durably into the cache's file system (source in the page cache)`;
  define({ id: 'write.dd', section: WRITE, label: 'dd bs=1M conv=fdatasync (native)', unit: 'MB/s', kind: 'limit', ratios: [{ to: 'write.agent', name: 'agent Write' }, { to: 'write.ingest', name: 'agent Ingest' }, { to: 'write.handover', name: 'agent hand-over' }] });
  define({ id: 'write.agent', section: WRITE, label: 'agent Write of the file through the client stub (writeFile), Unix socket (checked, fsynced, renamed, registered)', unit: 'MB/s', kind: 'agent', ratios: [{ to: 'write.dd', name: 'dd' }] });
  define({ id: 'write.ingest', section: WRITE, label: 'agent Ingest of a file already on the node (its ingest directory), Unix socket (copied, checked, fsynced, renamed, registered)', unit: 'MB/s', kind: 'agent', ratios: [{ to: 'write.dd', name: 'dd' }, { to: 'write.agent', name: 'agent Write' }] });
  define({ id: 'write.handover', section: WRITE, label: 'the caller writing a spool file into the ingest directory (CRC32C as it goes, no fsync) and handing it over (Ingest with hand_over: linked, checked, fsynced, renamed, registered), from its first byte to the answer', unit: 'MB/s', kind: 'agent', ratios: [{ to: 'write.dd', name: 'dd' }, { to: 'write.agent', name: 'agent Write' }, { to: 'write.ingest', name: 'agent Ingest' }] });
  define({ id: 'write.handover_call', section: WRITE, label: 'that hand-over call alone (its bytes written by the caller, not yet on disk: the fsync in it is their durable write)', unit: 'MB/s', kind: 'agent', ratios: [{ to: 'write.dd', name: 'dd' }] });
  define({ id: 'write.spool_ingest', section: WRITE, label: 'the caller writing that file first (CRC32C as it goes; its fsync before the Ingest not counted), plus the Ingest', unit: 'MB/s', kind: 'agent', ratios: [{ to: 'write.dd', name: 'dd' }, { to: 'write.agent', name: 'agent Write' }] });

  const CPU = 'CPU seconds per GB moved, one stream (steadier than MB/s on a busy machine)';
  define({ id: 'cpu.server.tcp', section: CPU, label: 'sender: raw TCP pipe', unit: 'CPU s/GB', kind: 'limit' });
  define({ id: 'cpu.server.unix', section: CPU, label: 'sender: raw Unix pipe', unit: 'CPU s/GB', kind: 'limit' });
  define({ id: 'cpu.server.nginx', section: CPU, label: 'sender: nginx worker (sendfile)', unit: 'CPU s/GB', kind: 'peer', ratios: [{ to: 'cpu.server.tcp', name: 'raw TCP sender' }] });
  define({ id: 'cpu.server.constant.tcp', section: CPU, label: 'sender: grpc-js constant server', unit: 'CPU s/GB', kind: 'framework', ratios: [{ to: 'cpu.server.tcp', name: 'raw TCP sender' }] });
  define({ id: 'cpu.server.agent.tcp', section: CPU, label: 'sender: agent, TCP', unit: 'CPU s/GB', kind: 'agent', ratios: [{ to: 'cpu.server.tcp', name: 'raw TCP sender' }, { to: 'cpu.server.constant.tcp', name: 'grpc-js constant' }] });
  define({ id: 'cpu.server.agent.unix', section: CPU, label: 'sender: agent, Unix socket', unit: 'CPU s/GB', kind: 'agent', ratios: [{ to: 'cpu.server.unix', name: 'raw Unix sender' }, { to: 'cpu.server.agent.tcp', name: 'agent TCP' }] });
  define({ id: 'cpu.client.tcp', section: CPU, label: 'reader: raw TCP socket', unit: 'CPU s/GB', kind: 'limit' });
  define({ id: 'cpu.client.nginx', section: CPU, label: 'reader: Node http.get from nginx', unit: 'CPU s/GB', kind: 'peer', ratios: [{ to: 'cpu.client.tcp', name: 'raw TCP reader' }] });
  define({ id: 'cpu.client.constant.tcp', section: CPU, label: 'reader: client stub from grpc-js constant', unit: 'CPU s/GB', kind: 'framework', ratios: [{ to: 'cpu.client.tcp', name: 'raw TCP reader' }] });
  define({ id: 'cpu.client.agent.tcp', section: CPU, label: 'reader: client stub from agent, TCP', unit: 'CPU s/GB', kind: 'agent', ratios: [{ to: 'cpu.client.tcp', name: 'raw TCP reader' }, { to: 'cpu.client.constant.tcp', name: 'grpc-js constant' }] });
  define({ id: 'cpu.client.agent.unix', section: CPU, label: 'reader: client stub from agent, Unix socket', unit: 'CPU s/GB', kind: 'agent', ratios: [{ to: 'cpu.client.agent.tcp', name: 'agent TCP' }] });

  const RANGE = `Small range reads: ${fmtBytes(o.rangeSize)} at random offsets, one at a time, time to first byte`;
  for (const p of ['p50', 'p99'] as const) {
    define({ id: `range.fs.${p}`, section: RANGE, label: `pread (page cache) ${p}`, unit: 'ms', kind: 'limit' });
    define({ id: `range.nginx.${p}`, section: RANGE, label: `nginx Range GET, keep-alive ${p}`, unit: 'ms', kind: 'peer', ratios: [{ to: `range.fs.${p}`, name: 'pread' }] });
    define({ id: `range.constant.${p}`, section: RANGE, label: `grpc-js constant server → client stub ${p}`, unit: 'ms', kind: 'framework', ratios: [{ to: `range.nginx.${p}`, name: 'nginx' }] });
    define({ id: `range.agent.${p}`, section: RANGE, label: `agent → client stub, TCP ${p}`, unit: 'ms', kind: 'agent', ratios: [{ to: `range.nginx.${p}`, name: 'nginx' }, { to: `range.constant.${p}`, name: 'grpc-js constant' }] });
  }

  const CONC = `Concurrent streams over the ${o.files} x ${fmtBytes(o.fileSize)} checkpoint, aggregate`;
  for (const n of o.streams) {
    define({ id: `conc.nginx.${n}`, section: CONC, label: `nginx, ${n} stream${n > 1 ? 's' : ''} (keep-alive pool)`, unit: 'MB/s', kind: 'peer', chart: true, ratios: [{ to: 'tcp', name: 'raw TCP (1 stream)' }] });
    define({ id: `conc.agent.${n}`, section: CONC, label: `agent, ${n} stream${n > 1 ? 's' : ''} (one client channel, TCP)`, unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: `conc.nginx.${n}`, name: `nginx ${n}` }, { to: 'tcp', name: 'raw TCP (1 stream)' }, ...(n > 1 ? [{ to: `conc.agent.${o.streams[0]}`, name: `agent ${o.streams[0]}` }] : [])] });
  }

  const REC = `Recovery: restore the ${o.files}-file checkpoint (${fmtBytes(ctx.checkpointBytes)}), ${o.restoreParallelism} files at a time, client stub over the Unix socket`;
  define({ id: 'link', section: REC, label: `link to the remote store (${ctx.remoteDescription.startsWith('FALLBACK') ? 'token bucket, FALLBACK' : 'tc tbf on veth'})`, unit: 'MB/s', kind: 'limit', note: 'configured', chart: true });
  define({ id: 'restore.remote.mbps', section: REC, label: 'restore from remote (cache miss → HTTP Range reads)', unit: 'MB/s', kind: 'peer', chart: true, ratios: [{ to: 'link', name: 'link rate' }] });
  define({ id: 'restore.cache.mbps', section: REC, label: 'restore from the cache', unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: 'restore.remote.mbps', name: 'remote' }, { to: 'conc.agent.' + o.restoreParallelism, name: `agent ${o.restoreParallelism} streams` }] });
  define({ id: 'restore.direct.mbps', section: REC, label: 'restore from the cache, same-node short circuit (client shortCircuit)', chartLabel: 'restore from the cache, short circuit', unit: 'MB/s', kind: 'agent', chart: true, ratios: [{ to: 'restore.remote.mbps', name: 'remote' }, { to: 'restore.cache.mbps', name: 'streamed' }] });
  define({ id: 'restore.remote.s', section: REC, label: 'restore from remote, time', unit: 's', kind: 'peer' });
  define({ id: 'restore.cache.s', section: REC, label: 'restore from the cache, time', unit: 's', kind: 'agent', ratios: [{ to: 'restore.remote.s', name: 'remote', asSpeedup: true }] });
  define({ id: 'restore.direct.s', section: REC, label: 'restore from the cache, short circuit, time', unit: 's', kind: 'agent', ratios: [{ to: 'restore.remote.s', name: 'remote', asSpeedup: true }] });
  define({ id: 'restore.remote.fromRemote', section: REC, label: 'restore from remote: bytes pulled from remote', unit: 'MB', kind: 'peer' });
  define({ id: 'restore.cache.fromRemote', section: REC, label: 'restore from the cache: bytes pulled from remote', unit: 'MB', kind: 'agent', ratios: [{ to: 'restore.remote.fromRemote', name: 'remote restore' }] });
  define({ id: 'restore.direct.fromRemote', section: REC, label: 'restore from the cache, short circuit: bytes pulled from remote', unit: 'MB', kind: 'agent', ratios: [{ to: 'restore.remote.fromRemote', name: 'remote restore' }] });

  const MEM = `Agent memory: ${o.memoryStreams} concurrent ${fmtBytes(o.size)} streams, each reader taking ${fmtBytes(o.memoryReaderBytesPerSecond)}/s, ${o.memorySeconds} s, one channel each`;
  define({ id: 'memory.target', section: MEM, label: 'target (issue 4)', unit: 'MB', kind: 'limit', note: 'configured' });
  define({ id: 'memory.start', section: MEM, label: 'agent RSS after start-up (before seeding)', unit: 'MB', kind: 'agent', ratios: [{ to: 'memory.target', name: 'target' }] });
  define({ id: 'memory.afterWrites', section: MEM, label: `agent RSS right after seeding (${fmtBytes(o.size + ctx.checkpointBytes)} through Write)`, unit: 'MB', kind: 'agent', ratios: [{ to: 'memory.target', name: 'target' }, { to: 'memory.start', name: 'start-up' }] });
  define({ id: 'memory.idle', section: MEM, label: 'agent restarted on the same cache: RSS before the readers', unit: 'MB', kind: 'agent', ratios: [{ to: 'memory.target', name: 'target' }] });
  define({ id: 'memory.peak', section: MEM, label: 'agent peak RSS while serving the readers (VmHWM reset before)', unit: 'MB', kind: 'agent', ratios: [{ to: 'memory.target', name: 'target' }, { to: 'memory.idle', name: 'idle' }] });
} // prettier-ignore

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  return `${v}${units[i]}`;
}
