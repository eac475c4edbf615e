/**
 * TLS, and mutual TLS, for the agent's TCP listener, from certificate files that are read again
 * on SIGHUP and when they change, without closing the listener.
 *
 * grpc-js (>= 1.13) takes certificates from a CertificateProvider
 * (`grpc.experimental.createCertificateProviderServerCredentials`) and swaps the secure context of
 * its running http2 servers whenever the provider publishes new ones; connections already open
 * keep theirs. This class is that provider. grpc-js's own FileWatcherCertificateProvider does not
 * fit: it only polls, checks nothing, and publishes "no certificate" when a read fails, which
 * makes grpc-js drop every new connection. Here a file set is checked first (tls-files.ts) and a
 * bad or half-written one (a rotation that replaced the certificate but not yet the key) is
 * logged and skipped: the previous certificates stay in use, and the next change or SIGHUP tries
 * again.
 *
 * The agent's peer client (agent-peers.ts) presents the same certificate to other agents and
 * trusts the same CA; it takes them from here and rebuilds its channels after every reload, so
 * one set of files, read and checked in one place, serves both directions.
 *
 * Owns: reading, checking and watching the listener's TLS files. Never: log key material.
 */
import { watch, type FSWatcher } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '@checkpoint-cache/logger';
import {
  describeCertificate,
  loadTlsMaterial,
  optionLabel,
  validityProblem,
  type PemFile,
  type TlsMaterial,
} from './tls-files';

type CertificateProvider = grpc.experimental.CertificateProvider;
type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

export interface ListenerTlsFiles {
  /** PEM certificate chain (--tls-cert). */
  cert: string;
  /** Its private key (--tls-key). */
  key: string;
  /** CA bundle client certificates must chain to (--tls-client-ca); absent: no client auth. */
  clientCa?: string;
}

export interface ListenerTlsOptions {
  logger: Logger;
  /** Quiet time after the last file event before the files are read. Default 250 ms. */
  debounceMs?: number;
}

const DEFAULT_DEBOUNCE_MS = 250;

export class ListenerTls implements CertificateProvider {
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly reloadListeners = new Set<() => void>();
  private readonly watchers: FSWatcher[] = [];
  private readonly logger: Logger;
  private readonly debounceMs: number;
  private debounce: NodeJS.Timeout | undefined;
  /** The reload under way, and whether another was asked for meanwhile. */
  private reloading: Promise<boolean> | undefined;
  private reloadAgain = false;
  private closed = false;

  private constructor(
    private readonly files: { cert: PemFile; key: PemFile; clientCa?: PemFile },
    private current: TlsMaterial,
    options: ListenerTlsOptions,
  ) {
    this.logger = options.logger.child({ component: 'listener-tls' });
    this.debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  }

  /**
   * Reads and checks the files; rejects with a CacheError naming the option of the bad file.
   * Call `watch()` to follow changes, `close()` to stop.
   */
  static async load(files: ListenerTlsFiles, options: ListenerTlsOptions): Promise<ListenerTls> {
    const named = {
      cert: { path: files.cert, option: 'tlsCert' },
      key: { path: files.key, option: 'tlsKey' },
      ...(files.clientCa === undefined
        ? {}
        : { clientCa: { path: files.clientCa, option: 'tlsClientCa' } }),
    };
    const material = await ListenerTls.read(named);
    const tls = new ListenerTls(named, material, options);
    const problem = validityProblem(material.leaf);
    if (problem) {
      tls.logger.warn(`the certificate in ${optionLabel('tlsCert')} is not valid now: ${problem}`, {
        file: files.cert,
        ...describeCertificate(material.leaf),
      });
    }
    return tls;
  }

  private static read(files: ListenerTls['files']): Promise<TlsMaterial> {
    return loadTlsMaterial({
      cert: files.cert,
      key: files.key,
      ...(files.clientCa ? { ca: files.clientCa } : {}),
    });
  }

  /** Whether clients must present a certificate signed by the client CA. */
  get mutual(): boolean {
    return this.files.clientCa !== undefined;
  }

  /** The certificates in use now; the agent's peer client presents the same ones. */
  get material(): TlsMaterial {
    return this.current;
  }

  /**
   * Calls `listener` after every reload that put new certificates in use, so that the clients
   * built from `material` (peer reads) rebuild theirs.
   */
  onReload(listener: () => void): void {
    this.reloadListeners.add(listener);
  }

