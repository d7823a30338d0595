// Where the metrics endpoint listens: `metrics: HOST:PORT` in the director config. HOST is an IP address
// (`[...]` around an IPv6 one) or `localhost`; nothing else, so a typo never becomes a name lookup that binds
// somewhere unexpected. It lives with the config, not with src/metrics, because the config must not import
// what serves the metrics (that would close a folder cycle through control and the datapath).
import { isIP } from 'node:net';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** The address `metrics:` usually names: loopback, one above node_exporter's 9100 range of exporters. */
export const EXAMPLE_METRICS_LISTEN = '127.0.0.1:9477';

/** `127.0.0.1:9477`, `[::1]:9477` or `localhost:9477`; a string naming the problem when it is none of those. */
export function parseListenAddress(text: string): ListenAddress | string {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (m === null) return `"${text}" is not HOST:PORT (for example ${EXAMPLE_METRICS_LISTEN})`;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (m[1] !== undefined ? isIP(host) !== 6 : isIP(host) !== 4 && host !== 'localhost') {
    return `"${host}" is not an IP address (nor localhost)`;
  }
  if (port < 1 || port > 65535) return `port ${m[3]} is not in 1..65535`;
  return { host, port };
}

/** Whether only this machine can reach the address (127/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}
