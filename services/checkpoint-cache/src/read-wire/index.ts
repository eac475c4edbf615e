/**
 * The Read wire path: chunks encoded once into the read buffer's headroom (chunk-encoding.ts),
 * framed for gRPC there too and sent without grpc-js's copy (grpc-framing.ts), and the Read
 * definition whose serializer passes them through (read-definition.ts). The package's main entry
 * exports only the service and installZeroCopyFraming; this entry
 * (`@checkpoint-cache/service/read-wire`) is for the encoding's tests and benchmarks.
 */
export { encodeReadChunk } from './chunk-encoding';
export {
  GRPC_FRAMED,
  GRPC_PREFIX_BYTES,
  installZeroCopyFraming,
  isGrpcFramed,
  zeroCopyFramingInstalled,
} from './grpc-framing';
export { readMethodDefinition } from './read-definition';
