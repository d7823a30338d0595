// `uvs rs nat` and `uvs rs dr` inside a network namespace: the first run makes exactly the seed's changes,
// a second run changes nothing, and --undo puts back what was there before (including values that were
// not the kernel defaults), leaving no state file behind.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns, compileForChildren, listNamespaces, NetnsLab, netnsSkipReason } from '../netns/harness.js';

const RIP = '10.204.0.200';
const OLD_GATEWAY = '10.204.0.1';
const DIP = '10.204.0.230';
const VIP = '192.168.1.231';
const DR_SYSCTLS = ['lo/arp_ignore', 'lo/arp_announce', 'all/arp_ignore', 'all/arp_announce', 'all/rp_filter'];

describe.skipIf(!canUseNetns)(`uvs rs nat|dr in a namespace ${netnsSkipReason}`, () => {
  let lab: NetnsLab;
  let ns: string;
  let dist: string;
  let stateDir: string;

  const uvs = (args: string[]): string =>
    lab.exec(ns, process.execPath, [join(dist, 'cli', 'uvs.js'), 'rs', ...args, '--state-dir', stateDir]);
  const routes = (): string => lab.exec(ns, 'ip', ['-4', 'route', 'show']);
  const defaults = (): Array<{ gateway?: string; dev?: string }> =>
    JSON.parse(lab.exec(ns, 'ip', ['-j', '-4', 'route', 'show', 'default']) || '[]');
  const loAddresses = (): string => lab.exec(ns, 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'lo']);
  const sysctls = (): string[] => DR_SYSCTLS.map((k) => lab.exec(ns, 'cat', [`/proc/sys/net/ipv4/conf/${k}`]).trim());
  const setSysctl = (k: string, v: string): void => {
    lab.exec(ns, 'sh', ['-c', `echo ${v} > /proc/sys/net/ipv4/conf/${k}`]);
  };

  beforeAll(() => {
    lab = new NetnsLab();
    ns = lab.addNamespace('rs');
    const peer = lab.addNamespace('peer');
    lab.addVeth(ns, 'eth0', `${RIP}/24`, peer, 'eth0', `${OLD_GATEWAY}/24`);
    lab.exec(ns, 'ip', ['route', 'add', 'default', 'via', OLD_GATEWAY]);
    dist = compileForChildren();
    stateDir = mkdtempSync(join(tmpdir(), 'uvs-rs-state-'));
  });

  afterAll(() => {
    const prefix = lab.prefix;
    lab.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
    expect(listNamespaces().filter((n) => n.startsWith(prefix))).toEqual([]);
  });

  it('nat: points the default route at the DIP once, and undo restores the old gateway', () => {
    const before = routes();
    expect(defaults()).toEqual([expect.objectContaining({ gateway: OLD_GATEWAY, dev: 'eth0' })]);

    expect(uvs(['nat', '--dip', DIP])).toContain(`default route now via ${DIP}`);
    expect(defaults()).toEqual([expect.objectContaining({ gateway: DIP, dev: 'eth0' })]);
    const applied = routes();
    expect(readdirSync(stateDir).filter((f) => f.startsWith('nat-'))).toHaveLength(1);

    expect(uvs(['nat', '--dip', DIP])).toContain('nothing to do');
    expect(routes()).toBe(applied);

    expect(uvs(['nat', '--undo'])).toContain(`default via ${OLD_GATEWAY} dev eth0`);
    expect(routes()).toBe(before);
    expect(readdirSync(stateDir).filter((f) => f.startsWith('nat-'))).toEqual([]);
    expect(uvs(['nat', '--undo'])).toContain('nothing to undo');
    expect(routes()).toBe(before);
  });

  it('dr: puts the VIP on lo and suppresses ARP once, and undo restores the previous values', () => {
    // A non-default starting point, so that restoring cannot pass by resetting to the kernel defaults.
    setSysctl('all/arp_ignore', '2');
    setSysctl('all/rp_filter', '1');
    const before = sysctls();
    expect(before).toEqual(['0', '0', '2', '0', '1']);
    expect(loAddresses()).not.toContain(VIP);

    uvs(['dr', '--vip', VIP]);
    expect(loAddresses()).toContain(`inet ${VIP}/32`);
    expect(sysctls()).toEqual(['1', '2', '1', '2', '2']);
    const appliedLo = loAddresses();

    expect(uvs(['dr', '--vip', VIP])).toContain('nothing to do');
    expect(loAddresses()).toBe(appliedLo);
    expect(sysctls()).toEqual(['1', '2', '1', '2', '2']);

    uvs(['dr', '--undo']);
    expect(loAddresses()).not.toContain(VIP);
    expect(sysctls()).toEqual(before);
    expect(existsSync(stateDir) && readdirSync(stateDir).filter((f) => f.startsWith('dr-'))).toEqual([]);
  });

  it('dr: leaves a VIP that was already on lo in place on undo', () => {
    lab.exec(ns, 'ip', ['addr', 'add', `${VIP}/32`, 'dev', 'lo']);
    uvs(['dr', '--vip', VIP]);
    uvs(['dr', '--undo']);
    expect(loAddresses()).toContain(`inet ${VIP}/32`);
    lab.exec(ns, 'ip', ['addr', 'del', `${VIP}/32`, 'dev', 'lo']);
  });
});
