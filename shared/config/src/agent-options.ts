/**
 * The node agent's options, as data: the single source for flags, environment variables, YAML
 * keys, defaults, bounds, `--help` and (later) the validation of Kubernetes manifests.
 * Owns: names, spellings, defaults and docs. Never: parsing or I/O (load-agent-config.ts does).
 */

export type OptionType =
  'string' | 'duration' | 'size' | 'int' | 'enum' | 'bool' | 'hostport' | 'path' | 'url';

export interface OptionSpec {
  /** camelCase: the YAML key and the AgentConfig field. */
  readonly name: string;
  /** kebab-case, without the leading `--`. */
  readonly flag: string;
  readonly env: string;
  readonly type: OptionType;
  /**
   * The default, written as a user would write it and parsed like user input. `<cacheDir>` at
   * the start stands for the resolved cache directory. Absent: no default (the value is unset).
   */
  readonly default?: string;
  /** How `--help` describes the behaviour when the option is unset and has no default. */
  readonly unsetDoc?: string;
  /** Placeholder for the value in `--help`. */
  readonly metavar: string;
  readonly doc: string;
  /** `off` (or an empty string) turns the feature off: the value becomes unset. */
  readonly canDisable?: boolean;
  /** Inclusive bounds: milliseconds for durations, bytes for sizes. */
  readonly min?: number;
  readonly max?: number;
  /** For enums: the accepted values (matched case-insensitively). */
  readonly values?: readonly string[];
  /** For strings: the accepted shape and how messages describe it. */
  readonly pattern?: RegExp;
  readonly patternDoc?: string;
  /** For URLs: accepted schemes, with their colon. */
  readonly protocols?: readonly string[];
  /** False for options that cannot be set from the config file (the file's own path). */
  readonly inFile?: boolean;
}

