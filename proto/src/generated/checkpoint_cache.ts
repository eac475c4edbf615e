import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { CheckpointCacheClient as _checkpointcache_v1_CheckpointCacheClient, CheckpointCacheDefinition as _checkpointcache_v1_CheckpointCacheDefinition } from './checkpointcache/v1/CheckpointCache';
import type { Chunk as _checkpointcache_v1_Chunk, Chunk__Output as _checkpointcache_v1_Chunk__Output } from './checkpointcache/v1/Chunk';
import type { DeletePrefixRequest as _checkpointcache_v1_DeletePrefixRequest, DeletePrefixRequest__Output as _checkpointcache_v1_DeletePrefixRequest__Output } from './checkpointcache/v1/DeletePrefixRequest';
import type { DeletePrefixResponse as _checkpointcache_v1_DeletePrefixResponse, DeletePrefixResponse__Output as _checkpointcache_v1_DeletePrefixResponse__Output } from './checkpointcache/v1/DeletePrefixResponse';
import type { DeleteRequest as _checkpointcache_v1_DeleteRequest, DeleteRequest__Output as _checkpointcache_v1_DeleteRequest__Output } from './checkpointcache/v1/DeleteRequest';
import type { DeleteResponse as _checkpointcache_v1_DeleteResponse, DeleteResponse__Output as _checkpointcache_v1_DeleteResponse__Output } from './checkpointcache/v1/DeleteResponse';
import type { EntryInfo as _checkpointcache_v1_EntryInfo, EntryInfo__Output as _checkpointcache_v1_EntryInfo__Output } from './checkpointcache/v1/EntryInfo';
import type { IngestRequest as _checkpointcache_v1_IngestRequest, IngestRequest__Output as _checkpointcache_v1_IngestRequest__Output } from './checkpointcache/v1/IngestRequest';
import type { LeaseRequest as _checkpointcache_v1_LeaseRequest, LeaseRequest__Output as _checkpointcache_v1_LeaseRequest__Output } from './checkpointcache/v1/LeaseRequest';
import type { LeaseResponse as _checkpointcache_v1_LeaseResponse, LeaseResponse__Output as _checkpointcache_v1_LeaseResponse__Output } from './checkpointcache/v1/LeaseResponse';
import type { ListRequest as _checkpointcache_v1_ListRequest, ListRequest__Output as _checkpointcache_v1_ListRequest__Output } from './checkpointcache/v1/ListRequest';
import type { ListResponse as _checkpointcache_v1_ListResponse, ListResponse__Output as _checkpointcache_v1_ListResponse__Output } from './checkpointcache/v1/ListResponse';
import type { ReadHeader as _checkpointcache_v1_ReadHeader, ReadHeader__Output as _checkpointcache_v1_ReadHeader__Output } from './checkpointcache/v1/ReadHeader';
import type { ReadRequest as _checkpointcache_v1_ReadRequest, ReadRequest__Output as _checkpointcache_v1_ReadRequest__Output } from './checkpointcache/v1/ReadRequest';
import type { ReadResponse as _checkpointcache_v1_ReadResponse, ReadResponse__Output as _checkpointcache_v1_ReadResponse__Output } from './checkpointcache/v1/ReadResponse';
import type { ReleaseRequest as _checkpointcache_v1_ReleaseRequest, ReleaseRequest__Output as _checkpointcache_v1_ReleaseRequest__Output } from './checkpointcache/v1/ReleaseRequest';
import type { ReleaseResponse as _checkpointcache_v1_ReleaseResponse, ReleaseResponse__Output as _checkpointcache_v1_ReleaseResponse__Output } from './checkpointcache/v1/ReleaseResponse';
import type { ReportCorruptRequest as _checkpointcache_v1_ReportCorruptRequest, ReportCorruptRequest__Output as _checkpointcache_v1_ReportCorruptRequest__Output } from './checkpointcache/v1/ReportCorruptRequest';
import type { ReportCorruptResponse as _checkpointcache_v1_ReportCorruptResponse, ReportCorruptResponse__Output as _checkpointcache_v1_ReportCorruptResponse__Output } from './checkpointcache/v1/ReportCorruptResponse';
import type { StatRequest as _checkpointcache_v1_StatRequest, StatRequest__Output as _checkpointcache_v1_StatRequest__Output } from './checkpointcache/v1/StatRequest';
import type { TouchRequest as _checkpointcache_v1_TouchRequest, TouchRequest__Output as _checkpointcache_v1_TouchRequest__Output } from './checkpointcache/v1/TouchRequest';
import type { WriteBatchItem as _checkpointcache_v1_WriteBatchItem, WriteBatchItem__Output as _checkpointcache_v1_WriteBatchItem__Output } from './checkpointcache/v1/WriteBatchItem';
import type { WriteBatchRequest as _checkpointcache_v1_WriteBatchRequest, WriteBatchRequest__Output as _checkpointcache_v1_WriteBatchRequest__Output } from './checkpointcache/v1/WriteBatchRequest';
import type { WriteBatchResponse as _checkpointcache_v1_WriteBatchResponse, WriteBatchResponse__Output as _checkpointcache_v1_WriteBatchResponse__Output } from './checkpointcache/v1/WriteBatchResponse';
import type { WriteBatchResult as _checkpointcache_v1_WriteBatchResult, WriteBatchResult__Output as _checkpointcache_v1_WriteBatchResult__Output } from './checkpointcache/v1/WriteBatchResult';
import type { WriteHeader as _checkpointcache_v1_WriteHeader, WriteHeader__Output as _checkpointcache_v1_WriteHeader__Output } from './checkpointcache/v1/WriteHeader';
import type { WriteRequest as _checkpointcache_v1_WriteRequest, WriteRequest__Output as _checkpointcache_v1_WriteRequest__Output } from './checkpointcache/v1/WriteRequest';
import type { WriteResponse as _checkpointcache_v1_WriteResponse, WriteResponse__Output as _checkpointcache_v1_WriteResponse__Output } from './checkpointcache/v1/WriteResponse';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  checkpointcache: {
    v1: {
      CheckpointCache: SubtypeConstructor<typeof grpc.Client, _checkpointcache_v1_CheckpointCacheClient> & { service: _checkpointcache_v1_CheckpointCacheDefinition }
      Chunk: MessageTypeDefinition<_checkpointcache_v1_Chunk, _checkpointcache_v1_Chunk__Output>
      DeletePrefixRequest: MessageTypeDefinition<_checkpointcache_v1_DeletePrefixRequest, _checkpointcache_v1_DeletePrefixRequest__Output>
      DeletePrefixResponse: MessageTypeDefinition<_checkpointcache_v1_DeletePrefixResponse, _checkpointcache_v1_DeletePrefixResponse__Output>
      DeleteRequest: MessageTypeDefinition<_checkpointcache_v1_DeleteRequest, _checkpointcache_v1_DeleteRequest__Output>
      DeleteResponse: MessageTypeDefinition<_checkpointcache_v1_DeleteResponse, _checkpointcache_v1_DeleteResponse__Output>
      EntryInfo: MessageTypeDefinition<_checkpointcache_v1_EntryInfo, _checkpointcache_v1_EntryInfo__Output>
      IngestRequest: MessageTypeDefinition<_checkpointcache_v1_IngestRequest, _checkpointcache_v1_IngestRequest__Output>
      LeaseRequest: MessageTypeDefinition<_checkpointcache_v1_LeaseRequest, _checkpointcache_v1_LeaseRequest__Output>
      LeaseResponse: MessageTypeDefinition<_checkpointcache_v1_LeaseResponse, _checkpointcache_v1_LeaseResponse__Output>
      ListRequest: MessageTypeDefinition<_checkpointcache_v1_ListRequest, _checkpointcache_v1_ListRequest__Output>
      ListResponse: MessageTypeDefinition<_checkpointcache_v1_ListResponse, _checkpointcache_v1_ListResponse__Output>
      ReadHeader: MessageTypeDefinition<_checkpointcache_v1_ReadHeader, _checkpointcache_v1_ReadHeader__Output>
      ReadRequest: MessageTypeDefinition<_checkpointcache_v1_ReadRequest, _checkpointcache_v1_ReadRequest__Output>
      ReadResponse: MessageTypeDefinition<_checkpointcache_v1_ReadResponse, _checkpointcache_v1_ReadResponse__Output>
      ReleaseRequest: MessageTypeDefinition<_checkpointcache_v1_ReleaseRequest, _checkpointcache_v1_ReleaseRequest__Output>
      ReleaseResponse: MessageTypeDefinition<_checkpointcache_v1_ReleaseResponse, _checkpointcache_v1_ReleaseResponse__Output>
      ReportCorruptRequest: MessageTypeDefinition<_checkpointcache_v1_ReportCorruptRequest, _checkpointcache_v1_ReportCorruptRequest__Output>
      ReportCorruptResponse: MessageTypeDefinition<_checkpointcache_v1_ReportCorruptResponse, _checkpointcache_v1_ReportCorruptResponse__Output>
      Source: EnumTypeDefinition
      StatRequest: MessageTypeDefinition<_checkpointcache_v1_StatRequest, _checkpointcache_v1_StatRequest__Output>
      TouchRequest: MessageTypeDefinition<_checkpointcache_v1_TouchRequest, _checkpointcache_v1_TouchRequest__Output>
      WriteBatchItem: MessageTypeDefinition<_checkpointcache_v1_WriteBatchItem, _checkpointcache_v1_WriteBatchItem__Output>
      WriteBatchRequest: MessageTypeDefinition<_checkpointcache_v1_WriteBatchRequest, _checkpointcache_v1_WriteBatchRequest__Output>
      WriteBatchResponse: MessageTypeDefinition<_checkpointcache_v1_WriteBatchResponse, _checkpointcache_v1_WriteBatchResponse__Output>
      WriteBatchResult: MessageTypeDefinition<_checkpointcache_v1_WriteBatchResult, _checkpointcache_v1_WriteBatchResult__Output>
      WriteHeader: MessageTypeDefinition<_checkpointcache_v1_WriteHeader, _checkpointcache_v1_WriteHeader__Output>
      WriteRequest: MessageTypeDefinition<_checkpointcache_v1_WriteRequest, _checkpointcache_v1_WriteRequest__Output>
      WriteResponse: MessageTypeDefinition<_checkpointcache_v1_WriteResponse, _checkpointcache_v1_WriteResponse__Output>
    }
  }
}

