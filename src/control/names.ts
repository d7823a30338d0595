// Host and service names for listings without `-n`, resolved the way ipvsadm resolves them
// (addr_to_anyname(): gethostbyaddr; port_to_anyname(): getservbyport(port, "tcp"|"udp"|"sctp")), with a
// numeric fallback, but bounded in time: ipvsadm can hang for the resolver's full retry cycle per address,
// while a uvsadm listing must come back within about a second whatever the network does.
//
// The listing code is synchronous and takes a NameLookup; the handler first runs it with a RecordingNames to
// learn which addresses and ports it will print, resolves exactly those (in parallel, under one deadline),
// then runs it again with the answers.

import { Resolver } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { IpProto } from '../constants.js';
import { ipv4ToString } from '../wire/addr.js';

/** What the listing code asks for. */
export interface NameLookup {
  /** The name printed for an IPv4 address (host order). */
  host(addr: number): string;
  /** The name printed for a port of protocol `proto` (IpProto; 0 for fwmark templates). */
  service(port: number, proto: number): string;
}

/** `-n`: addresses and ports as numbers. */
export const NUMERIC_NAMES: NameLookup = {
  host: ipv4ToString,
  service: (port) => String(port),
};

/** Numeric answers, while noting every address and (port, proto) asked for. */
export class RecordingNames implements NameLookup {
  readonly addrs = new Set<number>();
  /** Keys `${port}/${proto}`. */
  readonly ports = new Set<string>();

  host(addr: number): string {
    this.addrs.add(addr);
    return ipv4ToString(addr);
  }

  service(port: number, proto: number): string {
    this.ports.add(`${port}/${proto}`);
    return String(port);
  }
}

/** Resolved names, with the numeric form for anything not found. */
export class ResolvedNames implements NameLookup {
  constructor(
    private readonly hosts: ReadonlyMap<number, string>,
    private readonly services: ReadonlyMap<string, string>,
  ) {}

  host(addr: number): string {
    return this.hosts.get(addr) ?? ipv4ToString(addr);
  }

  service(port: number, proto: number): string {
    return this.services.get(`${port}/${protoKeyword(proto)}`) ?? String(port);
  }
}

/** The protocol word of /etc/services for an IpProto value ('' when getservbyport is not asked). */
function protoKeyword(proto: number): string {
  return proto === IpProto.tcp ? 'tcp' : proto === IpProto.udp ? 'udp' : proto === IpProto.sctp ? 'sctp' : '';
}

/**
 * /etc/services as getservbyport() reads it: `name port/proto [aliases] [# comment]`; the first line for a
 * (port, proto) wins. Keys are `${port}/${proto}`.
 */
export function parseServicesFile(text: string): Map<string, string> {
  const byPort = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [name, portProto] = line.split(/\s+/);
    const m = /^(\d{1,5})\/([a-z0-9]+)$/i.exec(portProto ?? '');
    if (name === undefined || m === null) continue;
    const key = `${Number(m[1])}/${m[2]!.toLowerCase()}`;
    if (!byPort.has(key)) byPort.set(key, name);
  }
  return byPort;
}

/**
 * /etc/hosts as gethostbyaddr() reads it for IPv4 ("files" before "dns" in nsswitch): the canonical name is
 * the first name on the first line for the address.
 */
export function parseHostsFile(text: string): Map<number, string> {
  const byAddr = new Map<number, string>();
  for (const raw of text.split('\n')) {
    const [addrText, name] = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (addrText === undefined || name === undefined) continue;
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addrText);
    if (m === null) continue;
    const octets = m.slice(1).map(Number);
    if (octets.some((o) => o > 255)) continue;
    const addr = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
    if (!byAddr.has(addr)) byAddr.set(addr, name);
  }
  return byAddr;
}

export interface SystemResolverOptions {
  servicesPath?: string;
  hostsPath?: string;
  /** DNS servers to ask instead of /etc/resolv.conf's (tests). */
  dnsServers?: readonly string[];
  /** Everything (files and DNS, all addresses in parallel) must be answered within this; then numeric. */
  deadlineMs?: number;
}

/** Turns the addresses and ports a listing prints into names. */
export type NameResolver = (addrs: ReadonlySet<number>, ports: ReadonlySet<string>) => Promise<NameLookup>;

async function readOptional(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * The resolver ipvsadm uses, bounded: services from /etc/services, hosts from /etc/hosts then reverse DNS
 * (PTR). A lookup that has not answered by the deadline prints numerically.
 */
export function systemResolver(options: SystemResolverOptions = {}): NameResolver {
  const deadlineMs = options.deadlineMs ?? 1000;
  return async (addrs, ports) => {
    const [servicesText, hostsText] = await Promise.all([
      readOptional(options.servicesPath ?? '/etc/services'),
      readOptional(options.hostsPath ?? '/etc/hosts'),
    ]);
    const services = parseServicesFile(servicesText);
    const fromFile = parseHostsFile(hostsText);
    const hosts = new Map<number, string>();
    const pending: number[] = [];
    for (const addr of addrs) {
      const name = fromFile.get(addr);
      if (name !== undefined) hosts.set(addr, name);
      else pending.push(addr);
    }
    if (pending.length > 0) {
      // c-ares' own timeout bounds each query; the race bounds the whole listing even if it misbehaves.
      const resolver = new Resolver({ timeout: deadlineMs, tries: 1 });
      if (options.dnsServers !== undefined) resolver.setServers([...options.dnsServers]);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, deadlineMs);
      });
      const lookups = pending.map(async (addr) => {
        try {
          const [name] = await resolver.reverse(ipv4ToString(addr));
          if (name !== undefined && name !== '') hosts.set(addr, name);
        } catch {
          // No PTR record, no server, refused: ipvsadm prints the number.
        }
      });
      await Promise.race([Promise.all(lookups), deadline]);
      clearTimeout(timer);
      resolver.cancel();
    }
    // Names are looked up per protocol; `ports` is only the set the listing asked for.
    const asked = new Map<string, string>();
    for (const key of ports) {
      const [port, proto] = key.split('/');
      const word = protoKeyword(Number(proto));
      const name = word === '' ? undefined : services.get(`${port}/${word}`);
      if (name !== undefined) asked.set(`${port}/${word}`, name);
    }
    // A copy: answers arriving after the deadline must not change a listing half-way.
    return new ResolvedNames(new Map(hosts), asked);
  };
}
