// Original file: checkpointcache/v1/checkpoint_cache.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { DeletePrefixRequest as _checkpointcache_v1_DeletePrefixRequest, DeletePrefixRequest__Output as _checkpointcache_v1_DeletePrefixRequest__Output } from '../../checkpointcache/v1/DeletePrefixRequest';
import type { DeletePrefixResponse as _checkpointcache_v1_DeletePrefixResponse, DeletePrefixResponse__Output as _checkpointcache_v1_DeletePrefixResponse__Output } from '../../checkpointcache/v1/DeletePrefixResponse';
import type { DeleteRequest as _checkpointcache_v1_DeleteRequest, DeleteRequest__Output as _checkpointcache_v1_DeleteRequest__Output } from '../../checkpointcache/v1/DeleteRequest';
import type { DeleteResponse as _checkpointcache_v1_DeleteResponse, DeleteResponse__Output as _checkpointcache_v1_DeleteResponse__Output } from '../../checkpointcache/v1/DeleteResponse';
import type { EntryInfo as _checkpointcache_v1_EntryInfo, EntryInfo__Output as _checkpointcache_v1_EntryInfo__Output } from '../../checkpointcache/v1/EntryInfo';
import type { IngestRequest as _checkpointcache_v1_IngestRequest, IngestRequest__Output as _checkpointcache_v1_IngestRequest__Output } from '../../checkpointcache/v1/IngestRequest';
import type { LeaseRequest as _checkpointcache_v1_LeaseRequest, LeaseRequest__Output as _checkpointcache_v1_LeaseRequest__Output } from '../../checkpointcache/v1/LeaseRequest';
import type { LeaseResponse as _checkpointcache_v1_LeaseResponse, LeaseResponse__Output as _checkpointcache_v1_LeaseResponse__Output } from '../../checkpointcache/v1/LeaseResponse';
import type { ListRequest as _checkpointcache_v1_ListRequest, ListRequest__Output as _checkpointcache_v1_ListRequest__Output } from '../../checkpointcache/v1/ListRequest';
import type { ListResponse as _checkpointcache_v1_ListResponse, ListResponse__Output as _checkpointcache_v1_ListResponse__Output } from '../../checkpointcache/v1/ListResponse';
import type { ReadRequest as _checkpointcache_v1_ReadRequest, ReadRequest__Output as _checkpointcache_v1_ReadRequest__Output } from '../../checkpointcache/v1/ReadRequest';
import type { ReadResponse as _checkpointcache_v1_ReadResponse, ReadResponse__Output as _checkpointcache_v1_ReadResponse__Output } from '../../checkpointcache/v1/ReadResponse';
import type { ReleaseRequest as _checkpointcache_v1_ReleaseRequest, ReleaseRequest__Output as _checkpointcache_v1_ReleaseRequest__Output } from '../../checkpointcache/v1/ReleaseRequest';
import type { ReleaseResponse as _checkpointcache_v1_ReleaseResponse, ReleaseResponse__Output as _checkpointcache_v1_ReleaseResponse__Output } from '../../checkpointcache/v1/ReleaseResponse';
import type { ReportCorruptRequest as _checkpointcache_v1_ReportCorruptRequest, ReportCorruptRequest__Output as _checkpointcache_v1_ReportCorruptRequest__Output } from '../../checkpointcache/v1/ReportCorruptRequest';
import type { ReportCorruptResponse as _checkpointcache_v1_ReportCorruptResponse, ReportCorruptResponse__Output as _checkpointcache_v1_ReportCorruptResponse__Output } from '../../checkpointcache/v1/ReportCorruptResponse';
import type { StatRequest as _checkpointcache_v1_StatRequest, StatRequest__Output as _checkpointcache_v1_StatRequest__Output } from '../../checkpointcache/v1/StatRequest';
import type { TouchRequest as _checkpointcache_v1_TouchRequest, TouchRequest__Output as _checkpointcache_v1_TouchRequest__Output } from '../../checkpointcache/v1/TouchRequest';
import type { WriteBatchRequest as _checkpointcache_v1_WriteBatchRequest, WriteBatchRequest__Output as _checkpointcache_v1_WriteBatchRequest__Output } from '../../checkpointcache/v1/WriteBatchRequest';
import type { WriteBatchResponse as _checkpointcache_v1_WriteBatchResponse, WriteBatchResponse__Output as _checkpointcache_v1_WriteBatchResponse__Output } from '../../checkpointcache/v1/WriteBatchResponse';
import type { WriteRequest as _checkpointcache_v1_WriteRequest, WriteRequest__Output as _checkpointcache_v1_WriteRequest__Output } from '../../checkpointcache/v1/WriteRequest';
import type { WriteResponse as _checkpointcache_v1_WriteResponse, WriteResponse__Output as _checkpointcache_v1_WriteResponse__Output } from '../../checkpointcache/v1/WriteResponse';

