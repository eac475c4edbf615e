/** One grpc.health.v1 Check call, with a client built from grpc-health-check's own definition. */
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

const HealthClient = grpc.makeGenericClientConstructor(
  healthService as unknown as grpc.ServiceDefinition,
  'Health',
);

type HealthCheck = (
  req: { service: string },
  options: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: { status: string }) => void,
) => void;

/** The status (`SERVING`, `NOT_SERVING`, ...) of `service` ('' = the whole agent) at `target`. */
export function healthCheck(
  target: string,
  service = '',
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<string> {
  const client = new HealthClient(target, credentials);
  const check = (client as unknown as { Check: HealthCheck }).Check.bind(client);
  return new Promise<string>((resolve, reject) => {
    check({ service }, { deadline: Date.now() + 5000 }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res?.status ?? '');
    });
  });
}
