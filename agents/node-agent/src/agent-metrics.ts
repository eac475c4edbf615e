/**
 * The agent's Prometheus metrics (prom-client); metrics-port.ts serves them.
 * Owns: metric names, labels and buckets (names start with `ckc_`; docs/operations.md lists them
 * with what to alert on). Never: deciding outcomes (the service and cache report them).
 */
import * as client from 'prom-client';
import type {
  CacheObserver,
  NodeCache,
  PeerFillObserver,
  ReconcileResult,
  RemovalReason,
} from '@checkpoint-cache/cache';
import type {
  IngestHow,
  ReadOutcome,
  ServiceObserver,
  WriteOutcome,
} from '@checkpoint-cache/service';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const DURATION_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export interface AgentMetricsSources {
  cache: NodeCache;
  /** True while the main Redis connection is ready. */
  redisConnected: () => boolean;
  /** Whether Read chunks skip grpc-js's copy (installZeroCopyFraming succeeded). */
  zeroCopy: boolean;
}

export class AgentMetrics implements CacheObserver, ServiceObserver, PeerFillObserver {
  readonly registry = new client.Registry();
  private readonly reads: client.Counter<'outcome'>;
  private readonly readBytes: client.Counter;
  private readonly firstByte: client.Histogram;
  private readonly readDuration: client.Histogram<'outcome'>;
  private readonly writes: client.Counter<'outcome'>;
  private readonly batchItems: client.Histogram;
  private readonly ingests: client.Counter<'how'>;
  private readonly writtenBytes: client.Counter;
  private readonly inFlight: client.Gauge<'rpc'>;
  private readonly removals: client.Counter<'reason'>;
  private readonly removedBytes: client.Counter<'reason'>;
  private readonly reconcileRuns: client.Counter<'result'>;
  private readonly reconcileDuration: client.Histogram;
  private readonly reconcileChanges: client.Counter<'action'>;
  private readonly redisErrors: client.Counter;
  private readonly peerBytesTotal: client.Counter;
  private readonly leases: client.Counter;
  private readonly leasedBytes: client.Counter;
  private readonly peerFailures: client.Counter<'reason'>;
  private sources: AgentMetricsSources | undefined;

