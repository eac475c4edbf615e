/**
 * The bench's experiment-server process: ExperimentalReadService on a grpc-js server with the
 * agent's server options, in a process of its own like the agent. Started by ReadPathExperiments
 * as `node lib/experiment-server-main.js <file>`; prints `{"ready":"127.0.0.1:PORT"}` when it
 * serves, and exits on SIGTERM.
 * Owns: this process. Never: measuring.
 */
import * as grpc from '@grpc/grpc-js';
import { GRPC_SERVER_OPTIONS } from '@checkpoint-cache/node-agent';
import { ExperimentalReadService } from './experimental-read-service';

async function main(file: string): Promise<void> {
  const service = new ExperimentalReadService(file);
  await service.init();
  const server = new grpc.Server(GRPC_SERVER_OPTIONS);
  service.addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  process.on('SIGTERM', () => {
    server.forceShutdown();
    process.exit(0);
  });
  process.stdout.write(JSON.stringify({ ready: `127.0.0.1:${port}` }) + '\n');
}

main(process.argv[2] ?? '').catch((err: unknown) => {
  process.stderr.write(`experiment server: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
