/**
 * A TCP port that was free on 127.0.0.1 a moment ago, for servers that must be told their port
 * (redis-server, agent child processes). Prefer port 0 wherever the server can report what it bound.
 * The bench has the same few lines: tests take no helpers from the bench, and the bench depends on
 * no test code.
 */
import * as net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
