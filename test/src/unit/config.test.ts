/**
 * @checkpoint-cache/config: precedence, value syntax, error wording, the YAML file and --help.
 * Only the YAML tests touch the disk (a temp file each).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import {
  AGENT_OPTIONS,
  ConfigError,
  formatDuration,
  formatHelp,
  formatSize,
  helpRequested,
  loadAgentConfig,
  parseDuration,
  parseSize,
  type AgentConfig,
  type OptionSpec,
} from '@checkpoint-cache/config';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';

const HOME = '/home/flink';
const CWD = '/work';

function load(argv: string[] = [], env: Record<string, string> = {}): AgentConfig {
  return loadAgentConfig({ argv, env: { HOME, ...env }, cwd: CWD });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

function option(name: string): OptionSpec {
  const o = AGENT_OPTIONS.find((x) => x.name === name);
  if (!o) throw new Error(`no option ${name}`);
  return o;
}

describe('config', function () {
  let dir: string;
  before(function () {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ckc-config-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });
  let fileSeq = 0;
  function yamlFile(text: string): string {
    const file = path.join(dir, `agent-${++fileSeq}.yaml`);
    writeFileSync(file, text);
    return file;
  }

  describe('defaults', function () {
    it('gives every option its documented default', function () {
      const c = load();
      expect(c).to.deep.equal({
        config: undefined,
        listen: '127.0.0.1:7878',
        peerAddress: undefined,
        peerReads: 4,
        peerReadRate: undefined,
        socket: `${HOME}/.cache/checkpoint-cache/agent.sock`,
        cacheDir: `${HOME}/.cache/checkpoint-cache`,
        redisUrl: undefined,
        redisPrefix: 'ckc',
        nodeId: undefined,
        defaultTtl: 24 * 3600 * 1000,
        logFormat: 'json',
        logLevel: 'info',
        shutdownGrace: 25_000,
        maxChunkSize: 1024 * 1024,
        blockSize: 64 * 1024,
        maxBytes: undefined,
        maxEntries: undefined,
        packMaxBytes: undefined,
        minFreePercent: 5,
        reconcileInterval: 60_000,
        reconcileSweep: 21_600_000,
        metricsListen: undefined,
        tlsCert: undefined,
        tlsKey: undefined,
        tlsClientCa: undefined,
        socketMode: 0o660,
        socketGroup: undefined,
        writeAccess: 'socket',
        ingestDir: undefined,
        redisTlsCa: undefined,
        redisTlsCert: undefined,
        redisTlsKey: undefined,
      });
    });

    it('has exactly one field per option in the schema', function () {
      expect(Object.keys(load())).to.deep.equal(AGENT_OPTIONS.map((o) => o.name));
    });

    it('puts the default socket in the configured cache dir', function () {
      expect(load(['--cache-dir', '/var/lib/ckc']).socket).to.equal('/var/lib/ckc/agent.sock');
    });

    it('returns a frozen object', function () {
      const c = load();
      expect(Object.isFrozen(c)).to.equal(true);
      expect(() => {
        (c as { listen: string | undefined }).listen = '0.0.0.0:1';
      }).to.throw(TypeError);
    });

    it('keeps the schema itself immutable', function () {
      expect(Object.isFrozen(AGENT_OPTIONS)).to.equal(true);
      for (const o of AGENT_OPTIONS) expect(Object.isFrozen(o), o.name).to.equal(true);
    });
  });

  describe('schema', function () {
    it('spells names camelCase, flags kebab-case and env vars CKC_UPPER_CASE, all unique', function () {
      for (const o of AGENT_OPTIONS) {
        expect(o.name).to.match(/^[a-z][a-zA-Z]*$/);
        expect(o.flag).to.equal(o.name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
        expect(o.env).to.equal(`CKC_${o.name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`);
      }
      for (const key of ['name', 'flag', 'env'] as const) {
        expect(new Set(AGENT_OPTIONS.map((o) => o[key])).size).to.equal(AGENT_OPTIONS.length);
      }
    });

    it('has the options the issue requires', function () {
      const envs = AGENT_OPTIONS.map((o) => o.env);
      for (const env of [
        'CKC_LISTEN',
        'CKC_SOCKET',
        'CKC_CACHE_DIR',
        'CKC_REDIS_URL',
        'CKC_NODE_ID',
        'CKC_DEFAULT_TTL',
        'CKC_LOG_FORMAT',
      ]) {
        expect(envs).to.include(env);
      }
    });

    it('has defaults that pass their own validation', function () {
      // load() parses every default; a default out of bounds would throw here.
      expect(() => load()).not.to.throw();
      for (const o of AGENT_OPTIONS) expect(o.doc.length, o.name).to.be.greaterThan(20);
    });
  });

  describe('precedence: flags > environment > file > defaults', function () {
    it('takes a flag over the environment and the file', function () {
      const file = yamlFile('defaultTtl: 1h\n');
      const c = load(['--default-ttl', '3s', '--config', file], { CKC_DEFAULT_TTL: '2m' });
      expect(c.defaultTtl).to.equal(3000);
    });

    it('takes the environment over the file', function () {
      const file = yamlFile('defaultTtl: 1h\nlogLevel: debug\n');
      const c = load([], { CKC_CONFIG: file, CKC_DEFAULT_TTL: '2m' });
      expect(c.defaultTtl).to.equal(120_000);
      expect(c.logLevel).to.equal('debug');
      expect(c.config).to.equal(file);
    });

    it('takes the file over defaults', function () {
      const file = yamlFile('redisPrefix: team-a\nmaxChunkSize: 256KiB\n');
      const c = load(['--config', file]);
      expect(c.redisPrefix).to.equal('team-a');
      expect(c.maxChunkSize).to.equal(256 * 1024);
      expect(c.defaultTtl).to.equal(86_400_000);
    });

    it('takes --config over CKC_CONFIG', function () {
      const a = yamlFile('redisPrefix: from-flag\n');
      const b = yamlFile('redisPrefix: from-env\n');
      expect(load(['--config', a], { CKC_CONFIG: b }).redisPrefix).to.equal('from-flag');
    });

    it('accepts --flag=value and the last of repeated flags', function () {
      expect(load(['--listen=0.0.0.0:9000']).listen).to.equal('0.0.0.0:9000');
      expect(load(['--listen', '127.0.0.1:1', '--listen', '127.0.0.1:2']).listen).to.equal(
        '127.0.0.1:2',
      );
    });
  });

  describe('paths', function () {
    it('resolves flag and environment paths against cwd, file paths against the file', function () {
      const file = yamlFile('cacheDir: data/cache\n');
      expect(load(['--cache-dir', 'rel']).cacheDir).to.equal('/work/rel');
      expect(load([], { CKC_CACHE_DIR: 'rel' }).cacheDir).to.equal('/work/rel');
      expect(load(['--config', file]).cacheDir).to.equal(path.join(dir, 'data/cache'));
    });

    it('expands a leading ~ to HOME', function () {
      expect(load(['--cache-dir', '~/ckc']).cacheDir).to.equal(`${HOME}/ckc`);
      expect(load([], { CKC_SOCKET: '~/a.sock' }).socket).to.equal(`${HOME}/a.sock`);
    });
  });

  describe('node id', function () {
    it('takes any Kubernetes node name, up to 253 characters', function () {
      const longest = `ip-10-0-0-1.${'a'.repeat(253 - 'ip-10-0-0-1.'.length)}`;
      expect(longest).to.have.length(253);
      expect(load(['--node-id', longest]).nodeId).to.equal(longest);
      const err = configError(() => load(['--node-id', `${longest}b`]));
      expect(err.message)
        .to.match(/--node-id/)
        .and.to.match(/1-253/);
    });
  });

  describe('listeners', function () {
    it('turns TCP or the socket off with "off" or an empty value', function () {
      expect(load(['--listen', 'off']).listen).to.equal(undefined);
      expect(load([], { CKC_LISTEN: '' }).listen).to.equal(undefined);
      expect(load(['--socket=off']).socket).to.equal(undefined);
      expect(load([], { CKC_SOCKET: 'OFF' }).socket).to.equal(undefined);
      expect(load(['--config', yamlFile('listen: null\n')]).listen).to.equal(undefined);
    });

    it('needs at least one listener, and names both options', function () {
      const e = configError(() => load(['--listen', 'off'], { CKC_SOCKET: 'off' }));
      expect(e.message).to.include('--listen').and.to.include('CKC_SOCKET');
    });

    it('accepts port 0, host names and bracketed IPv6', function () {
      expect(load(['--listen', '127.0.0.1:0']).listen).to.equal('127.0.0.1:0');
      expect(load(['--listen', 'localhost:7878']).listen).to.equal('localhost:7878');
      expect(load(['--listen', '[::]:7878']).listen).to.equal('[::]:7878');
    });

    for (const bad of ['7878', '127.0.0.1', ':7878', '127.0.0.1:65536', '::1:7878', 'a b:1']) {
      it(`rejects --listen ${JSON.stringify(bad)}`, function () {
        const e = configError(() => load(['--listen', bad]));
        expect(e.message).to.match(/^--listen=".*": expected host:port/);
      });
    }

    it('rejects a socket path longer than a Unix socket allows, naming the option', function () {
      const long = `/tmp/${'s'.repeat(120)}.sock`;
      expect(configError(() => load(['--socket', long])).message).to.match(/^--socket=.*longer/);
      const longDir = `/tmp/${'d'.repeat(100)}`;
      expect(configError(() => load([], { CKC_CACHE_DIR: longDir })).message).to.match(
        /^CKC_CACHE_DIR=.*longer/,
      );
    });
  });

  describe('durations', function () {
    const good: [string, number][] = [
      ['0', 0],
      ['500ms', 500],
      ['3s', 3000],
      ['1.5s', 1500],
      ['30m', 1_800_000],
      ['2h', 7_200_000],
      ['1d', 86_400_000],
      ['1h30m', 5_400_000],
      [' 15m ', 900_000],
    ];
    for (const [text, ms] of good) {
      it(`parses ${JSON.stringify(text)} as ${ms} ms`, function () {
        expect(parseDuration(text)).to.equal(ms);
      });
    }
    for (const text of ['', '3 parsecs', '10', '-1s', 's', '1x', '1h 30m', '1H', 'ms']) {
      it(`rejects ${JSON.stringify(text)}`, function () {
        const e = configError(() => parseDuration(text));
        expect(e.message).to.include(JSON.stringify(text)).and.to.include('expected a duration');
      });
    }
    it('formats durations back to the shortest exact spelling', function () {
      for (const ms of [0, 500, 3000, 90_000, 7_200_000, 86_400_000, 5_400_000, 1500]) {
        expect(parseDuration(formatDuration(ms))).to.equal(ms);
      }
      expect(formatDuration(5_400_000)).to.equal('1h30m');
    });
  });

  describe('sizes', function () {
    const good: [string, number][] = [
      ['4096', 4096],
      ['4096B', 4096],
      ['256KiB', 256 * 1024],
      ['256k', 256 * 1024],
      ['1MiB', 1024 * 1024],
      ['1Mi', 1024 * 1024],
      ['1.5MiB', 1.5 * 1024 * 1024],
      ['1MB', 1_000_000],
      ['2GiB', 2 * 1024 ** 3],
      ['64 KiB', 64 * 1024],
    ];
    for (const [text, bytes] of good) {
      it(`parses ${JSON.stringify(text)} as ${bytes} bytes`, function () {
        expect(parseSize(text)).to.equal(bytes);
      });
    }
    for (const text of ['', 'huge', '-1', '1XB', '0.5', 'KiB', '1e6']) {
      it(`rejects ${JSON.stringify(text)}`, function () {
        const e = configError(() => parseSize(text));
        expect(e.message).to.include(JSON.stringify(text)).and.to.include('expected a size');
      });
    }
    it('formats sizes exactly', function () {
      expect(formatSize(1024 * 1024)).to.equal('1MiB');
      expect(formatSize(4096)).to.equal('4KiB');
      expect(formatSize(1000)).to.equal('1000B');
    });
    it('bounds --max-chunk-size to 4KiB..4MiB', function () {
      expect(load(['--max-chunk-size', '4KiB']).maxChunkSize).to.equal(4096);
      expect(load(['--max-chunk-size', '4MiB']).maxChunkSize).to.equal(4 * 1024 * 1024);
      for (const bad of ['1KiB', '8MiB']) {
        expect(configError(() => load([], { CKC_MAX_CHUNK_SIZE: bad })).message).to.equal(
          `CKC_MAX_CHUNK_SIZE="${bad}": must be between 4KiB and 4MiB`,
        );
      }
    });
  });

  describe('errors name the option as the user wrote it, and the bad value', function () {
    it('words the issue example exactly', function () {
      const e = configError(() => load([], { CKC_DEFAULT_TTL: '3 parsecs' }));
      expect(e.message).to.equal(
        'CKC_DEFAULT_TTL="3 parsecs": expected a duration like 500ms, 30s, 15m, 2h or 1d',
      );
      expect(e.option).to.equal('CKC_DEFAULT_TTL');
      expect(e).to.be.instanceOf(CacheError);
      expect(e.code).to.equal(ErrorCode.InvalidArgument);
      expect(e.name).to.equal('ConfigError');
    });

    /** A value each option rejects. */
    const BAD: Record<string, string> = {
      listen: 'nowhere',
      peerAddress: 'pod-ip',
      peerReads: '0',
      peerReadRate: '1KiB',
      socket: `/${'x'.repeat(200)}`,
      cacheDir: `/${'x'.repeat(200)}`,
      redisUrl: 'http://redis:6379',
      redisPrefix: 'has space',
      nodeId: 'node{1}',
      defaultTtl: 'forever',
      logFormat: 'xml',
      logLevel: 'loud',
      shutdownGrace: '2 minutes',
      maxChunkSize: 'big',
      blockSize: '1KiB',
      maxBytes: '0',
      maxEntries: 'many',
      packMaxBytes: '2MiB',
      minFreePercent: '100',
      reconcileInterval: '1ms',
      reconcileSweep: '1ms',
      metricsListen: 'port 9090',
      tlsCert: 'bad\0path',
      tlsKey: 'bad\0path',
      tlsClientCa: 'bad\0path',
      socketMode: '0999',
      socketGroup: 'wheel group',
      writeAccess: 'everyone',
      ingestDir: 'bad\0path',
      redisTlsCa: 'bad\0path',
      redisTlsCert: 'bad\0path',
      redisTlsKey: 'bad\0path',
    };

    for (const o of AGENT_OPTIONS.filter((x) => x.name !== 'config')) {
      it(`names ${o.env}, --${o.flag} and ${o.name} in the file`, function () {
        const bad = BAD[o.name];
        expect(bad, `no bad value for ${o.name}`).to.be.a('string');
        const fromEnv = configError(() => load([], { [o.env]: bad as string }));
        expect(fromEnv.message).to.match(new RegExp(`^${o.env}=`));
        expect(fromEnv.message).to.include(JSON.stringify(bad));
        expect(fromEnv.option).to.equal(o.env);

        const fromFlag = configError(() => load([`--${o.flag}`, bad as string]));
        expect(fromFlag.message).to.match(new RegExp(`^--${o.flag}=`));
        expect(fromFlag.option).to.equal(`--${o.flag}`);

        const file = yamlFile(`${o.name}: ${JSON.stringify(bad)}\n`);
        const fromFile = configError(() => load(['--config', file]));
        expect(fromFile.message).to.match(new RegExp(`^${file}: ${o.name}=`));
        expect(fromFile.message.split('\n')).to.have.length(1);
      });
    }

    it('names the config file option when the file cannot be read', function () {
      const missing = path.join(dir, 'missing.yaml');
      expect(configError(() => load(['--config', missing])).message).to.equal(
        `--config="${missing}": cannot read the file (ENOENT)`,
      );
      expect(configError(() => load([], { CKC_CONFIG: missing })).message).to.match(/^CKC_CONFIG=/);
    });

    it('rejects empty values of options that have a default', function () {
      expect(configError(() => load([], { CKC_DEFAULT_TTL: '' })).message).to.equal(
        'CKC_DEFAULT_TTL="": needs a value <duration> (default 24h)',
      );
    });

    it('treats empty values of options without a default as unset', function () {
      expect(load([], { CKC_NODE_ID: '', CKC_REDIS_URL: '' })).to.include({
        nodeId: undefined,
        redisUrl: undefined,
      });
    });

    it('never shows a Redis password', function () {
      const e = configError(() => load([], { CKC_REDIS_URL: 'http://user:s3cret@redis:6379' }));
      expect(e.message).not.to.include('s3cret');
      expect(e.message).to.include('user:***@');
    });

    it('accepts the Redis URL forms the connection factory knows', function () {
      for (const url of [
        'redis://redis:6379',
        'redis://:pw@10.0.0.1:6379/2',
        'rediss://redis.example.com:6380',
        'unix:///var/run/redis.sock',
        'redis+unix:///var/run/redis.sock',
      ]) {
        expect(load([], { CKC_REDIS_URL: url }).redisUrl).to.equal(url);
      }
      expect(configError(() => load([], { CKC_REDIS_URL: 'unix://' })).message).to.match(
        /^CKC_REDIS_URL=/,
      );
    });

    it('matches enums case-insensitively and returns the canonical spelling', function () {
      expect(load([], { CKC_LOG_FORMAT: 'TEXT' }).logFormat).to.equal('text');
    });

    it('accepts Redis Cluster URLs with several seeds and checks each seed', function () {
      const url = 'redis+cluster://user:pw@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002';
      expect(load([], { CKC_REDIS_URL: url }).redisUrl).to.equal(url);
      expect(load(['--redis-url', 'rediss+cluster://redis-0:6379/']).redisUrl).to.equal(
        'rediss+cluster://redis-0:6379/',
      );
      const e = configError(() => load([], { CKC_REDIS_URL: 'redis+cluster://a:1,:2' }));
      expect(e.message).to.match(/cluster seed ":2"/);
    });

    it('reports an unknown flag with a suggestion', function () {
      const e = configError(() => load(['--default-tll', '3s']));
      expect(e.message).to.equal(
        'unknown option --default-tll (did you mean --default-ttl?); see --help',
      );
      expect(e.option).to.equal('--default-tll');
    });

    it('reports a flag without its value', function () {
      const e = configError(() => load(['--listen']));
      expect(e.message).to.match(/^--listen needs a value <host:port>/);
      expect(configError(() => load(['--listen', '--socket', 'x'])).message).to.match(/^--listen/);
    });

    it('reports a stray positional argument', function () {
      expect(configError(() => load(['serve'])).message).to.match(/^unexpected argument "serve"/);
    });
  });

  describe('security options', function () {
    const tls = ['--tls-cert', '/tls/tls.crt', '--tls-key', '/tls/tls.key'];

    it('parses socket modes in octal, as chmod does', function () {
      expect(load(['--socket-mode', '600']).socketMode).to.equal(0o600);
      expect(load([], { CKC_SOCKET_MODE: '0o640' }).socketMode).to.equal(0o640);
      expect(configError(() => load(['--socket-mode', '4755'])).message).to.equal(
        '--socket-mode="4755": expected an octal file mode like 0660 or 0600',
      );
    });

    it('reads a YAML socket mode as written, whether YAML takes it for decimal or octal', function () {
      expect(load(['--config', yamlFile('socketMode: 0600\n')]).socketMode).to.equal(0o600);
      expect(load(['--config', yamlFile('socketMode: 0o640\n')]).socketMode).to.equal(0o640);
      expect(load(['--config', yamlFile('socketMode: "0660"\n')]).socketMode).to.equal(0o660);
    });

    it('accepts socket groups by name or gid', function () {
      expect(load(['--socket-group', 'flink']).socketGroup).to.equal('flink');
      expect(load([], { CKC_SOCKET_GROUP: '9999' }).socketGroup).to.equal('9999');
    });

    it('wants the TLS certificate and key together, naming the missing one', function () {
      expect(configError(() => load(['--tls-cert', '/a.crt'])).message).to.equal(
        '--tls-cert is set but CKC_TLS_KEY (--tls-key) is not: the certificate and its key go together',
      );
      expect(configError(() => load([], { CKC_TLS_KEY: '/a.key' })).message).to.match(
        /^CKC_TLS_KEY is set but CKC_TLS_CERT/,
      );
      expect(load(tls)).to.include({ tlsCert: '/tls/tls.crt', tlsKey: '/tls/tls.key' });
    });

    it('wants TLS for a client CA, and a TCP listener for TLS', function () {
      expect(configError(() => load(['--tls-client-ca', '/ca.crt'])).message).to.match(
        /^--tls-client-ca needs CKC_TLS_CERT and CKC_TLS_KEY/,
      );
      expect(configError(() => load([...tls, '--listen', 'off'])).message).to.match(
        /^--tls-cert is set but --listen=off/,
      );
    });

    it('defaults write access to the socket, and wants a client CA for mtls', function () {
      expect(load().writeAccess).to.equal('socket');
      expect(load(['--write-access', 'ANY']).writeAccess).to.equal('any');
      expect(configError(() => load(['--write-access', 'mtls', ...tls])).message).to.match(
        /^--write-access=mtls needs CKC_TLS_CLIENT_CA/,
      );
      const mtls = load(['--write-access', 'mtls', ...tls, '--tls-client-ca', '/ca.crt']);
      expect(mtls.writeAccess).to.equal('mtls');
    });

    it('takes Redis TLS files only with a rediss:// URL, and the client key with its certificate', function () {
      expect(
        configError(() => load(['--redis-tls-ca', '/ca.crt', '--redis-url', 'redis://r:6379']))
          .message,
      ).to.equal(
        '--redis-tls-ca is set but CKC_REDIS_URL is not a rediss:// URL: Redis TLS files apply ' +
          'to rediss:// and rediss+cluster:// only',
      );
      expect(configError(() => load([], { CKC_REDIS_TLS_CA: '/ca.crt' })).message).to.include(
        'CKC_REDIS_URL is unset',
      );
      expect(
        configError(() => load(['--redis-url', 'rediss://r:6379', '--redis-tls-cert', '/c.crt']))
          .message,
      ).to.match(/^--redis-tls-cert is set but CKC_REDIS_TLS_KEY/);
      const c = load(['--redis-url', 'rediss+cluster://r:6379', '--redis-tls-ca', '/ca.crt']);
      expect(c.redisTlsCa).to.equal('/ca.crt');
    });
  });

  describe('YAML file', function () {
    it('reads every option by its camelCase name', function () {
      const file = yamlFile(
        [
          'listen: 0.0.0.0:7000',
          'peerAddress: 10.1.2.3:7000',
          'peerReads: off',
          'peerReadRate: 100MiB',
          'socket: off',
          'cacheDir: /var/lib/checkpoint-cache',
          'redisUrl: rediss://redis:6379',
          'redisPrefix: prod',
          'nodeId: worker-1',
          'defaultTtl: 2h',
          'logFormat: text',
          'logLevel: warn',
          'shutdownGrace: 10s',
          'maxChunkSize: 512KiB',
          'blockSize: 32KiB',
          'maxBytes: 100GiB',
          'maxEntries: 100000',
          'packMaxBytes: 64KiB',
          'minFreePercent: 10',
          'reconcileInterval: 30s',
          'reconcileSweep: 2h',
          'metricsListen: 0.0.0.0:9464',
          'tlsCert: tls/tls.crt',
          'tlsKey: /etc/ckc/tls/tls.key',
          'tlsClientCa: /etc/ckc/tls/ca.crt',
          'socketMode: 0640',
          'socketGroup: flink',
          'writeAccess: mtls',
          'ingestDir: spool',
          'redisTlsCa: /etc/ckc/redis/ca.crt',
          'redisTlsCert: /etc/ckc/redis/tls.crt',
          'redisTlsKey: /etc/ckc/redis/tls.key',
          '',
        ].join('\n'),
      );
      expect(load(['--config', file])).to.deep.equal({
        config: file,
        listen: '0.0.0.0:7000',
        peerAddress: '10.1.2.3:7000',
        peerReads: undefined,
        peerReadRate: 100 * 1024 * 1024,
        socket: undefined,
        cacheDir: '/var/lib/checkpoint-cache',
        redisUrl: 'rediss://redis:6379',
        redisPrefix: 'prod',
        nodeId: 'worker-1',
        defaultTtl: 7_200_000,
        logFormat: 'text',
        logLevel: 'warn',
        shutdownGrace: 10_000,
        maxChunkSize: 512 * 1024,
        blockSize: 32 * 1024,
        maxBytes: 100 * 1024 ** 3,
        maxEntries: 100_000,
        packMaxBytes: 64 * 1024,
        minFreePercent: 10,
        reconcileInterval: 30_000,
        reconcileSweep: 7_200_000,
        metricsListen: '0.0.0.0:9464',
        tlsCert: path.join(dir, 'tls/tls.crt'),
        tlsKey: '/etc/ckc/tls/tls.key',
        tlsClientCa: '/etc/ckc/tls/ca.crt',
        socketMode: 0o640,
        socketGroup: 'flink',
        writeAccess: 'mtls',
        ingestDir: path.join(dir, 'spool'),
        redisTlsCa: '/etc/ckc/redis/ca.crt',
        redisTlsCert: '/etc/ckc/redis/tls.crt',
        redisTlsKey: '/etc/ckc/redis/tls.key',
      });
    });

    it('rejects an unknown key, suggesting the closest one', function () {
      const file = yamlFile('defaultTTL: 1h\n');
      const e = configError(() => load(['--config', file]));
      expect(e.message).to.match(
        new RegExp(
          `^${file}: unknown key "defaultTTL" \\(did you mean "defaultTtl"\\?\\); valid keys: listen, `,
        ),
      );
      expect(e.option).to.equal(`${file}: defaultTTL`);
    });

    it('rejects the config key inside the file', function () {
      const e = configError(() => load(['--config', yamlFile('config: other.yaml\n')]));
      expect(e.message).to.include('config cannot be set in the config file');
    });

    it('accepts plain numbers for sizes but wants units on durations', function () {
      expect(load(['--config', yamlFile('maxChunkSize: 65536\n')]).maxChunkSize).to.equal(65536);
      const e = configError(() => load(['--config', yamlFile('defaultTtl: 3600\n')]));
      expect(e.message).to.include('defaultTtl="3600": expected a duration');
    });

    it('rejects lists and mappings as values', function () {
      const e = configError(() => load(['--config', yamlFile('listen: [a, b]\n')]));
      expect(e.message).to.include('listen: expected a single value, not a list');
    });

    it('rejects a file that is not a mapping, or not YAML', function () {
      expect(configError(() => load(['--config', yamlFile('- a\n- b\n')])).message).to.include(
        'expected a mapping of option names to values',
      );
      expect(configError(() => load(['--config', yamlFile('a: [\n')])).message).to.include(
        'not valid YAML',
      );
    });

    it('treats an empty file as no settings', function () {
      expect(load(['--config', yamlFile('')]).redisPrefix).to.equal('ckc');
    });
  });

  describe('--help', function () {
    it('lists every option with its flag, environment variable, default and doc', function () {
      const help = formatHelp();
      for (const o of AGENT_OPTIONS) {
        expect(help).to.include(`--${o.flag} ${o.metavar}`);
        expect(help).to.include(`env ${o.env};`);
        if (o.default !== undefined) expect(help).to.include(`default ${o.default}`);
        expect(help.replace(/\s+/g, ' ')).to.include(o.doc.replace(/\s+/g, ' '));
      }
      expect(help).to.include('--help');
    });

    it('keeps lines within 100 columns', function () {
      for (const line of formatHelp().split('\n')) expect(line.length, line).to.be.at.most(100);
    });

    it('is detected before any --', function () {
      expect(helpRequested(['--listen', 'x', '--help'])).to.equal(true);
      expect(helpRequested(['-h'])).to.equal(true);
      expect(helpRequested(['--', '--help'])).to.equal(false);
      expect(helpRequested([])).to.equal(false);
    });
  });

  it('uses the option names of the schema for cacheDir-relative defaults', function () {
    expect(option('socket').default).to.equal('<cacheDir>/agent.sock');
  });
});
