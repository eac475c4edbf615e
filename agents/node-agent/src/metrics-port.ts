/**
 * The agent's plaintext HTTP port (--metrics-listen): `GET /metrics` in the Prometheus text
 * format, and the kubelet's probes, which cannot present a client certificate and so cannot use
 * the gRPC port once it speaks mutual TLS:
 * - `GET /healthz`: 200 `ok` whenever the process answers (liveness: only a hung or dead agent
 *   fails it; a draining one passes, so the kubelet does not kill it mid-drain);
 * - `GET /readyz`: 200 when every check of AgentHealth passes, else 503; the body lists each
 *   check with `ok` or why not, one per line.
 * Owns: the HTTP server and its routes. Never: what a metric or a check means (agent-metrics.ts,
 * agent-health.ts), anything but GET.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { AgentHealth } from './agent-health';
import type { AgentMetrics } from './agent-metrics';

export interface MetricsPort {
  /** `host:port` actually bound. */
  address: string;
  close(): Promise<void>;
}

const TEXT = { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' };

/**
 * Serves /metrics, /healthz and /readyz on `listen` (`host:port`, from --metrics-listen); resolves
 * once bound, rejects with a CacheError naming the option when it cannot listen.
 */
export async function serveMetricsPort(
  listen: string,
  parts: { metrics: AgentMetrics; health: AgentHealth },
): Promise<MetricsPort> {
  const { metrics, health } = parts;
  const server = http.createServer((req, res) => {
    const route = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { ...TEXT, Allow: 'GET' }).end('GET only\n');
    } else if (route === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, TEXT).end(err.message),
      );
    } else if (route === '/healthz') {
      res.writeHead(200, TEXT).end('ok\n');
    } else if (route === '/readyz') {
      void health.readiness().then(({ ready, checks }) => {
        const lines = checks.map((c) => `${c.name}: ${c.detail}`);
        res
          .writeHead(ready ? 200 : 503, TEXT)
          .end([ready ? 'ready' : 'not ready', ...lines, ''].join('\n'));
      });
    } else {
      res.writeHead(404, TEXT).end('see /metrics, /healthz, /readyz\n');
    }
  });
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(colon + 1));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: Error) => {
    throw new CacheError(
      ErrorCode.Unavailable,
      `cannot serve metrics on --metrics-listen ${listen}: ${err.message}`,
      { cause: err },
    );
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    address: `${listen.slice(0, colon)}:${bound}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