  constructor() {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    this.reads = new client.Counter({
      name: 'ckc_reads_total',
      help: 'Read calls by outcome: hit, miss, data_loss, invalid, cancelled, error.',
      labelNames: ['outcome'],
      registers,
    });
    this.readBytes = new client.Counter({
      name: 'ckc_read_bytes_total',
      help: 'Bytes sent by Read calls.',
      registers,
    });
    this.firstByte = new client.Histogram({
      name: 'ckc_read_first_byte_seconds',
      help: 'Time from a Read call arriving to its first chunk being sent (hits only).',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.readDuration = new client.Histogram({
      name: 'ckc_read_duration_seconds',
      help: 'Time from a Read call arriving to its end, by outcome.',
      labelNames: ['outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.writes = new client.Counter({
      name: 'ckc_writes_total',
      help:
        'Entries written, by outcome: created, exists, rejected, no_space, cancelled, ' +
        'unavailable, error. Each Write or Ingest call counts once, each WriteBatch item too.',
      labelNames: ['outcome'],
      registers,
    });
    // A histogram rather than two counters: its _count is the calls, its _sum the items (each
    // also in ckc_writes_total), and the buckets show whether clients batch as expected.
    this.batchItems = new client.Histogram({
      name: 'ckc_write_batch_items',
      help: 'Items per WriteBatch call (each item is also counted in ckc_writes_total).',
      buckets: [1, 8, 32, 64, 128, 256, 512, 1000],
      registers,
    });
    this.ingests = new client.Counter({
      name: 'ckc_ingests_total',
      help:
        'Ingest calls that stored their entry, by how: linked (handed over), copied, ' +
        'handover_copied (a hand-over the agent could not link: another mount or ' +
        'protected_hardlinks, see its log).',
      labelNames: ['how'],
      registers,
    });
    this.writtenBytes = new client.Counter({
      name: 'ckc_written_bytes_total',
      help: 'Bytes of entries created by Write, Ingest and WriteBatch.',
      registers,
    });
    this.inFlight = new client.Gauge({
      name: 'ckc_streams_in_flight',
      help: 'Read and Write streams, and WriteBatch calls, being served now.',
      labelNames: ['rpc'],
      registers,
    });
    this.leases = new client.Counter({
      name: 'ckc_leases_total',
      help: 'Leases granted: same-node readers reading an entry straight from the cache directory.',
      registers,
    });
    this.leasedBytes = new client.Counter({
      name: 'ckc_leased_bytes_total',
      help: 'Bytes of the entries leases were granted on (read by same-node readers, not through Read).',
      registers,
    });
    this.peerBytesTotal = new client.Counter({
      name: 'ckc_peer_read_bytes_total',
      help: "Bytes received from other nodes' agents for reads that missed here (peer reads).",
      registers,
    });
    this.peerFailures = new client.Counter({
      name: 'ckc_peer_failures_total',
      help:
        'Peers that could not serve a peer read, by reason: not_found (stale location index), ' +
        'error (unreachable, refused), stream (failed mid-stream), bound (--peer-reads busy).',
      labelNames: ['reason'],
      registers,
    });
    this.removals = new client.Counter({
      name: 'ckc_entries_removed_total',
      help: 'Entries removed by reason: ttl, lru, release, corruption, delete.',
      labelNames: ['reason'],
      registers,
    });
    this.removedBytes = new client.Counter({
      name: 'ckc_removed_bytes_total',
      help: 'Bytes of entries removed, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.reconcileRuns = new client.Counter({
      name: 'ckc_reconcile_runs_total',
      help: 'Reconcile passes by result: ok, or failed (Redis unreachable mid-pass).',
      labelNames: ['result'],
      registers,
    });
    this.reconcileDuration = new client.Histogram({
      name: 'ckc_reconcile_duration_seconds',
      help: 'Duration of completed reconcile passes.',
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.reconcileChanges = new client.Counter({
      name: 'ckc_reconcile_changes_total',
      help: 'What reconcile passes did: expired, reregistered, forgotten.',
      labelNames: ['action'],
      registers,
    });
    this.redisErrors = new client.Counter({
      name: 'ckc_redis_errors_total',
      help: 'Errors reported by the main Redis connection (connection losses, refused commands).',
      registers,
    });
    const sources = (): AgentMetricsSources | undefined => this.sources;
    new client.Gauge({
      name: 'ckc_entries',
      help: 'Entries held on this node.',
      registers,
      collect() {
        const s = sources();
        if (s) this.set(s.cache.usage().entries);
      },
    });
    new client.Gauge({
      name: 'ckc_entry_bytes',
      help: 'Bytes of entries held on this node.',
      registers,
      collect() {
        const s = sources();
        if (s) this.set(s.cache.usage().bytes);
      },
    });
    new client.Gauge({
      name: 'ckc_pack_files',
      help: 'Pack files held (--pack-max-bytes): each holds small entries of one group commit.',
      registers,
      collect() {
        const s = sources();
        if (s) this.set(s.cache.packUsage().packs);
      },
    });
    new client.Gauge({
      name: 'ckc_pack_bytes',
      help:
        'Bytes of pack files on disk, by what they hold: live entries, or the rest (removed ' +
        "entries and headers, freed only with a pack's last entry).",
      labelNames: ['holds'],
      registers,
      collect() {
        const s = sources();
        if (!s) return;
        const { fileBytes, liveBytes } = s.cache.packUsage();
        this.set({ holds: 'live' }, liveBytes);
        this.set({ holds: 'dead' }, fileBytes - liveBytes);
      },
    });
    new client.Gauge({
      name: 'ckc_index_ready',
      help: '1 once the index has been rebuilt from the sidecars after start-up.',
      registers,
      collect() {
        const s = sources();
        if (s) this.set(s.cache.indexStatus === 'ready' ? 1 : 0);
      },
    });
    new client.Gauge({
      name: 'ckc_zero_copy_framing',
      help:
        "1 when Read chunks skip grpc-js's copy; 0 after a grpc-js upgrade the patch does not " +
        'recognise (reads still work, at a higher CPU cost per byte).',
      registers,
      collect() {
        const s = sources();
        if (s) this.set(s.zeroCopy ? 1 : 0);
      },
    });
    new client.Gauge({
      name: 'ckc_redis_connected',
      help: '1 while the main Redis connection is ready.',
      registers,
      collect() {
        const s = sources();
        if (s) this.set(s.redisConnected() ? 1 : 0);
      },
    });
    // Every label value exists from the start, so rates and alerts work before the first event.
    for (const o of ['hit', 'miss', 'data_loss', 'invalid', 'cancelled', 'error'])
      this.reads.inc({ outcome: o }, 0);
    for (const r of ['ttl', 'lru', 'release', 'corruption', 'delete']) {
      this.removals.inc({ reason: r }, 0);
      this.removedBytes.inc({ reason: r }, 0);
    }
    for (const rpc of ['Read', 'Write', 'WriteBatch']) this.inFlight.set({ rpc }, 0);
  }

  /** Connects the gauges read at scrape time. */
  attach(sources: AgentMetricsSources): void {
    this.sources = sources;
  }

  readStarted(): void {
    this.inFlight.inc({ rpc: 'Read' });
  }

  readFirstByte(seconds: number): void {
    this.firstByte.observe(seconds);
  }

  readFinished(outcome: ReadOutcome, bytes: number, seconds: number): void {
    this.inFlight.dec({ rpc: 'Read' });
    this.reads.inc({ outcome });
    this.readBytes.inc(bytes);
    this.readDuration.observe({ outcome }, seconds);
  }

  writeStarted(): void {
    this.inFlight.inc({ rpc: 'Write' });
  }

  writeFinished(outcome: WriteOutcome, bytes: number): void {
    this.inFlight.dec({ rpc: 'Write' });
    this.countWrite(outcome, bytes);
  }

  writeBatchStarted(items: number): void {
    this.inFlight.inc({ rpc: 'WriteBatch' });
    this.batchItems.observe(items);
  }

  writeBatchItemFinished(outcome: WriteOutcome, bytes: number): void {
    this.countWrite(outcome, bytes);
  }

  writeBatchFinished(): void {
    this.inFlight.dec({ rpc: 'WriteBatch' });
  }

  private countWrite(outcome: WriteOutcome, bytes: number): void {
    this.writes.inc({ outcome });
    if (outcome === 'created') this.writtenBytes.inc(bytes);
  }

  ingested(how: IngestHow): void {
    this.ingests.inc({ how });
  }

  leaseGranted(bytes: number): void {
    this.leases.inc();
    this.leasedBytes.inc(bytes);
  }

  entryRemoved(reason: RemovalReason, bytes: number): void {
    this.removals.inc({ reason });
    this.removedBytes.inc({ reason }, bytes);
  }

  reconcilePass(result: ReconcileResult | undefined): void {
    this.reconcileRuns.inc({ result: result ? 'ok' : 'failed' });
    if (!result) return;
    this.reconcileDuration.observe(result.ms / 1000);
    this.reconcileChanges.inc({ action: 'expired' }, result.expired);
    this.reconcileChanges.inc({ action: 'reregistered' }, result.reregistered);
    this.reconcileChanges.inc({ action: 'forgotten' }, result.forgotten);
  }

  peerBytes(bytes: number): void {
    this.peerBytesTotal.inc(bytes);
  }

  peerFailure(reason: string): void {
    this.peerFailures.inc({ reason });
  }

  redisError(): void {
    this.redisErrors.inc();
  }
}
