/**
 * PEM files named by the agent's options (TLS on the TCP listener, TLS to Redis): read and checked
 * as a set, so that a wrong file stops the agent at start (or is refused on reload) with a message
 * naming the option, never later in some client's TLS handshake.
 * Owns: reading and checking PEM certificates and keys. Never: put key material into a message
 * or a log record (messages name files and options; OpenSSL's reasons carry no key bytes).
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as tls from 'node:tls';
import { AGENT_OPTIONS } from '@checkpoint-cache/config';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';

/** A PEM file and the option that named it (its camelCase name, as in AgentConfig). */
export interface PemFile {
  path: string;
  option: string;
}

/** A checked set: certificate chain, its key, and CA certificates, as they were read. */
export interface TlsMaterial {
  /** PEM certificate chain, leaf first; absent when only a CA was asked for. */
  cert?: Buffer;
  /** PEM private key of `cert`. */
  key?: Buffer;
  /** PEM CA certificates. */
  ca?: Buffer;
  /** The leaf certificate, for logs (subject, validity, fingerprint). */
  leaf?: X509Certificate;
}

/** `--tls-cert (CKC_TLS_CERT)`: how messages name an option, whichever way it was set. */
export function optionLabel(name: string): string {
  const spec = AGENT_OPTIONS.find((o) => o.name === name);
  return spec ? `--${spec.flag} (${spec.env})` : name;
}

function invalid(file: PemFile, problem: string, cause?: unknown): CacheError {
  return new CacheError(
    ErrorCode.InvalidArgument,
    `${optionLabel(file.option)} ${file.path}: ${problem}`,
    cause === undefined ? undefined : { cause },
  );
}

/** OpenSSL's reason without its error-queue prefix, e.g. "key values mismatch". */
function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^error:[0-9A-F]+:[^:]*:[^:]*:/i, '').trim() || message;
}

async function readPem(file: PemFile): Promise<Buffer> {
  try {
    return await fs.readFile(file.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? reason(err);
    throw invalid(file, `cannot read the file (${code})`, err);
  }
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate in `pem`, in order; at least one. */
function parseCertificates(pem: Buffer, file: PemFile): X509Certificate[] {
  const blocks = pem.toString('latin1').match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) {
    throw invalid(file, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  }
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw invalid(file, `certificate ${i + 1} cannot be parsed (${reason(err)})`, err);
    }
  });
}

function parsePrivateKey(pem: Buffer, file: PemFile): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    const encrypted = /passphrase|encrypted|bad decrypt/i.test(reason(err));
    throw invalid(
      file,
      encrypted
        ? 'the private key is encrypted; give the agent an unencrypted key (protect the file ' +
            'by its mode and owner instead)'
        : `holds no usable PEM private key (${reason(err)})`,
      err,
    );
  }
}

/**
 * Reads and checks `cert` + `key` (together or neither) and `ca`: every certificate parses, the key
 * is the certificate's, and OpenSSL accepts the set as a TLS context.
 */
export async function loadTlsMaterial(files: {
  cert?: PemFile;
  key?: PemFile;
  ca?: PemFile;
}): Promise<TlsMaterial> {
  const material: TlsMaterial = {};
  if (files.cert && files.key) {
    const [cert, key] = await Promise.all([readPem(files.cert), readPem(files.key)]);
    const leaf = parseCertificates(cert, files.cert)[0] as X509Certificate;
    const privateKey = parsePrivateKey(key, files.key);
    if (!leaf.checkPrivateKey(privateKey)) {
      throw invalid(
        files.key,
        `the private key does not belong to the certificate in ${optionLabel(files.cert.option)} ` +
          `${files.cert.path} (subject ${leaf.subject.replace(/\n/g, ', ')})`,
      );
    }
    Object.assign(material, { cert, key, leaf });
  }
  if (files.ca) {
    material.ca = await readPem(files.ca);
    parseCertificates(material.ca, files.ca);
  }
  try {
    tls.createSecureContext({ cert: material.cert, key: material.key, ca: material.ca });
  } catch (err) {
    const blamed = files.cert ?? files.ca;
    throw blamed
      ? invalid(blamed, `OpenSSL refuses these files as a TLS set (${reason(err)})`, err)
      : err;
  }
  return material;
}

/** The leaf certificate for logs: never key material. */
export function describeCertificate(leaf: X509Certificate | undefined): Record<string, string> {
  if (!leaf) return {};
  return {
    subject: leaf.subject.replace(/\n/g, ', '),
    issuer: leaf.issuer.replace(/\n/g, ', '),
    validTo: new Date(leaf.validTo).toISOString(),
    sha256: leaf.fingerprint256,
  };
}

/** Why `leaf` is not valid right now, or undefined while it is. */
export function validityProblem(
  leaf: X509Certificate | undefined,
  nowMs = Date.now(),
): string | undefined {
  if (!leaf) return undefined;
  if (Date.parse(leaf.validFrom) > nowMs) return `it is not valid before ${leaf.validFrom}`;
  if (Date.parse(leaf.validTo) < nowMs) return `it expired on ${leaf.validTo}`;
  return undefined;
}