/** Node ids end up in Redis keys and file names: no separators, braces or spaces. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const NODE_ID_DOC =
  "1-128 letters, digits, '.', '_' or '-', starting with a letter or digit";

const KiB = 1024;
const MiB = 1024 * KiB;
const DAY_MS = 86_400_000;

/** Every option of `ckc-agent`, in `--help` order. */
export const AGENT_OPTIONS: readonly OptionSpec[] = Object.freeze(
  [
    {
      name: 'config',
      flag: 'config',
      env: 'CKC_CONFIG',
      type: 'path',
      metavar: '<file>',
      unsetDoc: 'no file',
      inFile: false,
      doc:
        'YAML file with options keyed by their camelCase names (listen, cacheDir, defaultTtl, ...). ' +
        'Flags override the environment, which overrides the file. Unknown keys are an error; ' +
        "relative paths in the file are relative to the file's folder.",
    },
    {
      name: 'listen',
      flag: 'listen',
      env: 'CKC_LISTEN',
      type: 'hostport',
      default: '127.0.0.1:7878',
      metavar: '<host:port>',
      canDisable: true,
      doc:
        'TCP address for gRPC. Port 0 picks a free port (the log says which). Loopback by default: ' +
        'the agent has no authentication, so exposing it (0.0.0.0:7878) is a deliberate choice. ' +
        '"off" disables TCP.',
    },
    {
      name: 'socket',
      flag: 'socket',
      env: 'CKC_SOCKET',
      type: 'path',
      default: '<cacheDir>/agent.sock',
      metavar: '<path>',
      canDisable: true,
      doc:
        'Unix domain socket for gRPC (the fast path for clients on the same node). "off" disables ' +
        'it. At least one of --listen and --socket must be on.',
    },
    {
      name: 'cacheDir',
      flag: 'cache-dir',
      env: 'CKC_CACHE_DIR',
      type: 'path',
      default: '~/.cache/checkpoint-cache',
      metavar: '<dir>',
      doc:
        'Cache root: entries/, tmp/, node.id, the default socket and the embedded Redis live here. ' +
        'Created if missing. The default needs no privileges; a DaemonSet sets a hostPath such as ' +
        '/var/lib/checkpoint-cache.',
    },
    {
      name: 'redisUrl',
      flag: 'redis-url',
      env: 'CKC_REDIS_URL',
      type: 'url',
      protocols: ['redis:', 'rediss:', 'unix:', 'redis+unix:', 'redis+cluster:', 'rediss+cluster:'],
      metavar: '<url>',
      unsetDoc: 'a private redis-server child on <cacheDir>/redis/redis.sock',
      doc:
        'Redis holding entry metadata and TTLs: redis://[user:password@]host:port[/db], ' +
        'rediss://... (TLS), unix:///path/to/redis.sock, or a Redis Cluster as ' +
        'redis+cluster://host1:port1,host2:port2 (rediss+cluster:// for TLS). Unset: the agent starts its own ' +
        'redis-server (must be on PATH), for single-node use and the demo.',
    },
    {
      name: 'redisPrefix',
      flag: 'redis-prefix',
      env: 'CKC_REDIS_PREFIX',
      type: 'string',
      default: 'ckc',
      pattern: /^[A-Za-z0-9._:-]{1,64}$/,
      patternDoc: "1-64 letters, digits, '.', ':', '_' or '-'",
      metavar: '<prefix>',
      doc: 'Prefix of every Redis key, so that several deployments can share one Redis.',
    },
    {
      name: 'nodeId',
      flag: 'node-id',
      env: 'CKC_NODE_ID',
      type: 'string',
      pattern: NODE_ID_PATTERN,
      patternDoc: NODE_ID_DOC,
      metavar: '<id>',
      unsetDoc: 'read from <cacheDir>/node.id, created from the host name on first start',
      doc:
        "This node's identity in Redis keys. It must stay the same across restarts for the cache " +
        'to survive them; in Kubernetes set it from spec.nodeName.',
    },
    {
      name: 'defaultTtl',
      flag: 'default-ttl',
      env: 'CKC_DEFAULT_TTL',
      type: 'duration',
      default: '24h',
      min: 1,
      max: 365 * DAY_MS,
      metavar: '<duration>',
      doc:
        'Sliding TTL of entries written without one: an entry nobody reads, stats or touches for ' +
        'this long is deleted.',
    },
    {
      name: 'logFormat',
      flag: 'log-format',
      env: 'CKC_LOG_FORMAT',
      type: 'enum',
      values: ['json', 'text'],
      default: 'json',
      metavar: '<json|text>',
      doc: 'Log records on standard error: one JSON object per line, or text for people.',
    },
    {
      name: 'logLevel',
      flag: 'log-level',
      env: 'CKC_LOG_LEVEL',
      type: 'enum',
      values: ['error', 'warn', 'info', 'debug'],
      default: 'info',
      metavar: '<level>',
      doc: 'Least severe level logged: error, warn, info or debug.',
    },
    {
      name: 'shutdownGrace',
      flag: 'shutdown-grace',
      env: 'CKC_SHUTDOWN_GRACE',
      type: 'duration',
      default: '25s',
      min: 0,
      max: DAY_MS,
      metavar: '<duration>',
      doc:
        'On SIGTERM, how long in-flight streams may take to finish before they are cancelled. ' +
        "Keep it below the pod's terminationGracePeriodSeconds (30s by default).",
    },
    {
      name: 'maxChunkSize',
      flag: 'max-chunk-size',
      env: 'CKC_MAX_CHUNK_SIZE',
      type: 'size',
      default: '1MiB',
      min: 4 * KiB,
      max: 4 * MiB,
      metavar: '<size>',
      doc:
        'Largest chunk a Read sends, whatever the client asks for. Chunks never span more than one ' +
        'checksum block (256KiB), so values above that only matter for future block sizes. ' +
        'Clients must accept messages a little larger than this (grpc-js accepts 4MiB by default).',
    },
    {
      name: 'maxBytes',
      flag: 'max-bytes',
      env: 'CKC_MAX_BYTES',
      type: 'size',
      canDisable: true,
      min: 1,
      metavar: '<size>',
      unsetDoc: 'no limit (only --min-free-percent applies)',
      doc:
        'Most bytes of entries the cache holds. A write that would exceed it evicts least ' +
        'recently used entries first; if it still does not fit it fails with RESOURCE_EXHAUSTED.',
    },
    {
      name: 'maxEntries',
      flag: 'max-entries',
      env: 'CKC_MAX_ENTRIES',
      type: 'int',
      canDisable: true,
      min: 1,
      metavar: '<count>',
      unsetDoc: 'no limit',
      doc: 'Most entries the cache holds; enforced like --max-bytes.',
    },
    {
      name: 'minFreePercent',
      flag: 'min-free-percent',
      env: 'CKC_MIN_FREE_PERCENT',
      type: 'int',
      default: '5',
      min: 0,
      max: 99,
      metavar: '<percent>',
      doc:
        'Share of the cache file system that writes must leave free, evicting least recently ' +
        'used entries if needed. 0 turns the check off.',
    },
    {
      name: 'reconcileInterval',
      flag: 'reconcile-interval',
      env: 'CKC_RECONCILE_INTERVAL',
      type: 'duration',
      default: '1m',
      min: 100,
      max: DAY_MS,
      metavar: '<duration>',
      doc:
        'Time between passes that compare the disk with Redis: entries whose TTL key is gone are ' +
        'deleted (covering missed expiry notifications), entries Redis does not know are ' +
        'registered again, records of vanished files are removed. A pass also runs at start-up ' +
        'and after every Redis reconnect.',
    },
    {
      name: 'metricsListen',
      flag: 'metrics-listen',
      env: 'CKC_METRICS_LISTEN',
      type: 'hostport',
      canDisable: true,
      metavar: '<host:port>',
      unsetDoc: 'no metrics endpoint',
      doc:
        'Serve Prometheus metrics at http://<host:port>/metrics (reads, writes, bytes, latencies, ' +
        'entries held, removals by reason, reconcile passes, Redis state, process metrics).',
    },
  ].map((o) => Object.freeze(o as OptionSpec)),
);