  /** The leaf certificate in use, for logs. */
  describe(): Record<string, string> {
    return { ...describeCertificate(this.current.leaf), clientAuth: String(this.mutual) };
  }

  /** Credentials for `server.bindAsync` that follow this provider's certificates. */
  serverCredentials(): grpc.ServerCredentials {
    // grpc-js 1.14 names these parameters the other way round, but passes the first one on as
    // the identity (certificate and key) provider and the second as the CA provider, which is
    // also what makes it ask clients for certificates. Same object: both come from here.
    return grpc.experimental.createCertificateProviderServerCredentials(
      this,
      this.mutual ? this : null,
      this.mutual,
    );
  }

  /**
   * Publishes the certificates in use again. grpc-js hands an update only to the servers that
   * exist when it comes, and a listen address that resolves to several addresses
   * (localhost: 127.0.0.1 and ::1) binds them at once: call this after binding.
   */
  republish(): void {
    this.publish();
  }

  /**
   * Reads the files again and, when they changed and are valid, serves them to new connections.
   * Resolves true when new certificates are in use, false when nothing changed or the files were
   * refused (logged; the previous ones stay). Never rejects.
   */
  reload(reason: string): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    const run = async (): Promise<boolean> => {
      let changed = false;
      do {
        this.reloadAgain = false;
        changed = (await this.reloadOnce(reason)) || changed;
      } while (this.reloadAgain && !this.closed);
      return changed;
    };
    this.reloading = run().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private async reloadOnce(reason: string): Promise<boolean> {
    let next: TlsMaterial;
    try {
      next = await ListenerTls.read(this.files);
    } catch (err) {
      this.logger.warn('TLS files not reloaded; the previous certificates stay in use', {
        reason,
        error: err,
      });
      return false;
    }
    if (this.closed || sameMaterial(next, this.current)) return false;
    this.current = next;
    this.publish();
    for (const listener of this.reloadListeners) listener();
    const problem = validityProblem(next.leaf);
    this.logger.info('TLS certificates reloaded; new connections get them', {
      reason,
      ...this.describe(),
      ...(problem ? { problem } : {}),
    });
    return true;
  }

  /**
   * Reloads, debounced, when anything changes in the folders of the files. Folders, not files:
   * Kubernetes updates a mounted Secret by swapping a symlink next to the files, and tools
   * replace files by renaming a new one over them; a watch on the old file sees neither.
   */
  watch(): void {
    const dirs = new Set(Object.values(this.files).map((f: PemFile) => path.dirname(f.path)));
    for (const dir of dirs) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.changed());
        watcher.on('error', (error) => {
          this.logger.warn('stopped watching a TLS folder; SIGHUP still reloads', { dir, error });
          watcher.close();
        });
        this.watchers.push(watcher);
      } catch (error) {
        this.logger.warn('cannot watch a TLS folder; reload with SIGHUP instead', { dir, error });
      }
    }
  }

  private changed(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload('file change'), this.debounceMs);
    this.debounce.unref();
  }

  /** Stops watching; the listener keeps the certificates it has. Idempotent. */
  close(): void {
    this.closed = true;
    this.reloadListeners.clear();
    clearTimeout(this.debounce);
    for (const w of this.watchers.splice(0)) w.close();
  }

  private publish(): void {
    const { cert, key, ca } = this.current;
    if (ca) for (const listener of this.caListeners) listener({ caCertificate: ca });
    if (cert && key) {
      for (const listener of this.identityListeners) {
        listener({ certificate: cert, privateKey: key });
      }
    }
  }

  // ---- grpc.experimental.CertificateProvider ------------------------------------------------
  // grpc-js reads the credentials of a new http2 server before it adds its listener, so the first
  // update must come after that: on the next tick, as grpc-js's own providers do.

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    const ca = this.current.ca;
    if (ca) process.nextTick(() => listener({ caCertificate: ca }));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    const { cert, key } = this.current;
    if (cert && key) {
      process.nextTick(() => listener({ certificate: cert, privateKey: key }));
    }
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  const same = (x?: Buffer, y?: Buffer): boolean =>
    x === undefined || y === undefined ? x === y : x.equals(y);
  return same(a.cert, b.cert) && same(a.key, b.key) && same(a.ca, b.ca);
}
