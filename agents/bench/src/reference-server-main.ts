/**
 * The bench's reference-server process: the raw TCP and Unix socket pipes (RawPipeServer) and the
 * constant grpc-js server (ConstantCheckpointCacheService, with the agent's server options), in a
 * process of their own so that, like the agent, they do not share the measuring client's core.
 * Started by ThroughputBench as `node lib/reference-server-main.js <json>`; prints one JSON line
 * with its addresses when it serves, and exits on SIGTERM.
 * Owns: this process. Never: measuring.
 */
import * as grpc from '@grpc/grpc-js';
import { GRPC_SERVER_OPTIONS } from '@checkpoint-cache/node-agent';
import { ConstantCheckpointCacheService } from './constant-checkpoint-cache-service';
import { RAW_PIPE_READ_SIZES, RawPipeServer, type RawPipeReadSize } from './raw-pipe-server';

export interface ReferenceServerArgs {
  /** The file the raw pipes send. */
  file: string;
  /** Where the raw Unix socket pipes listen: `<unixPath>.<read size>`. */
  unixPath: string;
  /** Keys and sizes of the constant gRPC entries. */
  constantSizes: Record<string, number>;
}

export interface ReferenceServerAddresses {
  /** One raw pipe per read size and transport. */
  tcp: Record<RawPipeReadSize, string>;
  unix: Record<RawPipeReadSize, string>;
  grpc: string;
}

async function main(args: ReferenceServerArgs): Promise<void> {
  const sizes = Object.keys(RAW_PIPE_READ_SIZES) as RawPipeReadSize[];
  const pipes = sizes.map((size) => ({
    size,
    tcp: new RawPipeServer(args.file, RAW_PIPE_READ_SIZES[size]),
    unix: new RawPipeServer(args.file, RAW_PIPE_READ_SIZES[size]),
  }));
  const tcp = {} as Record<RawPipeReadSize, string>;
  const unix = {} as Record<RawPipeReadSize, string>;
  for (const pipe of pipes) {
    tcp[pipe.size] = await pipe.tcp.listen({ port: 0 });
    unix[pipe.size] = await pipe.unix.listen({ path: `${args.unixPath}.${pipe.size}` });
  }
  const server = new grpc.Server(GRPC_SERVER_OPTIONS);
  new ConstantCheckpointCacheService(args.constantSizes).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const addresses: ReferenceServerAddresses = {
    tcp,
    unix,
    grpc: `127.0.0.1:${port}`,
  };
  process.on('SIGTERM', () => {
    server.forceShutdown();
    void Promise.all(pipes.flatMap((p) => [p.tcp.close(), p.unix.close()])).then(() =>
      process.exit(0),
    );
    setTimeout(() => process.exit(0), 2000).unref();
  });
  process.stdout.write(JSON.stringify({ ready: addresses }) + '\n');
}

main(JSON.parse(process.argv[2] ?? '{}') as ReferenceServerArgs).catch((err: unknown) => {
  process.stderr.write(`reference server: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
