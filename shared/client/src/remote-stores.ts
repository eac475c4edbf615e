/**
 * The registry that picks a remote store adapter by URI scheme. A client holds one; adding HDFS
 * or S3 later is one `register` call, not a change to the client.
 * Owns: scheme → adapter. Never: I/O of its own.
 */
import { FileRemoteStore } from './file-remote-store';
import { HttpRemoteStore, type HttpRemoteStoreOptions } from './http-remote-store';
import type { RemoteStore } from './remote-store';
import { redactUri, RemoteStoreError } from './remote-store-error';

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;

export class RemoteStores {
  private readonly stores = new Map<string, RemoteStore>();

  /** A registry with `file` (and plain absolute paths), `http` and `https`. */
  static withDefaults(options: { http?: HttpRemoteStoreOptions } = {}): RemoteStores {
    return new RemoteStores()
      .register(new FileRemoteStore())
      .register(new HttpRemoteStore(options.http));
  }

  /** Serves `store.schemes` (or `schemes` when given) with `store`, replacing any earlier one. */
  register(store: RemoteStore, schemes: readonly string[] = store.schemes): this {
    for (const scheme of schemes) this.stores.set(scheme.toLowerCase(), store);
    return this;
  }

  /** Registered schemes, sorted. */
  schemes(): string[] {
    return [...this.stores.keys()].sort();
  }

  /** The adapter for `uri`; a plain absolute path is a `file` URI. */
  resolve(uri: string): RemoteStore {
    const scheme = RemoteStores.schemeOf(uri);
    const store = this.stores.get(scheme);
    if (!store) {
      const known = this.schemes().join(', ') || 'none';
      throw new RemoteStoreError(
        'UNSUPPORTED_URI',
        `no remote store for scheme "${scheme}" in ${redactUri(uri)} (registered: ${known})`,
      );
    }
    return store;
  }

  /** Lower-case scheme of `uri`; `file` for an absolute path. */
  static schemeOf(uri: string): string {
    const match = SCHEME.exec(uri);
    if (match) return match[1].toLowerCase();
    if (uri.startsWith('/')) return 'file';
    throw new RemoteStoreError(
      'UNSUPPORTED_URI',
      `${redactUri(uri)} is not a URI (scheme://...) or an absolute path`,
    );
  }
}
