// The seed tutorial's LVS topology, built out of network namespaces for `uvs lab` and the end-to-end tests.
// Names are unique to each run (`uvs-lab-<pid>-<hex>-<role>`) and teardown() removes every namespace, also
// from a process 'exit' hook. Addresses come only from 192.168.0.0/16 and live only inside the namespaces.
//
// NAT (-m): the seed's director has two NICs, "ens36" outside (VIP) and "ens33" inside (DIP), with the real
// servers in the DIP's subnet and their default route via the DIP. The seed puts both sides in
// 192.168.1.0/24, which only routes by accident; here the inside link keeps the seed's numbers (DIP
// 192.168.1.230, RIPs .200/.201) and the outside link is the seed's ds-script network 192.168.10.0/24. uvs
// owns 192.168.10.1 there as the client's gateway and the seed's VIP 192.168.1.231 as a /32, so the rules
// and `-Ln` read exactly as in the seed.
//
//   client               director (uvs)                          lan (bridge)      web01 / web02
//   eth0 192.168.10.100 -- eth0 [192.168.10.1/24, VIP .1.231/32]
//   route VIP via .10.1     eth1 [DIP 192.168.1.230/24] ---------- br0 ------------ eth0 192.168.1.200 / .201
//                                                                                   default via DIP
//
// DR (-g) and TUN (-i): one shared LAN, as in the seed. uvs owns the DIP and the VIP (/32) on one interface;
// the real servers hold the VIP on lo (DR) or on a TUN device (TUN) and answer the client directly. The
// seed's DR experiment uses its own VIP, 192.168.1.241: the DR director owns that one too, and the DR real
// servers hold both, so the seed's DR commands work as typed.
//
//   client eth0 192.168.1.100 --+
//   director eth0 [DIP 192.168.1.230/24, VIP 192.168.1.231/32, DR: 192.168.1.241/32] --+-- br0 (lan)
//   web01 eth0 192.168.1.200 ---+                               |
//   web02 eth0 192.168.1.201 -----------------------------------+
//
// The director's kernel is kept out of the way (docs/design.md): no kernel addresses on the datapath interfaces,
// ip_forward=0, an nftables netdev ingress drop on them when nft is installed (AF_PACKET taps run before
// that hook, so uvs still sees every frame), offloads off, rp_filter loose.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { SENDER_OFFLOADS_OFF, setOffloads } from '../io/offloads.js';
import { assertPrivate, COMMAND_TIMEOUT_MS, commandExists, nsRun, run, setNsSysctl } from './netns.js';

export type LabMode = 'nat' | 'dr' | 'tun';
export const LAB_MODES: readonly LabMode[] = ['nat', 'dr', 'tun'];

/** The ipvsadm forwarding flag of each mode (`-m` Masq, `-g` Route, `-i` Tunnel). */
export const FORWARD_FLAG: Readonly<Record<LabMode, string>> = { nat: '-m', dr: '-g', tun: '-i' };

export const SERVICE_PORT = 80;

/** The seed's addresses (see the top of this file for how NAT maps onto them). */
export const LAB_ADDRESSES = {
  vip: '192.168.1.231',
  /** The VIP of the seed's DR experiment (`ifconfig ens33:0 192.168.1.241 ...`). */
  drVip: '192.168.1.241',
  dip: '192.168.1.230',
  rips: ['192.168.1.200', '192.168.1.201'] as const,
  /** CIP on the shared LAN (DR, TUN). */
  cipLan: '192.168.1.100',
  /** NAT's outside link: the client, and the address uvs answers as its gateway. */
  cipOutside: '192.168.10.100',
  outsideGateway: '192.168.10.1',
} as const;

export interface LabServer {
  name: 'web01' | 'web02';
  ns: string;
  dev: string;
  rip: string;
}

export interface DirectorInterface {
  name: string;
  /** Addresses uvs owns on this link (never given to the kernel), as in the config file. */
  addresses: string[];
}

export interface LabTopology {
  readonly mode: LabMode;
  /** `uvs-lab-<pid>-<hex>`: what `uvs lab --remove` takes. */
  readonly name: string;
  /** The name and a dash: every namespace's name and the directory's start with it. */
  readonly prefix: string;
  readonly client: { ns: string; dev: string; cip: string };
  readonly director: { ns: string; interfaces: DirectorInterface[] };
  readonly servers: readonly LabServer[];
  /** The bridge namespace (the LAN switch). */
  readonly lanNs: string;
  /** The VIP the lab's own rules use. */
  readonly vip: string;
  /** Every VIP the director owns (as /32, on the client-facing interface) and the real servers are set up for. */
  readonly vips: readonly string[];
  readonly dip: string;
  readonly port: number;
  /** Temporary directory with the director's config and rules files. */
  readonly dir: string;
  readonly configPath: string;
  readonly rulesPath: string;
  /** The control socket the director config names (inside `dir`). */
  readonly controlSocket: string;
  /** Every namespace made, in creation order. */
  readonly namespaces: readonly string[];
  /** Things that could not be done here (no nft, no ethtool), one sentence each. */
  readonly notes: readonly string[];
  /** Deletes every namespace and the temporary directory; safe to call twice. */
  teardown(): void;
  /** The command that stops the lab's processes and removes it later (for `--keep`). */
  removeCommand(): string;
  /** Leaves the topology up when this process exits (`--keep`); teardown() still works. */
  keep(): void;
}

