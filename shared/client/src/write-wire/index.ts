/**
 * The Write wire path of the client: chunks encoded once into their buffer's headroom
 * (write-chunk-encoding.ts) and, once installZeroCopyWrites patched grpc-js, framed there too and
 * sent without grpc-js's copy (write-framing.ts). The package's main entry exports only
 * installZeroCopyWrites; this entry (`@checkpoint-cache/client/write-wire`) is for the encoding's
 * tests and benchmarks.
 */
export { allocWriteChunk, encodeWriteChunk, WRITE_CHUNK_HEADROOM } from './write-chunk-encoding';
export {
  framedWritesFor,
  GRPC_PREFIX_BYTES,
  installZeroCopyWrites,
  isGrpcFramed,
  zeroCopyWritesInstalled,
} from './write-framing';
