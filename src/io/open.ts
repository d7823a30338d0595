// Opens the datapath's ports with the backend the director config names (`io.backend`), so that the daemon
// never names a backend class itself, and the choice (and its error messages) can be tested without root.
import { AfPacketPort } from './afpacket.js';
import { AfXdpPort } from './afxdp.js';
import { type CapImporter, LibpcapPort } from './libpcap.js';
import type { PacketPort } from './port.js';

export interface OpenPortsOptions {
  backend: string;
  /**
   * afpacket: receive through a TPACKET_V3 ring. afxdp: coalesce wake-ups over ~1 ms under load, the same
   * trade of latency for CPU (src/io/afxdp.ts).
   */
  ring?: boolean;
  /** How to load the optional `cap` package; tests replace it to play a machine without it. */
  importCap?: CapImporter;
}

/** Opening ports failed for a reason the operator can fix; the message says how. */
export class PortOpenError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PortOpenError';
    this.code = code;
  }
}

/**
 * Opens one port per interface with the backend the config names. When one fails, those already open are
 * closed again and the error (AfPacketError, AfXdpError, LibpcapError or PortOpenError) is passed on.
 */
export async function openPorts(ifnames: readonly string[], options: OpenPortsOptions): Promise<PacketPort[]> {
  const ports: PacketPort[] = [];
  try {
    switch (options.backend) {
      case 'afpacket':
        for (const name of ifnames) ports.push(AfPacketPort.open(name, { ring: options.ring ?? false }));
        break;
      case 'afxdp':
        for (const name of ifnames) ports.push(AfXdpPort.open(name, { coalesce: options.ring ?? false }));
        break;
      case 'pcap':
        for (const name of ifnames) ports.push(await LibpcapPort.open(name, { importCap: options.importCap }));
        break;
      default:
        throw new PortOpenError(
          `uvs: unknown io.backend "${options.backend}"; use afpacket (the default) or pcap (libpcap through \`cap\`), or afxdp (AF_XDP)`,
          'EINVAL',
        );
    }
  } catch (err) {
    for (const port of ports) port.close();
    throw err;
  }
  return ports;
}
