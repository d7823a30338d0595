// The `/metrics` endpoint: Node's own http server, one path, read-only. Prometheus text by default,
// OpenMetrics when the Accept header asks for it. Every other path is 404 and every method but GET and HEAD
// is 405, so the endpoint can never be more than a window on the counters.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isLoopback, type ListenAddress } from '../config/listen.js';
import { type MetricsExposition, wantsOpenMetrics } from './registry.js';

export const METRICS_PATH = '/metrics';

export class MetricsServer {
  private constructor(private readonly server: Server) {}

  /** Listens on `listen`; rejects when the address cannot be had (in use, not this host's). */
  static start(
    listen: ListenAddress,
    exposition: MetricsExposition,
    onError: (err: Error) => void,
  ): Promise<MetricsServer> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== METRICS_PATH) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`only ${METRICS_PATH} is served\n`);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end();
        return;
      }
      exposition.render(wantsOpenMetrics(req.headers.accept)).then(
        ({ contentType, text }) => {
          res.writeHead(200, { 'content-type': contentType });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (err: Error) => {
          onError(err);
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n');
        },
      );
    });
    // A scraper never needs long: a client that hangs is cut off rather than holding a socket.
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        server.on('error', onError);
        resolve(new MetricsServer(server));
      });
    });
  }

  /** The address and port it listens on (the port the kernel chose when asked for 0). */
  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** The few log calls the endpoint makes (the daemon's pino logger is one). */
export interface MetricsLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/**
 * The daemon's endpoint at `listen`. The metrics are for watching the director, never a reason for it to
 * stop forwarding: an address it cannot have is logged and the daemon runs on without the endpoint (a
 * scraper then reports the target down). One that other hosts can reach is served, as the config asked, and
 * said so at start.
 */
export async function startMetricsEndpoint(
  listen: ListenAddress,
  exposition: MetricsExposition,
  log: MetricsLog,
): Promise<MetricsServer | undefined> {
  const where = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
  let server: MetricsServer;
  try {
    server = await MetricsServer.start(listen, exposition, (err) =>
      log.error({ err: err.message }, 'metrics endpoint: a request failed'),
    );
  } catch (err) {
    log.error({ metrics: where }, `metrics endpoint not started, cannot listen on ${where}: ${(err as Error).message}`);
    return undefined;
  }
  if (!isLoopback(listen.host)) {
    log.warn({ metrics: where }, `metrics endpoint on ${where} is reachable from other hosts (the config asks so)`);
  }
  log.info({ metrics: `http://${where}${METRICS_PATH}` }, 'metrics endpoint listening');
  return server;
}
