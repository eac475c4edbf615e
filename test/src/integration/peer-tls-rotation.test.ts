/**
 * Certificate rotation on the peer CLIENT side (issue 13): an agent reads from other agents with
 * the certificate of its own listener, and when that certificate is renewed (cert-manager
 * rewrites the mounted Secret; here the files are replaced and the agent reloads them, as its
 * folder watch or SIGHUP does) its peer reads present the new one, without a restart. Also: a
 * peer stream already running when the certificates change finishes on its connection.
 * Real agents (in this process), real Redis, real mutual TLS with certificates from openssl.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { TestAgent } from '../helpers/agent';
import { freePort } from '../helpers/free-port';
import { rawClient, readEntry, writeEntry, type RawClient } from '../helpers/raw-client';
import { rejection } from '../helpers/rejection';
import { makeTestPki, type CertFiles, type TestPki } from '../helpers/test-pki';
import { useSharedRedis } from '../helpers/shared-redis';

describe('peer reads across a certificate rotation', function () {
  this.timeout(30_000);
  const shared = useSharedRedis('ckc-peer-tls');
  let pki: TestPki;

  before(async function () {
    pki = await makeTestPki();
  });
  after(async function () {
    await pki?.remove();
  });

  /** An agent with mutual TLS from `cert`, reachable by its peers at its advertised address. */
  async function agent(cert: CertFiles, overrides: Record<string, unknown> = {}) {
    const port = await freePort();
    return shared.agent({
      listen: `127.0.0.1:${port}`,
      peerAddress: `127.0.0.1:${port}`,
      tlsCert: cert.cert,
      tlsKey: cert.key,
      tlsClientCa: pki.caCert,
      ...overrides,
    });
  }

  /** The test's client over the agent's Unix socket (plaintext; TLS is the TCP listener's). */
  function local(a: TestAgent): RawClient {
    const c = rawClient(`unix:${a.socketPath}`);
    shared.onCleanup(async () => c.close());
    return c;
  }

  /** What cert-manager does to a mounted Secret: new files in place of the old ones. */
  async function renew(files: CertFiles, name: string): Promise<void> {
    const renewed = await pki.issue(name, 'agent');
    await fs.copyFile(renewed.key, files.key);
    await fs.copyFile(renewed.cert, files.cert);
  }

  it('presents a renewed certificate to its peers after a reload, without a restart', async function () {
    // A's certificate ran out (its renewal came late): B refuses A's peer reads.
    const certA = await pki.issue('rot-agent-a', 'agent', -1);
    const a = await agent(certA);
    const b = await agent(await pki.issue('rot-agent-b', 'agent'));
    const key = 'hdfs://nn/flink/ckpt/job/shared/peer-rotated';
    const data = randomBytes(300_000);
    await writeEntry(local(b), { key, jobId: 'job', checkpointId: 1 }, data);
    const refused = await rejection<grpc.ServiceError>(readEntry(local(a), { key }));
    expect(refused.code).to.equal(grpc.status.NOT_FOUND);

    await renew(certA, 'rot-agent-a-renewed');
    await a.reloadTls('test');
    const read = await readEntry(local(a), { key });
    expect(read.header?.source).to.equal('SOURCE_PEER');
    expect(read.data.equals(data)).to.equal(true);
  });

  it('finishes a peer stream that is running when the certificates change', async function () {
    const certA = await pki.issue('run-agent-a', 'agent');
    // 256 KiB/s: the 1 MiB stream is still running when the reload comes.
    const a = await agent(certA, { peerReadRate: 256 * 1024 });
    const b = await agent(await pki.issue('run-agent-b', 'agent'));
    const key = 'hdfs://nn/flink/ckpt/job/shared/peer-during-rotation';
    const data = randomBytes(1024 * 1024);
    await writeEntry(local(b), { key, jobId: 'job', checkpointId: 1 }, data);

    const chunks: Buffer[] = [];
    let sawSource = '';
    const done = new Promise<void>((resolve, reject) => {
      const call = local(a).read({ key, maxChunkSize: 64 * 1024 });
      call.on('data', (m: { header?: { source?: string }; chunk?: { data: Buffer } }) => {
        if (m.header) sawSource = String(m.header.source);
        if (m.chunk) chunks.push(m.chunk.data);
        if (chunks.length === 1) {
          renew(certA, 'run-agent-a-renewed')
            .then(() => a.reloadTls('test'))
            .then((changed) => expect(changed).to.equal(true))
            .catch(reject);
        }
      });
      call.on('error', reject);
      call.on('end', () => resolve());
    });
    await done;
    expect(sawSource).to.equal('SOURCE_PEER');
    expect(Buffer.concat(chunks).equals(data)).to.equal(true);

    // The next peer read dials again, with the renewed certificate.
    const next = 'hdfs://nn/flink/ckpt/job/shared/peer-after-rotation';
    await writeEntry(
      local(b),
      { key: next, jobId: 'job', checkpointId: 1 },
      data.subarray(0, 1000),
    );
    expect((await readEntry(local(a), { key: next })).header?.source).to.equal('SOURCE_PEER');
  });
});
