/**
 * The node agent's options, as data: the single source for flags, environment variables, YAML
 * keys, defaults, bounds, `--help` and (later) the validation of Kubernetes manifests.
 * Owns: names, spellings, defaults and docs. Never: parsing or I/O (load-agent-config.ts does).
 * One file on purpose, although it grows by one entry per option: AgentConfig's type is derived
 * from the one literal below, and the options read best as one list in `--help` order. The shape
 * of an entry is in option-spec.ts.
 */
import type { OptionSpec } from './option-spec';

/** Node ids end up in Redis keys and file names: no separators, braces or spaces. */
/** Kubernetes node names are DNS subdomains of up to 253 characters; every one must fit. */
export const MAX_NODE_ID_LENGTH = 253;
export const NODE_ID_PATTERN = new RegExp(
  `^[A-Za-z0-9][A-Za-z0-9._-]{0,${MAX_NODE_ID_LENGTH - 1}}$`,
);
export const NODE_ID_DOC = `1-${MAX_NODE_ID_LENGTH} letters, digits, '.', '_' or '-', starting with a letter or digit`;

const KiB = 1024;
const MiB = 1024 * KiB;
const DAY_MS = 86_400_000;

/**
 * Every option of `ckc-agent`, in `--help` order, with their literal types kept: AgentConfig's
 * fields are derived from them.
 */
