/**
 * A TCP port that was free on 127.0.0.1 a moment ago. Prefer listening on port 0 when the server
 * allows it; this is for servers that must be told a port (redis-server).
 */
import * as net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
