// The lab topology against the real kernel: each mode builds the seed's hosts with the director's kernel
// kept out of the way, the LAN carries traffic between the hosts, a web server in a real-server namespace
// answers the client with its name, and teardown leaves no namespace behind.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NsChild, nsRun } from '../../src/lab/netns.js';
import { buildTopology, LAB_ADDRESSES, type LabServer, type LabTopology } from '../../src/lab/topology.js';
import { canUseNetns, compileForChildren, listNamespaces, netnsSkipReason } from '../netns/harness.js';

const ipv4Of = (ns: string, dev: string): string[] =>
  (
    JSON.parse(nsRun(ns, 'ip', ['-j', '-4', 'addr', 'show', 'dev', dev])) as Array<{
      addr_info: Array<{ local: string }>;
    }>
  ).flatMap((l) => l.addr_info.map((a) => a.local));
const sysctl = (ns: string, key: string): string => nsRun(ns, 'cat', [`/proc/sys/net/${key}`]).trim();

/** Starts the lab web server in `server`'s namespace and has the lab client in `fromNs` ask it twice. */
async function expectNameServed(dist: string, fromNs: string, server: LabServer): Promise<void> {
  const web = new NsChild(
    server.ns,
    [process.execPath, join(dist, 'lab', 'webserver.js'), '--name', server.name, '--max-seconds', '20'],
    20_000,
  );
  try {
    await web.waitForLine((l) => l.includes('"event":"ready"'), 8_000);
    const client = new NsChild(
      fromNs,
      [process.execPath, join(dist, 'lab', 'http-client.js'), '--url', `http://${server.rip}/`, '--count', '2'],
      10_000,
    );
    await client.done;
    const events = client.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.map((e) => [e.event, e.body, e.servedBy])).toEqual([
      ['reply', server.name, server.name],
      ['reply', server.name, server.name],
      ['done', undefined, undefined],
    ]);
  } finally {
    await web.stop();
  }
}

describe.skipIf(!canUseNetns)(`lab topology ${netnsSkipReason}`, () => {
  const built: LabTopology[] = [];
  let dist: string;

  beforeAll(() => {
    dist = compileForChildren();
  });

  afterAll(() => {
    for (const t of built) t.teardown();
  });

  it('DR: one LAN, director without kernel addresses, web01 answering the client with its name', async () => {
    const t = buildTopology('dr');
    built.push(t);
    expect(t.namespaces).toHaveLength(5);
    for (const ns of t.namespaces) expect(listNamespaces()).toContain(ns);
    expect(t.director.interfaces).toEqual([
      // The lab's VIP and the seed's DR VIP, so the seed's DR commands work as typed.
      {
        name: 'eth0',
        addresses: [`${LAB_ADDRESSES.dip}/24`, `${LAB_ADDRESSES.vip}/32`, `${LAB_ADDRESSES.drVip}/32`],
      },
    ]);
    expect(t.vips).toEqual(['192.168.1.231', '192.168.1.241']);
    expect(ipv4Of(t.director.ns, 'eth0')).toEqual([]);
    expect(sysctl(t.director.ns, 'ipv4/ip_forward')).toBe('0');
    expect(sysctl(t.director.ns, 'ipv4/conf/all/rp_filter')).toBe('2');
    expect(ipv4Of(t.client.ns, 'eth0')).toEqual([LAB_ADDRESSES.cipLan]);
    expect(t.servers.map((s) => [s.name, ipv4Of(s.ns, 'eth0')])).toEqual([
      ['web01', ['192.168.1.200']],
      ['web02', ['192.168.1.201']],
    ]);
    expect(readFileSync(t.rulesPath, 'utf8')).toContain('-r 192.168.1.200:80 -g -w 1');
    expect(readFileSync(t.configPath, 'utf8')).toContain(`control: ${join(t.dir, 'uvs.sock')}`);

    await expectNameServed(dist, t.client.ns, t.servers[0]!);
  });

  it('NAT: client outside, real servers inside on their own link', async () => {
    const t = buildTopology('nat');
    built.push(t);
    expect(t.director.interfaces.map((i) => i.name)).toEqual(['eth0', 'eth1']);
    expect(ipv4Of(t.director.ns, 'eth0')).toEqual([]);
    expect(ipv4Of(t.director.ns, 'eth1')).toEqual([]);
    expect(ipv4Of(t.client.ns, 'eth0')).toEqual([LAB_ADDRESSES.cipOutside]);
    expect(nsRun(t.client.ns, 'ip', ['-4', 'route', 'show', `${LAB_ADDRESSES.vip}/32`])).toContain(
      `via ${LAB_ADDRESSES.outsideGateway} dev eth0`,
    );
    await expectNameServed(dist, t.servers[0]!.ns, t.servers[1]!);
    expect(readFileSync(t.rulesPath, 'utf8')).toContain('-r 192.168.1.201:80 -m -w 1');
  });

  it('teardown removes every namespace and the lab directory, and is safe to repeat', () => {
    const t = buildTopology('tun');
    const names = [...t.namespaces];
    expect(names.every((n) => n.startsWith(t.prefix))).toBe(true);
    t.teardown();
    t.teardown();
    expect(listNamespaces().filter((n) => n.startsWith(t.prefix))).toEqual([]);
    expect(existsSync(t.dir)).toBe(false);
    for (const done of built.splice(0)) {
      done.teardown();
      expect(listNamespaces().filter((n) => n.startsWith(done.prefix))).toEqual([]);
    }
  });
});