export interface TopologyOptions {
  /** Progress lines ("building the director ..."). */
  log?: (line: string) => void;
  /** Turn checksum/TSO/GSO offloads off on the hosts' veths (default true; through the ethtool ioctl). */
  offloadsOff?: boolean;
}

const liveTopologies = new Set<{ teardown(): void }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const t of liveTopologies) t.teardown();
  });
}

/** The rules file for the mode, in ipvsadm-save form: `-A -t VIP:80 -s rr` and one `-a` per real server. */
export function labRules(mode: LabMode, vip = LAB_ADDRESSES.vip, rips: readonly string[] = LAB_ADDRESSES.rips): string {
  const service = `${vip}:${SERVICE_PORT}`;
  const lines = [`-A -t ${service} -s rr`];
  for (const rip of rips) lines.push(`-a -t ${service} -r ${rip}:${SERVICE_PORT} ${FORWARD_FLAG[mode]} -w 1`);
  return `${lines.join('\n')}\n`;
}

/** The director's config (schema: the director configuration file) as YAML text. */
export function labConfigYaml(interfaces: readonly DirectorInterface[], dir: string): string {
  const config = {
    interfaces: interfaces.map((i) => ({ name: i.name, mac: 'auto', mtu: 'auto', addresses: i.addresses })),
    rules: 'rules.txt',
    control: join(dir, 'uvs.sock'),
    state: join(dir, 'rules.state'),
    io: { backend: 'afpacket', rx: 'mmsg', wake: 'poll', batch: 64 },
    conn: { capacity: 65536 },
  };
  return `# uvs director configuration written by \`uvs lab\`\n${stringify(config)}`;
}

