/**
 * Server reflection as operators' tools see it: grpcurl (pinned, found or go-installed like ghz)
 * against a real agent lists, describes and calls both services with the .proto's own names, and
 * raw v1 and v1alpha reflection requests get protoc's files byte for byte under their .proto
 * paths, the file of every kind of symbol, and NOT_FOUND for names that do not exist.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFileSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { GO_TOOL_INSTALL_TIMEOUT_MS } from '@checkpoint-cache/bench';
import { crc32c } from '@checkpoint-cache/checksum';
import {
  AGENT_DESCRIPTOR_SET,
  SERVICE_NAME,
  agentFileDescriptorProtos,
  checkpointCacheServiceDefinition,
} from '@checkpoint-cache/proto';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { Grpcurl, type GrpcurlResult } from '../helpers/grpcurl';
import { rawClient, readEntry, writeEntry } from '../helpers/raw-client';
import { reflect, type ReflectionVersion } from '../helpers/reflection-client';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const HEALTH = 'grpc.health.v1.Health';
const CACHE_FILE = 'checkpointcache/v1/checkpoint_cache.proto';
const HEALTH_FILE = 'grpc/health/v1/health.proto';
const KEY = 'hdfs://nn/flink/ckpt/job-refl/chk-7/state';

/** FileDescriptorProto.name (field 1), which protoc writes first. */
function fileName(file: Buffer): string {
  expect(file[0], 'a FileDescriptorProto starting with its name').to.equal(0x0a);
  return file.subarray(2, 2 + (file[1] as number)).toString('utf8');
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

/** `/pkg.Service/Method` paths of a service definition as reflection names them. */
function methodNames(definition: Record<string, { path: string }>): string[] {
  return Object.values(definition)
    .map((m) => m.path.slice(1).replace('/', '.'))
    .sort();
}

describe('reflection through grpcurl and raw requests (a real agent)', function () {
  let grpcurl: Grpcurl;
  let redis: RedisServerHandle;
  let agent: TestAgent;
  let scratch: string;
  const data = randomBytes(100 * 1024);

  /** grpcurl `flags` `<agent>` `command...`, plaintext over the agent's TCP listener. */
  function call(flags: readonly string[], ...command: string[]): Promise<GrpcurlResult> {
    return grpcurl.run(['-plaintext', ...flags, agent.address, ...command]);
  }

  /** Like `call`, but the command must succeed; returns its stdout. */
  async function ok(flags: readonly string[], ...command: string[]): Promise<string> {
    const r = await call(flags, ...command);
    expect(r.exitCode, `grpcurl ${command.join(' ')}: ${r.stderr}`).to.equal(0);
    return r.stdout;
  }

  before(async function () {
    this.timeout(GO_TOOL_INSTALL_TIMEOUT_MS + 30_000);
    grpcurl = await Grpcurl.ensure(REPO_ROOT, (line) => process.stdout.write(`      ${line}\n`));
    scratch = await makeTempDir('ckc-grpcurl');
    redis = await startRedisServer();
    agent = await startTestAgent({ redisUrl: redis.url });
    const client = rawClient(agent.address);
    try {
      await writeEntry(
        client,
        { key: KEY, jobId: 'job-refl', checkpointId: 7, size: data.length, crc32c: crc32c(data) },
        data,
      );
    } finally {
      client.close();
    }
  });

  after(async function () {
    this.timeout(20_000);
    await agent?.stop();
    await redis?.stop();
    if (scratch) await removeTempDir(scratch);
  });

  describe('grpcurl', function () {
    it('lists exactly the two services the agent serves', async function () {
      expect(lines(await ok([], 'list'))).to.deep.equal([SERVICE_NAME, HEALTH]);
    });

    it('lists every RPC the agent registers, ReportCorrupt included', async function () {
      const registered: [string, Record<string, { path: string }>][] = [
        [SERVICE_NAME, checkpointCacheServiceDefinition()],
        [HEALTH, healthService],
      ];
      for (const [service, definition] of registered) {
        const listed = lines(await ok([], 'list', service)).sort();
        expect(listed, service).to.deep.equal(methodNames(definition));
      }
      expect(lines(await ok([], 'list', SERVICE_NAME))).to.include(`${SERVICE_NAME}.ReportCorrupt`);
    });

    it('describes the service with its rpcs and the .proto comments', async function () {
      const out = await ok([], 'describe', SERVICE_NAME);
      expect(out).to.include(`${SERVICE_NAME} is a service:`);
      expect(out).to.include(
        'rpc ReportCorrupt ( .checkpointcache.v1.ReportCorruptRequest ) returns ' +
          '( .checkpointcache.v1.ReportCorruptResponse );',
      );
      expect(out).to.include(
        "// Resets an entry's TTL; optionally records that another checkpoint references it.",
      );
    });

    it('describes messages with the .proto field names, and health maps as maps', async function () {
      const stat = await ok([], 'describe', 'checkpointcache.v1.StatRequest');
      expect(stat).to.include('bool no_touch = 2;');
      expect(stat).not.to.include('noTouch');
      const list = await ok([], 'describe', 'grpc.health.v1.HealthListResponse');
      expect(list).to.include('map<string, .grpc.health.v1.HealthCheckResponse> statuses = 1;');
    });

    it('calls grpc.health.v1.Health/Check and List', async function () {
      const check = JSON.parse(await ok([], `${HEALTH}/Check`)) as { status: string };
      expect(check.status).to.equal('SERVING');
      const named = JSON.parse(
        await ok(['-d', JSON.stringify({ service: SERVICE_NAME })], `${HEALTH}/Check`),
      ) as { status: string };
      expect(named.status).to.equal('SERVING');
      const list = JSON.parse(await ok([], `${HEALTH}/List`)) as {
        statuses: Record<string, { status: string }>;
      };
      expect(list.statuses[SERVICE_NAME]?.status).to.equal('SERVING');
    });

    it('takes snake_case JSON: Stat of a missing key ends NOT_FOUND', async function () {
      const r = await call(
        ['-d', JSON.stringify({ key: 'k', no_touch: true })],
        `${SERVICE_NAME}/Stat`,
      );
      expect(r.rpcStatus, `${r.stderr}${r.stdout}`).to.equal(grpc.status.NOT_FOUND);
      expect(r.stderr).to.include('NotFound');
      expect(r.stderr).not.to.include('no known field');
    });

    it('takes snake_case JSON: Stat of a written key returns the entry', async function () {
      const request = ['-d', JSON.stringify({ key: KEY, no_touch: true })];
      // Text format (request and response) uses the .proto field names throughout.
      const text = await ok(
        ['-format', 'text', '-d', `key: ${JSON.stringify(KEY)} no_touch: true`],
        `${SERVICE_NAME}/Stat`,
      );
      expect(text).to.include(`key: "${KEY}"`);
      expect(text).to.include('job_id: "job-refl"');
      expect(text).to.include('checkpoint_ids: 7');
      expect(text).to.include(`size: ${data.length}`);
      expect(text).to.include(`node_id: "${agent.nodeId}"`);
      // JSON output follows the proto3 JSON mapping: lowerCamelCase json_name, 64-bit as strings.
      const json = JSON.parse(await ok(request, `${SERVICE_NAME}/Stat`)) as Record<string, unknown>;
      expect(json).to.include({ key: KEY, jobId: 'job-refl', size: String(data.length) });
      expect(json['checkpointIds']).to.deep.equal(['7']);
    });

    it('streams a Write (Go protobuf chunks: offset 0 left out) and refuses a bad chunk CRC32C', async function () {
      const bytes = randomBytes(5000);
      const key = 'hdfs://nn/grpcurl/write-1';
      const header = {
        header: { key, job_id: 'job-g', size: String(bytes.length), crc32c: crc32c(bytes) },
      };
      const chunk = (offset: number, part: Buffer, crc = crc32c(part)) => ({
        chunk: { offset: String(offset), data: part.toString('base64'), crc32c: crc },
      });
      const messages = [
        header,
        chunk(0, bytes.subarray(0, 3000)),
        chunk(3000, bytes.subarray(3000)),
      ];
      const out = await ok(
        ['-d', messages.map((m) => JSON.stringify(m)).join('\n')],
        `${SERVICE_NAME}/Write`,
      );
      expect(JSON.parse(out)).to.deep.include({ created: true });
      const client = rawClient(agent.address);
      try {
        expect((await readEntry(client, { key })).data.equals(bytes)).to.equal(true);
      } finally {
        client.close();
      }
      const bad = [
        { header: { key: 'hdfs://nn/grpcurl/write-bad', job_id: 'job-g' } },
        chunk(0, bytes.subarray(0, 10), (crc32c(bytes.subarray(0, 10)) ^ 1) >>> 0),
      ];
      const r = await call(
        ['-d', bad.map((m) => JSON.stringify(m)).join('\n')],
        `${SERVICE_NAME}/Write`,
      );
      expect(r.rpcStatus, `${r.stderr}${r.stdout}`).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(r.stderr).to.include('damaged in transit');
    });

    it("gets protoc's descriptor set back byte for byte (-protoset-out)", async function () {
      const out = path.join(scratch, 'reflected.protoset');
      await ok(['-protoset-out', out], 'describe');
      expect((await fs.readFile(out)).equals(readFileSync(AGENT_DESCRIPTOR_SET))).to.equal(true);
    });
  });

  for (const version of ['v1', 'v1alpha'] as ReflectionVersion[]) {
    describe(`grpc.reflection.${version}`, function () {
      const byName = new Map(agentFileDescriptorProtos().map((f) => [fileName(f), f]));

      it('serves each file under its .proto path, byte for byte as protoc wrote it', async function () {
        expect([...byName.keys()]).to.have.members([CACHE_FILE, HEALTH_FILE]);
        for (const [name, bytes] of byName) {
          const r = await reflect(agent.address, { file_by_filename: name }, version);
          expect(r.error_response, name).to.equal(undefined);
          const files = r.file_descriptor_response?.file_descriptor_proto ?? [];
          expect(files.map(fileName), name).to.deep.equal([name]);
          expect(files[0]?.equals(bytes), `${name} bytes`).to.equal(true);
        }
        const old = await reflect(agent.address, { file_by_filename: 'checkpointcache_v1.proto' });
        expect(old.error_response?.error_code).to.equal(grpc.status.NOT_FOUND);
      });

      it('finds the file of services, methods, messages, enums, nested types and fields', async function () {
        const symbols: [string, string][] = [
          [SERVICE_NAME, CACHE_FILE],
          [`${SERVICE_NAME}.ReportCorrupt`, CACHE_FILE],
          ['checkpointcache.v1.StatRequest', CACHE_FILE],
          ['checkpointcache.v1.StatRequest.no_touch', CACHE_FILE],
          ['checkpointcache.v1.Source', CACHE_FILE],
          [HEALTH, HEALTH_FILE],
          [`${HEALTH}.Check`, HEALTH_FILE],
          ['grpc.health.v1.HealthCheckResponse.ServingStatus', HEALTH_FILE],
          ['grpc.health.v1.HealthListResponse.StatusesEntry', HEALTH_FILE],
        ];
        for (const [symbol, file] of symbols) {
          const r = await reflect(agent.address, { file_containing_symbol: symbol }, version);
          expect(r.error_response, symbol).to.equal(undefined);
          const files = r.file_descriptor_response?.file_descriptor_proto ?? [];
          expect(files.map(fileName), symbol).to.deep.equal([file]);
        }
      });

      it('answers NOT_FOUND, naming what it looked for, for unknown symbols and extensions', async function () {
        for (const symbol of [
          'checkpointcache.v1.NoSuchThing',
          'checkpointcache.v1.StatRequest.noTouch',
        ]) {
          const r = await reflect(agent.address, { file_containing_symbol: symbol }, version);
          expect(r.error_response?.error_code, symbol).to.equal(grpc.status.NOT_FOUND);
          expect(r.error_response?.error_message).to.include(symbol);
        }
        // The agent's protos declare no extensions.
        const extension = await reflect(
          agent.address,
          {
            file_containing_extension: {
              containing_type: 'checkpointcache.v1.StatRequest',
              extension_number: 100,
            },
          },
          version,
        );
        expect(extension.error_response?.error_code).to.equal(grpc.status.NOT_FOUND);
        expect(extension.error_response?.error_message).to.include(
          'checkpointcache.v1.StatRequest',
        );
        const numbers = await reflect(
          agent.address,
          { all_extension_numbers_of_type: 'checkpointcache.v1.StatRequest' },
          version,
        );
        expect(numbers.error_response?.error_code).to.equal(grpc.status.NOT_FOUND);
        expect(numbers.error_response?.error_message).to.include('checkpointcache.v1.StatRequest');
      });
    });
  }
});
