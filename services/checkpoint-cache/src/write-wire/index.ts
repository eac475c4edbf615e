/**
 * The Write wire path: chunks decoded without protobufjs, their data a slice of the received
 * message (write-chunk-decoding.ts). The service registers the Write definition built here; this
 * entry (`@checkpoint-cache/service/write-wire`) is for the decoder's tests and benchmarks.
 */
export { decodeWriteChunk, writeMethodDefinition } from './write-chunk-decoding';