export interface CheckpointCacheClient extends grpc.Client {
  Delete(argument: _checkpointcache_v1_DeleteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _checkpointcache_v1_DeleteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _checkpointcache_v1_DeleteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _checkpointcache_v1_DeleteRequest, callback: grpc.requestCallback<_checkpointcache_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _checkpointcache_v1_DeleteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _checkpointcache_v1_DeleteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _checkpointcache_v1_DeleteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _checkpointcache_v1_DeleteRequest, callback: grpc.requestCallback<_checkpointcache_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  
  DeletePrefix(argument: _checkpointcache_v1_DeletePrefixRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_DeletePrefixResponse__Output>): grpc.ClientUnaryCall;
  DeletePrefix(argument: _checkpointcache_v1_DeletePrefixRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_DeletePrefixResponse__Output>): grpc.ClientUnaryCall;
  DeletePrefix(argument: _checkpointcache_v1_DeletePrefixRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_DeletePrefixResponse__Output>): grpc.ClientUnaryCall;
  DeletePrefix(argument: _checkpointcache_v1_DeletePrefixRequest, callback: grpc.requestCallback<_checkpointcache_v1_DeletePrefixResponse__Output>): grpc.ClientUnaryCall;
  deletePrefix(argument: _checkpointcache_v1_DeletePrefixRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_DeletePrefixResponse__Output>): grpc.ClientUnaryCall;
  deletePrefix(argument: _checkpointcache_v1_DeletePrefixRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_DeletePrefixResponse__Output>): grpc.ClientUnaryCall;
  deletePrefix(argument: _checkpointcache_v1_DeletePrefixRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_DeletePrefixResponse__Output>): grpc.ClientUnaryCall;
  deletePrefix(argument: _checkpointcache_v1_DeletePrefixRequest, callback: grpc.requestCallback<_checkpointcache_v1_DeletePrefixResponse__Output>): grpc.ClientUnaryCall;
  
  Ingest(argument: _checkpointcache_v1_IngestRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientUnaryCall;
  Ingest(argument: _checkpointcache_v1_IngestRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientUnaryCall;
  Ingest(argument: _checkpointcache_v1_IngestRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientUnaryCall;
  Ingest(argument: _checkpointcache_v1_IngestRequest, callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientUnaryCall;
  ingest(argument: _checkpointcache_v1_IngestRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientUnaryCall;
  ingest(argument: _checkpointcache_v1_IngestRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientUnaryCall;
  ingest(argument: _checkpointcache_v1_IngestRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientUnaryCall;
  ingest(argument: _checkpointcache_v1_IngestRequest, callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientUnaryCall;
  
  Lease(argument: _checkpointcache_v1_LeaseRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_LeaseResponse__Output>): grpc.ClientUnaryCall;
  Lease(argument: _checkpointcache_v1_LeaseRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_LeaseResponse__Output>): grpc.ClientUnaryCall;
  Lease(argument: _checkpointcache_v1_LeaseRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_LeaseResponse__Output>): grpc.ClientUnaryCall;
  Lease(argument: _checkpointcache_v1_LeaseRequest, callback: grpc.requestCallback<_checkpointcache_v1_LeaseResponse__Output>): grpc.ClientUnaryCall;
  lease(argument: _checkpointcache_v1_LeaseRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_LeaseResponse__Output>): grpc.ClientUnaryCall;
  lease(argument: _checkpointcache_v1_LeaseRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_LeaseResponse__Output>): grpc.ClientUnaryCall;
  lease(argument: _checkpointcache_v1_LeaseRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_LeaseResponse__Output>): grpc.ClientUnaryCall;
  lease(argument: _checkpointcache_v1_LeaseRequest, callback: grpc.requestCallback<_checkpointcache_v1_LeaseResponse__Output>): grpc.ClientUnaryCall;
  
  List(argument: _checkpointcache_v1_ListRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _checkpointcache_v1_ListRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _checkpointcache_v1_ListRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _checkpointcache_v1_ListRequest, callback: grpc.requestCallback<_checkpointcache_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _checkpointcache_v1_ListRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _checkpointcache_v1_ListRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _checkpointcache_v1_ListRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _checkpointcache_v1_ListRequest, callback: grpc.requestCallback<_checkpointcache_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  
  Read(argument: _checkpointcache_v1_ReadRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_checkpointcache_v1_ReadResponse__Output>;
  Read(argument: _checkpointcache_v1_ReadRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_checkpointcache_v1_ReadResponse__Output>;
  read(argument: _checkpointcache_v1_ReadRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_checkpointcache_v1_ReadResponse__Output>;
  read(argument: _checkpointcache_v1_ReadRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_checkpointcache_v1_ReadResponse__Output>;
  
  Release(argument: _checkpointcache_v1_ReleaseRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  Release(argument: _checkpointcache_v1_ReleaseRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  Release(argument: _checkpointcache_v1_ReleaseRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  Release(argument: _checkpointcache_v1_ReleaseRequest, callback: grpc.requestCallback<_checkpointcache_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  release(argument: _checkpointcache_v1_ReleaseRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  release(argument: _checkpointcache_v1_ReleaseRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  release(argument: _checkpointcache_v1_ReleaseRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  release(argument: _checkpointcache_v1_ReleaseRequest, callback: grpc.requestCallback<_checkpointcache_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  
  ReportCorrupt(argument: _checkpointcache_v1_ReportCorruptRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_ReportCorruptResponse__Output>): grpc.ClientUnaryCall;
  ReportCorrupt(argument: _checkpointcache_v1_ReportCorruptRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_ReportCorruptResponse__Output>): grpc.ClientUnaryCall;
  ReportCorrupt(argument: _checkpointcache_v1_ReportCorruptRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_ReportCorruptResponse__Output>): grpc.ClientUnaryCall;
  ReportCorrupt(argument: _checkpointcache_v1_ReportCorruptRequest, callback: grpc.requestCallback<_checkpointcache_v1_ReportCorruptResponse__Output>): grpc.ClientUnaryCall;
  reportCorrupt(argument: _checkpointcache_v1_ReportCorruptRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_ReportCorruptResponse__Output>): grpc.ClientUnaryCall;
  reportCorrupt(argument: _checkpointcache_v1_ReportCorruptRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_ReportCorruptResponse__Output>): grpc.ClientUnaryCall;
  reportCorrupt(argument: _checkpointcache_v1_ReportCorruptRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_ReportCorruptResponse__Output>): grpc.ClientUnaryCall;
  reportCorrupt(argument: _checkpointcache_v1_ReportCorruptRequest, callback: grpc.requestCallback<_checkpointcache_v1_ReportCorruptResponse__Output>): grpc.ClientUnaryCall;
  
  Stat(argument: _checkpointcache_v1_StatRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  Stat(argument: _checkpointcache_v1_StatRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  Stat(argument: _checkpointcache_v1_StatRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  Stat(argument: _checkpointcache_v1_StatRequest, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  stat(argument: _checkpointcache_v1_StatRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  stat(argument: _checkpointcache_v1_StatRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  stat(argument: _checkpointcache_v1_StatRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  stat(argument: _checkpointcache_v1_StatRequest, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  
  Touch(argument: _checkpointcache_v1_TouchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  Touch(argument: _checkpointcache_v1_TouchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  Touch(argument: _checkpointcache_v1_TouchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  Touch(argument: _checkpointcache_v1_TouchRequest, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  touch(argument: _checkpointcache_v1_TouchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  touch(argument: _checkpointcache_v1_TouchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  touch(argument: _checkpointcache_v1_TouchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  touch(argument: _checkpointcache_v1_TouchRequest, callback: grpc.requestCallback<_checkpointcache_v1_EntryInfo__Output>): grpc.ClientUnaryCall;
  
  Write(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientWritableStream<_checkpointcache_v1_WriteRequest>;
  Write(metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientWritableStream<_checkpointcache_v1_WriteRequest>;
  Write(options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientWritableStream<_checkpointcache_v1_WriteRequest>;
  Write(callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientWritableStream<_checkpointcache_v1_WriteRequest>;
  write(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientWritableStream<_checkpointcache_v1_WriteRequest>;
  write(metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientWritableStream<_checkpointcache_v1_WriteRequest>;
  write(options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientWritableStream<_checkpointcache_v1_WriteRequest>;
  write(callback: grpc.requestCallback<_checkpointcache_v1_WriteResponse__Output>): grpc.ClientWritableStream<_checkpointcache_v1_WriteRequest>;
  
  WriteBatch(argument: _checkpointcache_v1_WriteBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_WriteBatchResponse__Output>): grpc.ClientUnaryCall;
  WriteBatch(argument: _checkpointcache_v1_WriteBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_WriteBatchResponse__Output>): grpc.ClientUnaryCall;
  WriteBatch(argument: _checkpointcache_v1_WriteBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_WriteBatchResponse__Output>): grpc.ClientUnaryCall;
  WriteBatch(argument: _checkpointcache_v1_WriteBatchRequest, callback: grpc.requestCallback<_checkpointcache_v1_WriteBatchResponse__Output>): grpc.ClientUnaryCall;
  writeBatch(argument: _checkpointcache_v1_WriteBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_WriteBatchResponse__Output>): grpc.ClientUnaryCall;
  writeBatch(argument: _checkpointcache_v1_WriteBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_checkpointcache_v1_WriteBatchResponse__Output>): grpc.ClientUnaryCall;
  writeBatch(argument: _checkpointcache_v1_WriteBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_checkpointcache_v1_WriteBatchResponse__Output>): grpc.ClientUnaryCall;
  writeBatch(argument: _checkpointcache_v1_WriteBatchRequest, callback: grpc.requestCallback<_checkpointcache_v1_WriteBatchResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface CheckpointCacheHandlers extends grpc.UntypedServiceImplementation {
  Delete: grpc.handleUnaryCall<_checkpointcache_v1_DeleteRequest__Output, _checkpointcache_v1_DeleteResponse>;
  
  DeletePrefix: grpc.handleUnaryCall<_checkpointcache_v1_DeletePrefixRequest__Output, _checkpointcache_v1_DeletePrefixResponse>;
  
  Ingest: grpc.handleUnaryCall<_checkpointcache_v1_IngestRequest__Output, _checkpointcache_v1_WriteResponse>;
  
  Lease: grpc.handleUnaryCall<_checkpointcache_v1_LeaseRequest__Output, _checkpointcache_v1_LeaseResponse>;
  
  List: grpc.handleUnaryCall<_checkpointcache_v1_ListRequest__Output, _checkpointcache_v1_ListResponse>;
  
  Read: grpc.handleServerStreamingCall<_checkpointcache_v1_ReadRequest__Output, _checkpointcache_v1_ReadResponse>;
  
  Release: grpc.handleUnaryCall<_checkpointcache_v1_ReleaseRequest__Output, _checkpointcache_v1_ReleaseResponse>;
  
  ReportCorrupt: grpc.handleUnaryCall<_checkpointcache_v1_ReportCorruptRequest__Output, _checkpointcache_v1_ReportCorruptResponse>;
  
  Stat: grpc.handleUnaryCall<_checkpointcache_v1_StatRequest__Output, _checkpointcache_v1_EntryInfo>;
  
  Touch: grpc.handleUnaryCall<_checkpointcache_v1_TouchRequest__Output, _checkpointcache_v1_EntryInfo>;
  
  Write: grpc.handleClientStreamingCall<_checkpointcache_v1_WriteRequest__Output, _checkpointcache_v1_WriteResponse>;
  
  WriteBatch: grpc.handleUnaryCall<_checkpointcache_v1_WriteBatchRequest__Output, _checkpointcache_v1_WriteBatchResponse>;
  
}

export interface CheckpointCacheDefinition extends grpc.ServiceDefinition {
  Delete: MethodDefinition<_checkpointcache_v1_DeleteRequest, _checkpointcache_v1_DeleteResponse, _checkpointcache_v1_DeleteRequest__Output, _checkpointcache_v1_DeleteResponse__Output>
  DeletePrefix: MethodDefinition<_checkpointcache_v1_DeletePrefixRequest, _checkpointcache_v1_DeletePrefixResponse, _checkpointcache_v1_DeletePrefixRequest__Output, _checkpointcache_v1_DeletePrefixResponse__Output>
  Ingest: MethodDefinition<_checkpointcache_v1_IngestRequest, _checkpointcache_v1_WriteResponse, _checkpointcache_v1_IngestRequest__Output, _checkpointcache_v1_WriteResponse__Output>
  Lease: MethodDefinition<_checkpointcache_v1_LeaseRequest, _checkpointcache_v1_LeaseResponse, _checkpointcache_v1_LeaseRequest__Output, _checkpointcache_v1_LeaseResponse__Output>
  List: MethodDefinition<_checkpointcache_v1_ListRequest, _checkpointcache_v1_ListResponse, _checkpointcache_v1_ListRequest__Output, _checkpointcache_v1_ListResponse__Output>
  Read: MethodDefinition<_checkpointcache_v1_ReadRequest, _checkpointcache_v1_ReadResponse, _checkpointcache_v1_ReadRequest__Output, _checkpointcache_v1_ReadResponse__Output>
  Release: MethodDefinition<_checkpointcache_v1_ReleaseRequest, _checkpointcache_v1_ReleaseResponse, _checkpointcache_v1_ReleaseRequest__Output, _checkpointcache_v1_ReleaseResponse__Output>
  ReportCorrupt: MethodDefinition<_checkpointcache_v1_ReportCorruptRequest, _checkpointcache_v1_ReportCorruptResponse, _checkpointcache_v1_ReportCorruptRequest__Output, _checkpointcache_v1_ReportCorruptResponse__Output>
  Stat: MethodDefinition<_checkpointcache_v1_StatRequest, _checkpointcache_v1_EntryInfo, _checkpointcache_v1_StatRequest__Output, _checkpointcache_v1_EntryInfo__Output>
  Touch: MethodDefinition<_checkpointcache_v1_TouchRequest, _checkpointcache_v1_EntryInfo, _checkpointcache_v1_TouchRequest__Output, _checkpointcache_v1_EntryInfo__Output>
  Write: MethodDefinition<_checkpointcache_v1_WriteRequest, _checkpointcache_v1_WriteResponse, _checkpointcache_v1_WriteRequest__Output, _checkpointcache_v1_WriteResponse__Output>
  WriteBatch: MethodDefinition<_checkpointcache_v1_WriteBatchRequest, _checkpointcache_v1_WriteBatchResponse, _checkpointcache_v1_WriteBatchRequest__Output, _checkpointcache_v1_WriteBatchResponse__Output>
}
