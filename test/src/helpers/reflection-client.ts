/**
 * Raw gRPC server reflection requests (grpc.reflection.v1 or v1alpha), with clients built from
 * the reflection.proto files @grpc/reflection ships; for checks below what grpcurl shows, such
 * as file names and exact descriptor bytes.
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export type ReflectionVersion = 'v1' | 'v1alpha';

export interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  all_extension_numbers_response?: { base_type_name: string; extension_number: number[] };
  error_response?: { error_code: number; error_message: string };
}

/** One message_request of ServerReflectionRequest, in the proto's own (snake_case) names. */
export type ReflectionRequest =
  | { list_services: string }
  | { file_by_filename: string }
  | { file_containing_symbol: string }
  | { file_containing_extension: { containing_type: string; extension_number: number } }
  | { all_extension_numbers_of_type: string };

type ReflectionClient = grpc.Client & {
  ServerReflectionInfo: () => grpc.ClientDuplexStream<ReflectionRequest, ReflectionResponse>;
};

const constructors = new Map<ReflectionVersion, grpc.ServiceClientConstructor>();

function clientConstructor(version: ReflectionVersion): grpc.ServiceClientConstructor {
  let made = constructors.get(version);
  if (!made) {
    const file = path.join(
      path.dirname(require.resolve('@grpc/reflection/package.json')),
      'build',
      'proto',
      'grpc',
      'reflection',
      version,
      'reflection.proto',
    );
    // keepCase: these requests and responses are written in the proto's own names.
    const definition = protoLoader.loadSync(file, {
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: false,
      oneofs: true,
    });
    made = grpc.makeGenericClientConstructor(
      definition[`grpc.reflection.${version}.ServerReflection`] as grpc.ServiceDefinition,
      'ServerReflection',
    );
    constructors.set(version, made);
  }
  return made;
}

/** One request on a new bidirectional reflection stream, and its one response. */
export function reflect(
  target: string,
  request: ReflectionRequest,
  version: ReflectionVersion = 'v1',
): Promise<ReflectionResponse> {
  const Client = clientConstructor(version);
  const client = new Client(
    target,
    grpc.credentials.createInsecure(),
  ) as unknown as ReflectionClient;
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.once('data', (res: ReflectionResponse) => {
      call.end();
      client.close();
      resolve(res);
    });
    call.once('error', (err) => {
      client.close();
      reject(err);
    });
    call.write(request);
  });
}
