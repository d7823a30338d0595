import { describe, expect, it } from 'vitest';
import { formatProblems, type HostReader, LARGEST_MTU, preflight } from '../../src/daemon/preflight.js';
import { FRAME_SPACE } from '../../src/io/batch.js';
import { parseIpv4Address } from '../../src/wire/addr.js';

const vip = parseIpv4Address('192.168.1.231')!;
const dip = parseIpv4Address('192.168.2.1')!;

function host(files: Record<string, string>, kernel: { dev: string; addr: number; prefix: number }[] = []): HostReader {
  return { readFile: (path) => files[path], kernelAddresses: () => kernel };
}

const healthy = {
  '/sys/class/net/eth0/flags': '0x1003\n',
  '/proc/sys/net/ipv4/conf/eth0/forwarding': '0\n',
  '/proc/sys/net/ipv4/conf/eth0/rp_filter': '2\n',
  '/sys/class/net/eth1/flags': '0x1003\n',
  '/proc/sys/net/ipv4/conf/eth1/forwarding': '0\n',
  '/proc/sys/net/ipv4/conf/eth1/rp_filter': '0\n',
};
const ifaces = [
  { name: 'eth0', addresses: [{ addr: vip, prefix: 24 }] },
  { name: 'eth1', addresses: [{ addr: dip, prefix: 24 }] },
];

describe('preflight', () => {
  it('finds nothing wrong with a host prepared as docs/design.md says', () => {
    expect(preflight(ifaces, host(healthy, [{ dev: 'lo', addr: parseIpv4Address('127.0.0.1')!, prefix: 8 }]))).toEqual(
      [],
    );
  });

  it('names each problem with the command that fixes it', () => {
    const problems = preflight(
      ifaces,
      host(
        {
          ...healthy,
          '/sys/class/net/eth1/flags': '0x1002\n',
          '/proc/sys/net/ipv4/conf/eth0/forwarding': '1\n',
          '/proc/sys/net/ipv4/conf/eth0/rp_filter': '1\n',
        },
        [{ dev: 'eth1', addr: dip, prefix: 24 }],
      ),
    );
    expect(formatProblems(problems)).toBe(
      [
        'error: the kernel forwards IPv4 on eth0: it would route copies of the packets uvs forwards -- fix: sysctl -w net.ipv4.conf.eth0.forwarding=0 (net.ipv4.ip_forward=1 turns it on for every interface)',
        'warning: strict rp_filter on eth0 can drop the asymmetric DR/TUN paths -- fix: sysctl -w net.ipv4.conf.eth0.rp_filter=2',
        'error: interface eth1 is down -- fix: ip link set eth1 up',
        'error: the kernel holds 192.168.2.1 on eth1, which uvs owns: the kernel would answer ARP and reset connections for it -- fix: ip addr del 192.168.2.1/24 dev eth1',
        '',
      ].join('\n'),
    );
  });

  it('reports a missing interface and skips its other checks', () => {
    const problems = preflight([{ name: 'nope0', addresses: [] }], host({}));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ severity: 'error', message: expect.stringMatching(/nope0 does not exist/) });
  });
});

describe('preflight: interface MTU against the frame slot', () => {
  it('refuses an interface whose MTU (configured or the kernel one) makes frames longer than a slot', () => {
    const big = { ...healthy, '/sys/class/net/eth1/mtu': '9000\n', '/sys/class/net/eth0/mtu': '1500\n' };
    const configured = [
      { ...ifaces[0]!, mtu: LARGEST_MTU + 1 },
      { ...ifaces[1]!, mtu: 1500 },
    ];
    expect(formatProblems(preflight(configured, host(big)))).toBe(
      [
        `error: interface eth0 has MTU ${LARGEST_MTU + 1} in the config; uvs forwards frames of at most ${FRAME_SPACE} bytes (MTU ${LARGEST_MTU}), and larger ones would be dropped -- fix: ip link set eth0 mtu 1500, and mtu: 1500 (or auto) for eth0 in the config`,
        `error: interface eth1 has MTU 9000; uvs forwards frames of at most ${FRAME_SPACE} bytes (MTU ${LARGEST_MTU}), and larger ones would be dropped -- fix: ip link set eth1 mtu 1500`,
        '',
      ].join('\n'),
    );
  });

  it('accepts the largest MTU whose frames fit a slot, and names an interface once', () => {
    expect(LARGEST_MTU + 14).toBe(FRAME_SPACE);
    const atLimit = { ...healthy, '/sys/class/net/eth0/mtu': `${LARGEST_MTU}\n` };
    expect(preflight([{ ...ifaces[0]!, mtu: LARGEST_MTU }], host(atLimit))).toEqual([]);
    const jumbo = { ...healthy, '/sys/class/net/eth0/mtu': '9000\n' };
    const problems = preflight([{ ...ifaces[0]!, mtu: 9000 }], host(jumbo));
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toMatch(/^interface eth0 has MTU 9000 in the config;/);
  });
});
