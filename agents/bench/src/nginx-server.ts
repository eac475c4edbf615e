/**
 * nginx, the peer a user might deploy instead of the agent: serves a folder over HTTP from disk
 * with sendfile and Range support. Runs as the bench's own process (`daemon off`) with a
 * generated config, pid file, logs and temp paths in a private dir, on one address the bench
 * chose; optionally inside a network namespace (the remote store behind the shaped link).
 * Owns: its config and process. Never: the system's nginx configuration or service.
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ManagedChild } from './managed-child';

export interface NginxOptions {
  /** Folder served at `/`. */
  root: string;
  /** Private dir for config, pid, logs and temp files. */
  dir: string;
  host: string;
  port: number;
  /** Run inside this network namespace (`ip netns exec`). */
  netns?: string;
}

export const NGINX_INSTALL_HINT = 'apt-get install -y nginx-light (or nginx)';
const START_TIMEOUT_MS = 10_000;

export class NginxServer {
  private constructor(
    private readonly child: ManagedChild,
    /** `http://host:port` */
    readonly url: string,
  ) {}

  /** The nginx executable, or undefined when it is not installed. */
  static async find(): Promise<string | undefined> {
    const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin'];
    for (const dir of dirs) {
      if (!dir) continue;
      const candidate = path.join(dir, 'nginx');
      try {
        await fs.access(candidate, fsConstants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
    return undefined;
  }

  /** `nginx -v`'s version, e.g. `1.22.1`. */
  static async version(executable: string): Promise<string> {
    const child = ManagedChild.spawn({ name: 'nginx -v', command: executable, args: ['-v'] });
    const version = await child
      .waitForLine((line) => /nginx\/(\S+)/.exec(line)?.[1], 5000)
      .catch(() => 'unknown');
    await child.stop();
    return version;
  }

  static async start(executable: string, options: NginxOptions): Promise<NginxServer> {
    await fs.mkdir(options.dir, { recursive: true });
    const conf = path.join(options.dir, 'nginx.conf');
    await fs.writeFile(conf, config(options));
    const nginxArgs = ['-p', options.dir, '-e', path.join(options.dir, 'error.log'), '-c', conf];
    const child = ManagedChild.spawn({
      name: `nginx on ${options.host}:${options.port}`,
      ...(options.netns
        ? { command: 'ip', args: ['netns', 'exec', options.netns, executable, ...nginxArgs] }
        : { command: executable, args: nginxArgs }),
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await accepts(options.host, options.port))) {
      if (!child.running || Date.now() > deadline) {
        const log = await fs.readFile(path.join(options.dir, 'error.log'), 'utf8').catch(() => '');
        await child.stop();
        throw child.failure(`did not start serving${log ? `; error.log:\n${log}` : ''}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return new NginxServer(child, `http://${options.host}:${options.port}`);
  }

  /** The master process (`ip netns exec` execs nginx, so it is the child itself). */
  get pid(): number {
    return this.child.pid;
  }

  /** SIGQUIT is nginx's graceful stop; the group is killed after a moment in any case. */
  stop(): Promise<void> {
    return this.child.stop('SIGQUIT', 5000);
  }
}

function config(o: NginxOptions): string {
  const tmp = (name: string): string => path.join(o.dir, name);
  // One worker: the agent is one event loop too, and the machine has two cores, one of which the
  // measuring client needs.
  return `daemon off;
master_process on;
worker_processes 1;
pid ${tmp('nginx.pid')};
error_log ${tmp('error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_body_temp_path ${tmp('client_body')};
  proxy_temp_path ${tmp('proxy')};
  fastcgi_temp_path ${tmp('fastcgi')};
  uwsgi_temp_path ${tmp('uwsgi')};
  scgi_temp_path ${tmp('scgi')};
  types { }
  default_type application/octet-stream;
  server {
    listen ${o.host}:${o.port};
    root ${o.root};
    location / { }
  }
}
`;
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(500, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