const OPTIONS = [
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
      'without --tls-client-ca the agent authenticates no TCP client, so exposing it ' +
      '(0.0.0.0:7878) is a deliberate choice. "off" disables TCP.',
  },
  {
    name: 'peerAddress',
    flag: 'peer-address',
    env: 'CKC_PEER_ADDRESS',
    type: 'hostport',
    metavar: '<host:port>',
    canDisable: true,
    unsetDoc: 'not advertised',
    doc:
      'Address at which agents on other nodes reach this agent (its --listen port on an address ' +
      'they can route to; on Kubernetes the pod IP from the downward API, "$(POD_IP):7878"). ' +
      'Written to Redis as <prefix>:{<node>}:peer at start and after every reconnect.',
  },
  {
    name: 'peerReads',
    flag: 'peer-reads',
    env: 'CKC_PEER_READS',
    type: 'int',
    default: '4',
    canDisable: true,
    min: 1,
    max: 1024,
    metavar: '<count>',
    unsetDoc: 'off: a Read that misses here is NOT_FOUND',
    doc:
      'A Read of an entry not cached here is streamed from the agent of another node that holds ' +
      'it (the location index in Redis, its --peer-address), checked chunk by chunk, and a copy ' +
      'is stored here. At most this many such streams at once; a miss beyond that stays a miss. ' +
      '"off" turns peer reads off.',
  },
  {
    name: 'peerReadRate',
    flag: 'peer-read-rate',
    env: 'CKC_PEER_READ_RATE',
    type: 'size',
    canDisable: true,
    min: 64 * KiB,
    metavar: '<size>',
    unsetDoc: 'no limit',
    doc: 'Most bytes per second all peer reads of this agent receive together.',
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
      'Largest chunk a Read sends, whatever the client asks for. A chunk never spans more than ' +
      'one disk read (256KiB, or one checksum block if --block-size is larger), so values above ' +
      'that only matter with larger blocks. Clients must accept messages a little larger than ' +
      'this (grpc-js accepts 4MiB by default).',
  },
  {
    name: 'blockSize',
    flag: 'block-size',
    env: 'CKC_BLOCK_SIZE',
    type: 'size',
    default: '64KiB',
    min: 4 * KiB,
    max: 4 * MiB,
    metavar: '<size>',
    doc:
      'Bytes covered by one stored CRC32C in entries written from now on (existing entries keep ' +
      'theirs). A range read reads and verifies every block it touches, so smaller blocks make ' +
      'small reads cheaper; each block costs 4 bytes of agent memory while its entry is cached ' +
      '(64KiB blocks: 64MiB per TiB held).',
  },
  {
    name: 'packMaxBytes',
    flag: 'pack-max-bytes',
    env: 'CKC_PACK_MAX_BYTES',
    type: 'size',
    canDisable: true,
    min: 1,
    max: 1 * MiB,
    metavar: '<size>',
    unsetDoc: 'off: every entry has a data file and a sidecar of its own',
    doc:
      'Entries of at most this size are written packed, the small entries of each group commit ' +
      'into one new file under packs/ instead of two files per entry (docs/operations.md, ' +
      '"Packed small entries"). Clients that read the cache volume ' +
      "directly must send accept_offset with Lease (this release's clients do); an entry's " +
      'bytes stay on disk until every entry of its pack is gone. 64KiB is a good value.',
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
      'Most bytes of entries the cache holds (with --pack-max-bytes: the bytes its packs hold on ' +
      'disk, including those of entries removed before the rest of their pack). A write that would ' +
      'exceed it evicts least recently used entries first; if it still does not fit it fails with ' +
      'RESOURCE_EXHAUSTED.',
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
    name: 'reconcileSweep',
    flag: 'reconcile-sweep',
    env: 'CKC_RECONCILE_SWEEP',
    type: 'duration',
    default: '6h',
    min: 1000,
    max: 7 * DAY_MS,
    metavar: '<duration>',
    doc:
      'Passes between full ones check only entries whose TTL may have run out (known from the ' +
      'touches the agent sent and what Redis last said), plus a slice of the rest, so that every ' +
      'entry and every Redis record is checked at least once per this period (catching keys ' +
      'deleted outside the agent). Redis cost: about one command per entry per period.',
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
  {
    name: 'tlsCert',
    flag: 'tls-cert',
    env: 'CKC_TLS_CERT',
    type: 'path',
    metavar: '<file>',
    unsetDoc: 'the TCP listener is plaintext',
    doc:
      'PEM certificate (leaf first, then intermediates) the TCP listener presents; with ' +
      '--tls-key it serves TLS only. Reloaded on SIGHUP and when the file changes, without ' +
      'closing the listener. The Unix socket stays plaintext: its file mode guards it.',
  },
  {
    name: 'tlsKey',
    flag: 'tls-key',
    env: 'CKC_TLS_KEY',
    type: 'path',
    metavar: '<file>',
    unsetDoc: 'none',
    doc: 'PEM private key (unencrypted) of --tls-cert. Reloaded with it.',
  },
  {
    name: 'tlsClientCa',
    flag: 'tls-client-ca',
    env: 'CKC_TLS_CLIENT_CA',
    type: 'path',
    metavar: '<file>',
    unsetDoc: 'TCP clients are not authenticated',
    doc:
      'PEM CA certificates for mutual TLS: every TCP client must present a certificate signed ' +
      'by one of them, or its TLS handshake fails. Needs --tls-cert. Reloaded like it.',
  },
  {
    name: 'socketMode',
    flag: 'socket-mode',
    env: 'CKC_SOCKET_MODE',
    type: 'mode',
    default: '0660',
    metavar: '<octal>',
    doc:
      'File mode of the Unix socket. Connecting needs write permission: 0660 admits the ' +
      "socket's group (TaskManager pods running with that group), 0600 only the agent's user. " +
      'The socket is created owner-only and changed right after, so nobody else can connect ' +
      'before the mode applies.',
  },
  {
    name: 'socketGroup',
    flag: 'socket-group',
    env: 'CKC_SOCKET_GROUP',
    type: 'string',
    pattern: /^(?:\d{1,10}|[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?)$/,
    patternDoc: 'a group name or a numeric gid',
    metavar: '<group>',
    unsetDoc: "the agent's own group",
    doc:
      'Group of the Unix socket, by name or gid. The agent must be a member of it (or have ' +
      'CAP_CHOWN); a name is looked up with getent at start.',
  },
  {
    name: 'writeAccess',
    flag: 'write-access',
    env: 'CKC_WRITE_ACCESS',
    type: 'enum',
    values: ['socket', 'mtls', 'any'],
    default: 'socket',
    metavar: '<socket|mtls|any>',
    doc:
      'Who may change the cache (Write, Delete, Release, and Touch with checkpoint_id or ' +
      'ttl_ms): socket = clients of the Unix socket only, whose file mode and group decide who; ' +
      'mtls = those and TCP clients with a certificate from --tls-client-ca; any = every ' +
      'client. Others get PERMISSION_DENIED. Reads (Read, Stat, List, plain Touch) are open to ' +
      'every client that can connect.',
  },
  {
    name: 'ingestDir',
    flag: 'ingest-dir',
    env: 'CKC_INGEST_DIR',
    type: 'path',
    metavar: '<dir>',
    unsetDoc: 'off: Ingest is FAILED_PRECONDITION',
    doc:
      'Directory shared with the TaskManagers of this node from which Ingest copies a file by ' +
      'name into the cache (a same-node write without streaming the bytes over gRPC). Must exist ' +
      'at start. Only the Unix socket serves Ingest; only regular files with one link are copied; ' +
      'the agent never changes or deletes them.',
  },
  {
    name: 'redisTlsCa',
    flag: 'redis-tls-ca',
    env: 'CKC_REDIS_TLS_CA',
    type: 'path',
    metavar: '<file>',
    unsetDoc: "the system's trusted CAs",
    doc: "PEM CA certificates that sign the Redis server's certificate, for rediss:// URLs.",
  },
  {
    name: 'redisTlsCert',
    flag: 'redis-tls-cert',
    env: 'CKC_REDIS_TLS_CERT',
    type: 'path',
    metavar: '<file>',
    unsetDoc: 'no client certificate',
    doc:
      'PEM client certificate the agent presents to Redis over rediss:// (redis-server asks ' +
      'for one unless tls-auth-clients is no). Needs --redis-tls-key.',
  },
  {
    name: 'redisTlsKey',
    flag: 'redis-tls-key',
    env: 'CKC_REDIS_TLS_KEY',
    type: 'path',
    metavar: '<file>',
    unsetDoc: 'none',
    doc: 'PEM private key (unencrypted) of --redis-tls-cert.',
  },
] as const satisfies readonly OptionSpec[];

/** Every option of `ckc-agent`, in `--help` order. */
export const AGENT_OPTIONS: readonly OptionSpec[] = Object.freeze(
  OPTIONS.map((o) => Object.freeze(o as OptionSpec)),
);

/** The option named `name` (its camelCase name); a programming error when there is none. */
export function optionNamed(name: string): OptionSpec {
  const option = AGENT_OPTIONS.find((o) => o.name === name);
  if (!option) throw new Error(`no option named ${name}`);
  return option;
}

type AgentOption = (typeof OPTIONS)[number];

/** The value type an option's `type` parses to. */
type ParsedValue<O extends AgentOption> = O['type'] extends 'duration' | 'size' | 'int' | 'mode'
  ? number
  : O['type'] extends 'bool'
    ? boolean
    : O extends { readonly values: readonly (infer V)[] }
      ? V
      : string;

/** Options without a default, and those `off` can unset, may be undefined. */
type OptionValue<O extends AgentOption> = O extends { readonly default: string }
  ? O extends { readonly canDisable: true }
    ? ParsedValue<O> | undefined
    : ParsedValue<O>
  : ParsedValue<O> | undefined;

/**
 * The validated configuration of one agent: one field per option, named by the option's camelCase
 * name, typed by what its `type` parses to (durations in milliseconds, sizes in bytes). Derived
 * from the options above, so a new option is a new field with nothing else to edit; each field's
 * meaning is its option's `doc` (and `ckc-agent --help`).
 */
export type AgentConfig = { readonly [O in AgentOption as O['name']]: OptionValue<O> };
