/**
 * A throw-away PKI for TLS tests, made with the `openssl` command line: a CA, a server
 * certificate for localhost / 127.0.0.1, a client certificate, and a second, unrelated CA with a
 * client certificate of its own (a client the agent must not trust). EC P-256 keys: fast to make.
 * Everything lives in one temp dir; `remove()` deletes it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, removeTempDir } from './temp-dir';

/**
 * What a certificate is for: a TLS server, a TLS client, or an agent, which is both (it serves
 * its peers and reads from them, docs/security.md "Between agents").
 */
export type CertUsage = 'server' | 'client' | 'agent';

/** PEM files of one certificate and its key. */
export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestPki {
  readonly dir: string;
  /** The CA that signs `server` and `client`. */
  readonly caCert: string;
  /** Server certificate for DNS:localhost and IP:127.0.0.1, signed by the CA. */
  readonly server: CertFiles;
  /** Client certificate (CN=ckc-test-client), signed by the CA. */
  readonly client: CertFiles;
  /** A CA nobody trusts, and a client certificate it signed. */
  readonly otherCaCert: string;
  readonly otherClient: CertFiles;
  /**
   * Issues another certificate from the CA, e.g. for rotation: `name` is its CN and file stem.
   * `days` is its validity (default 2); -1 makes one that expired a day ago (not before now).
   */
  issue(name: string, usage: CertUsage, days?: number): Promise<CertFiles>;
  remove(): Promise<void>;
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args[0]} failed: ${stderr || err.message}`));
      else resolve();
    });
  });
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, stem: string, cn: string): Promise<void> {
  await openssl(
    [
      'req', '-x509', ...EC_KEY,
      '-keyout', `${stem}.key`, '-out', `${stem}.crt`,
      '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  ); // prettier-ignore
}

async function issue(
  dir: string,
  ca: string,
  name: string,
  usage: CertUsage,
  days = 2,
): Promise<CertFiles> {
  const eku = { server: 'serverAuth', client: 'clientAuth', agent: 'serverAuth,clientAuth' };
  const ext = path.join(dir, `${name}.ext`);
  await fs.writeFile(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      `extendedKeyUsage=${eku[usage]}`,
      ...(usage === 'client' ? [] : ['subjectAltName=DNS:localhost,IP:127.0.0.1']),
      '',
    ].join('\n'),
  );
  await openssl(
    ['req', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`],
    dir,
  );
  await openssl(
    [
      'x509', '-req', '-in', `${name}.csr`,
      '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`,
      '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-days', String(days), '-extfile', ext, '-out', `${name}.crt`,
    ],
    dir,
  ); // prettier-ignore
  const files = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  await fs.chmod(files.key, 0o600);
  return files;
}

export async function makeTestPki(): Promise<TestPki> {
  const dir = await makeTempDir('ckc-pki');
  try {
    await makeCa(dir, 'ca', 'ckc test CA');
    await makeCa(dir, 'other-ca', 'untrusted test CA');
    const [server, client, otherClient] = await Promise.all([
      issue(dir, 'ca', 'ckc-test-server', 'server'),
      issue(dir, 'ca', 'ckc-test-client', 'client'),
      issue(dir, 'other-ca', 'untrusted-client', 'client'),
    ]);
    return {
      dir,
      caCert: path.join(dir, 'ca.crt'),
      server,
      client,
      otherCaCert: path.join(dir, 'other-ca.crt'),
      otherClient,
      issue: (name, usage, days) => issue(dir, 'ca', name, usage, days),
      remove: () => removeTempDir(dir),
    };
  } catch (err) {
    await removeTempDir(dir);
    throw err;
  }
}
