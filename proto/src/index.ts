/**
 * Loads the checkpointcache.v1 contract for grpc-js and re-exports its generated types and the
 * compiled descriptors reflection serves.
 * Owns: where the .proto files live and how they are loaded. Never: service behaviour.
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/checkpoint_cache';
import { PROTO_LOADER_OPTIONS } from './loader-options';

export { PROTO_LOADER_OPTIONS } from './loader-options';
export { AGENT_DESCRIPTOR_SET, agentFileDescriptorProtos } from './descriptor-set';
export * from './wire';

/** Folder that holds `checkpointcache/v1/*.proto` (the include root). */
export const PROTO_ROOT = path.resolve(__dirname, '..');

/** Path of the service's .proto file, for ghz, grpcurl and other languages' generators. */
export const CHECKPOINT_CACHE_PROTO = path.join(
  PROTO_ROOT,
  'checkpointcache',
  'v1',
  'checkpoint_cache.proto',
);

export const SERVICE_NAME = 'checkpointcache.v1.CheckpointCache';

let loaded: { definition: protoLoader.PackageDefinition; grpcObject: ProtoGrpcType } | undefined;

function load(): { definition: protoLoader.PackageDefinition; grpcObject: ProtoGrpcType } {
  if (!loaded) {
    const definition = protoLoader.loadSync(CHECKPOINT_CACHE_PROTO, {
      ...PROTO_LOADER_OPTIONS,
      includeDirs: [PROTO_ROOT],
    });
    const grpcObject = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
    loaded = { definition, grpcObject };
  }
  return loaded;
}

/**
 * The loaded package definition: its message descriptors tell the agent's wire check which
 * fields are strings and uint64s (reflection serves protoc's own descriptors instead).
 */
export function packageDefinition(): protoLoader.PackageDefinition {
  return load().definition;
}

/** The service definition to pass to `server.addService`. */
export function checkpointCacheServiceDefinition(): grpc.ServiceDefinition {
  return load().grpcObject.checkpointcache.v1.CheckpointCache.service;
}

/** The generated client constructor. */
export function checkpointCacheClientConstructor(): ProtoGrpcType['checkpointcache']['v1']['CheckpointCache'] {
  return load().grpcObject.checkpointcache.v1.CheckpointCache;
}

export type * from './generated/checkpointcache/v1/CheckpointCache';
export type { Chunk, Chunk__Output } from './generated/checkpointcache/v1/Chunk';
export type {
  DeletePrefixRequest,
  DeletePrefixRequest__Output,
} from './generated/checkpointcache/v1/DeletePrefixRequest';
export type {
  DeletePrefixResponse,
  DeletePrefixResponse__Output,
} from './generated/checkpointcache/v1/DeletePrefixResponse';
export type {
  DeleteRequest,
  DeleteRequest__Output,
} from './generated/checkpointcache/v1/DeleteRequest';
export type {
  DeleteResponse,
  DeleteResponse__Output,
} from './generated/checkpointcache/v1/DeleteResponse';
export type { EntryInfo, EntryInfo__Output } from './generated/checkpointcache/v1/EntryInfo';
export type {
  IngestRequest,
  IngestRequest__Output,
} from './generated/checkpointcache/v1/IngestRequest';
export type {
  LeaseRequest,
  LeaseRequest__Output,
} from './generated/checkpointcache/v1/LeaseRequest';
export type {
  LeaseResponse,
  LeaseResponse__Output,
} from './generated/checkpointcache/v1/LeaseResponse';
export type { ListRequest, ListRequest__Output } from './generated/checkpointcache/v1/ListRequest';
export type {
  ListResponse,
  ListResponse__Output,
} from './generated/checkpointcache/v1/ListResponse';
export type { ReadHeader, ReadHeader__Output } from './generated/checkpointcache/v1/ReadHeader';
export type { ReadRequest, ReadRequest__Output } from './generated/checkpointcache/v1/ReadRequest';
export type {
  ReadResponse,
  ReadResponse__Output,
} from './generated/checkpointcache/v1/ReadResponse';
export type {
  ReleaseRequest,
  ReleaseRequest__Output,
} from './generated/checkpointcache/v1/ReleaseRequest';
export type {
  ReleaseResponse,
  ReleaseResponse__Output,
} from './generated/checkpointcache/v1/ReleaseResponse';
export type {
  ReportCorruptRequest,
  ReportCorruptRequest__Output,
} from './generated/checkpointcache/v1/ReportCorruptRequest';
export type {
  ReportCorruptResponse,
  ReportCorruptResponse__Output,
} from './generated/checkpointcache/v1/ReportCorruptResponse';
export type { Source, Source__Output } from './generated/checkpointcache/v1/Source';
export type { StatRequest, StatRequest__Output } from './generated/checkpointcache/v1/StatRequest';
export type {
  TouchRequest,
  TouchRequest__Output,
} from './generated/checkpointcache/v1/TouchRequest';
export type { WriteHeader, WriteHeader__Output } from './generated/checkpointcache/v1/WriteHeader';
export type {
  WriteBatchItem,
  WriteBatchItem__Output,
} from './generated/checkpointcache/v1/WriteBatchItem';
export type {
  WriteBatchRequest,
  WriteBatchRequest__Output,
} from './generated/checkpointcache/v1/WriteBatchRequest';
export type {
  WriteBatchResponse,
  WriteBatchResponse__Output,
} from './generated/checkpointcache/v1/WriteBatchResponse';
export type {
  WriteBatchResult,
  WriteBatchResult__Output,
} from './generated/checkpointcache/v1/WriteBatchResult';
export type {
  WriteRequest,
  WriteRequest__Output,
} from './generated/checkpointcache/v1/WriteRequest';
export type {
  WriteResponse,
  WriteResponse__Output,
} from './generated/checkpointcache/v1/WriteResponse';
