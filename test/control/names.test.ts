// Name resolution without -n: /etc/services and /etc/hosts as glibc reads them, and a DNS server that never
// answers costing no more than the deadline before numbers are printed.
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IpProto } from '../../src/constants.js';
import { parseHostsFile, parseServicesFile, systemResolver } from '../../src/control/names.js';
import { lines, makeLab, runAll, SEED_NAT } from './helpers.js';

const SERVICES = `# comment
http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP
http\t\t80/udp
domain\t\t53/tcp
domain\t\t53/udp
www-alt\t\t80/tcp
`;
const HOSTS = `127.0.0.1 localhost
192.168.1.200 web01 web01.lab # first name is canonical
192.168.1.200 other
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uvs-names-'));
  await writeFile(join(dir, 'services'), SERVICES);
  await writeFile(join(dir, 'hosts'), HOSTS);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('services and hosts files', () => {
  it('maps port/proto to the first name listed', () => {
    const s = parseServicesFile(SERVICES);
    expect(s.get('80/tcp')).toBe('http');
    expect(s.get('53/udp')).toBe('domain');
    expect(s.get('443/tcp')).toBeUndefined();
  });

  it('maps an address to the first name of its first line', () => {
    const h = parseHostsFile(HOSTS);
    expect(h.get(0xc0a801c8)).toBe('web01');
    expect(h.get(0x7f000001)).toBe('localhost');
    expect(h.size).toBe(2);
  });
});

describe('systemResolver', () => {
  it('uses the files, falls back to numbers when DNS never answers, and keeps to its deadline', async () => {
    // A DNS "server" that reads queries and never replies.
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      const resolver = systemResolver({
        servicesPath: join(dir, 'services'),
        hostsPath: join(dir, 'hosts'),
        dnsServers: [`127.0.0.1:${silent.address().port}`],
        deadlineMs: 300,
      });
      const started = Date.now();
      const names = await resolver(new Set([0xc0a801c8, 0xc0a801c9]), new Set([`80/${IpProto.tcp}`]));
      expect(Date.now() - started).toBeLessThan(1000);
      expect(names.host(0xc0a801c8)).toBe('web01');
      expect(names.host(0xc0a801c9)).toBe('192.168.1.201');
      expect(names.service(80, IpProto.tcp)).toBe('http');
      expect(names.service(8080, IpProto.tcp)).toBe('8080');
    } finally {
      silent.close();
    }
  });

  it('drives `-L` end to end', async () => {
    const lab = makeLab(
      systemResolver({
        servicesPath: join(dir, 'services'),
        hostsPath: join(dir, 'hosts'),
        dnsServers: ['127.0.0.1:1'],
        deadlineMs: 300,
      }),
    );
    await runAll(lab, SEED_NAT);
    const out = await lab.must('-L');
    expect(out.split('\n').slice(3)).toEqual(
      lines(
        'TCP  192.168.1.231:http rr',
        // Sorted by address, not by name: 192.168.1.200 (web01) first.
        '  -> web01:http                   Masq    1      0          0         ',
        '  -> 192.168.1.201:http           Masq    1      0          0         ',
      ).split('\n'),
    );
  });
});