/** Builds the topology for `mode`; on any failure removes what it had made and throws. */
export function buildTopology(mode: LabMode, options: TopologyOptions = {}): LabTopology {
  const log = options.log ?? (() => {});
  const name = `uvs-lab-${process.pid}-${randomBytes(3).toString('hex')}`;
  const prefix = `${name}-`;
  const namespaces: string[] = [];
  const notes: string[] = [];
  // Named after the lab, so that `uvs lab --remove NAME` finds it.
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let tornDown = false;
  const teardown = (): void => {
    if (tornDown) return;
    tornDown = true;
    // Reverse order: the LAN namespace last, after every host's veth end has gone with its namespace.
    for (let i = namespaces.length - 1; i >= 0; i--) {
      spawnSync('ip', ['netns', 'del', namespaces[i] as string], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS });
    }
    rmSync(dir, { recursive: true, force: true });
    liveTopologies.delete(handle);
  };
  const handle = { teardown };
  installExitHook();
  liveTopologies.add(handle);

  const hasNft = commandExists('nft', '--version');
  const offloadsOff = options.offloadsOff ?? true;

  const addNamespace = (role: string): string => {
    const ns = prefix + role;
    run('ip', ['netns', 'add', ns]);
    namespaces.push(ns);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // IPv6 router solicitations and DAD would only add noise to the captures and counters.
    setNsSysctl(ns, 'ipv6/conf/all/disable_ipv6', '1');
    setNsSysctl(ns, 'ipv6/conf/default/disable_ipv6', '1');
    return ns;
  };
  const senderOffloadsOff = (ns: string, dev: string): void => {
    if (offloadsOff) setOffloads(ns, dev, SENDER_OFFLOADS_OFF);
  };
  /** A veth from `dev` in `ns` to a port of the LAN bridge. */
  const plugIntoLan = (lanNs: string, ns: string, dev: string, port: string): void => {
    run('ip', ['-n', ns, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', port, 'netns', lanNs]);
    run('ip', ['-n', lanNs, 'link', 'set', port, 'master', 'br0']);
    run('ip', ['-n', lanNs, 'link', 'set', port, 'up']);
    run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    senderOffloadsOff(ns, dev);
  };
  const addAddress = (ns: string, dev: string, cidr: string): void => {
    assertPrivate(cidr);
    run('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', dev]);
  };

  try {
    const A = LAB_ADDRESSES;
    log(`building the ${mode.toUpperCase()} lab (namespaces ${prefix}*)`);
    const lanNs = addNamespace('lan');
    run('ip', ['-n', lanNs, 'link', 'add', 'br0', 'type', 'bridge']);
    run('ip', ['-n', lanNs, 'link', 'set', 'br0', 'up']);

    const clientNs = addNamespace('client');
    const directorNs = addNamespace('director');
    let cip: string;
    let directorInterfaces: DirectorInterface[];
    const vips: string[] = mode === 'dr' ? [A.vip, A.drVip] : [A.vip];
    if (mode === 'nat') {
      cip = A.cipOutside;
      run('ip', ['-n', clientNs, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', directorNs]);
      run('ip', ['-n', clientNs, 'link', 'set', 'eth0', 'up']);
      run('ip', ['-n', directorNs, 'link', 'set', 'eth0', 'up']);
      senderOffloadsOff(clientNs, 'eth0');
      senderOffloadsOff(directorNs, 'eth0');
      addAddress(clientNs, 'eth0', `${cip}/24`);
      assertPrivate(`${A.vip}/32`);
      run('ip', ['-n', clientNs, 'route', 'add', `${A.vip}/32`, 'via', A.outsideGateway]);
      plugIntoLan(lanNs, directorNs, 'eth1', 'p-director');
      directorInterfaces = [
        { name: 'eth0', addresses: [`${A.outsideGateway}/24`, `${A.vip}/32`] },
        { name: 'eth1', addresses: [`${A.dip}/24`] },
      ];
      log(`client ${cip} -- director eth0 [gateway ${A.outsideGateway}, VIP ${A.vip}] / eth1 [DIP ${A.dip}]`);
    } else {
      cip = A.cipLan;
      plugIntoLan(lanNs, clientNs, 'eth0', 'p-client');
      addAddress(clientNs, 'eth0', `${cip}/24`);
      plugIntoLan(lanNs, directorNs, 'eth0', 'p-director');
      directorInterfaces = [{ name: 'eth0', addresses: [`${A.dip}/24`, ...vips.map((v) => `${v}/32`)] }];
      log(`client ${cip} and director eth0 [DIP ${A.dip}, VIP ${vips.join(', ')}] on the shared LAN`);
    }
    for (const i of directorInterfaces) for (const a of i.addresses) assertPrivate(a);

    // The director's kernel must neither own nor forward what uvs handles in user space.
    setNsSysctl(directorNs, 'ipv4/ip_forward', '0');
    setNsSysctl(directorNs, 'ipv4/conf/all/forwarding', '0');
    setNsSysctl(directorNs, 'ipv4/conf/all/rp_filter', '2');
    if (hasNft) {
      const chains = directorInterfaces
        .map((i) => `  chain drop_${i.name} { type filter hook ingress device "${i.name}" priority 0; policy drop; }`)
        .join('\n');
      nsRun(directorNs, 'nft', ['-f', '-'], `table netdev uvs_lab {\n${chains}\n}\n`);
    } else {
      notes.push(
        "nft is not installed: the director's kernel still sees the captured frames (harmless with no addresses and ip_forward=0, but it costs CPU)",
      );
    }

    const servers: LabServer[] = [];
    for (const [i, name] of (['web01', 'web02'] as const).entries()) {
      const ns = addNamespace(name);
      const rip = A.rips[i] as string;
      plugIntoLan(lanNs, ns, 'eth0', `p-${name}`);
      addAddress(ns, 'eth0', `${rip}/24`);
      servers.push({ name, ns, dev: 'eth0', rip });
      log(`${name} ${rip}`);
    }

    const rulesPath = join(dir, 'rules.txt');
    const configPath = join(dir, 'uvs.yaml');
    writeFileSync(rulesPath, labRules(mode));
    writeFileSync(configPath, labConfigYaml(directorInterfaces, dir));
    log(`director config ${configPath}, rules ${rulesPath}`);

    return {
      mode,
      name,
      prefix,
      client: { ns: clientNs, dev: 'eth0', cip },
      director: { ns: directorNs, interfaces: directorInterfaces },
      servers,
      lanNs,
      vip: A.vip,
      vips,
      dip: A.dip,
      port: SERVICE_PORT,
      dir,
      configPath,
      rulesPath,
      controlSocket: join(dir, 'uvs.sock'),
      namespaces,
      notes,
      teardown,
      keep: () => {
        liveTopologies.delete(handle);
      },
      removeCommand: () => `uvs lab --remove ${name}`,
    };
  } catch (err) {
    teardown();
    throw err;
  }
}
