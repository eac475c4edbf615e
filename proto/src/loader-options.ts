/**
 * The one set of proto-loader options. The runtime loader and the type generator both use it, so
 * the generated types always describe the objects the loader produces.
 */
import type { Options } from '@grpc/proto-loader';

export const PROTO_LOADER_OPTIONS: Readonly<Options> = Object.freeze({
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});
