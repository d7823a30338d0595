// SIGHUP in the NAT lab (uvs issue 6): the daemon re-reads its rules file and applies only the difference,
// so a connection open across the reload keeps its real server and completes intact, while new connections
// follow the new rules; a rules file with an error is refused whole and the running rules stay, and so is an
// empty one unless the config consents (issue 13).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDirector } from '../../src/lab/run.js';
import {
  destinationOf,
  type EchoResult,
  type HttpReply,
  type ModeLab,
  sleep,
  startModeLab,
  stopModeLab,
  uvsadmOk,
} from './children/e2e-support.js';
import { canUseNetns, netnsSkipReason } from './harness.js';

const HELD_BYTES = 256 * 1024;
const REQUEST_TIMEOUT_MS = 5_000;

const NEW_RULES = `-A -t 192.168.1.231:80 -s wrr
-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 1
-a -t 192.168.1.231:80 -r 192.168.1.201:80 -m -w 3
`;

// -Ln after the reload: the destinations keep their list order (201 was added last in the lab's rules and
// is still first), 201's weight is now 3, and the held connection is the only active one.
const expectedListing = (active200: number, active201: number) =>
  [
    'IP Virtual Server version 1.2.1 (size=65536)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    'TCP  192.168.1.231:80 wrr',
    // "  -> %-28s %-7s %-6d %-10u %-10u" (ipvsadm's print_service_entry), trailing blanks included.
    `  -> 192.168.1.200:80             Masq    1      ${String(active200).padEnd(10)} ${'0'.padEnd(10)}`,
    `  -> 192.168.1.201:80             Masq    3      ${String(active201).padEnd(10)} ${'0'.padEnd(10)}`,
    '',
  ].join('\n');

describe.skipIf(!canUseNetns)(`uvs daemon SIGHUP reload ${netnsSkipReason}`, () => {
  let lab: ModeLab | undefined;

  beforeAll(async () => {
    lab = await startModeLab('nat');
  }, 60_000);

  afterAll(async () => {
    await stopModeLab(lab);
  }, 30_000);

  it('applies the new rules file without dropping an open connection, and refuses a bad one whole', async () => {
    const l = lab!;
    const { localPort } = await l.agent.call<{ localPort: number }>('start', {
      key: 'held',
      url: l.url,
      bytes: HELD_BYTES,
      firstBytes: HELD_BYTES / 4,
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    const before = await uvsadmOk(l, ['-Lnc']);
    const rip = destinationOf(before, `${l.topology.client.cip}:${localPort}`);
    expect(rip, before).toMatch(/^192\.168\.1\.20[01]:80$/);

    writeFileSync(l.topology.rulesPath, NEW_RULES);
    l.director!.reload();
    let listing = '';
    for (let i = 0; i < 50 && !listing.includes(' wrr'); i++) {
      await sleep(100);
      listing = await uvsadmOk(l, ['-Ln']);
    }
    const held200 = rip === '192.168.1.200:80' ? 1 : 0;
    expect(listing).toBe(expectedListing(held200, 1 - held200));

    const finished = await l.agent.call<EchoResult>('finish', { key: 'held', timeoutMs: REQUEST_TIMEOUT_MS });
    expect(finished.status).toBe(200);
    expect(finished.receivedHash).toBe(finished.sentHash);
    expect(finished.servedBy).toBe(rip === '192.168.1.200:80' ? 'web01' : 'web02');

    // wrr 1:3 is a cycle of four picks with three for 201 (web02), whatever its starting point.
    const { replies } = await l.agent.call<{ replies: HttpReply[] }>('get', {
      url: l.url,
      count: 4,
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    expect(replies.filter((r) => r.body === 'web02')).toHaveLength(3);
    expect(replies.filter((r) => r.body === 'web01')).toHaveLength(1);

    // A bad line refuses the whole file: the running rules do not change.
    writeFileSync(l.topology.rulesPath, `${NEW_RULES}-a -t 192.168.1.231:80 -r 192.168.1.202:80 -m -w 70000\n`);
    l.director!.reload();
    await sleep(500);
    const after = await uvsadmOk(l, ['-Ln']);
    expect(after).toContain('TCP  192.168.1.231:80 wrr');
    expect(after).not.toContain('192.168.1.202');
  }, 60_000);

  it('refuses an empty rules file and keeps the rules, unless the config says reload: { empty: clear }', async () => {
    const l = lab!;
    const saved = await uvsadmOk(l, ['-Sn']);
    expect(saved).toContain('-A -t 192.168.1.231:80');
    const refusals = () => l.children.at(-1)!.stderr.split('the rules file holds no commands').length - 1;
    for (const text of ['', '# every line commented out\n\n']) {
      const before = refusals();
      writeFileSync(l.topology.rulesPath, text);
      l.director!.reload();
      for (let i = 0; i < 50 && refusals() === before; i++) await sleep(100);
      expect(refusals()).toBe(before + 1);
      expect(await uvsadmOk(l, ['-Sn'])).toBe(saved);
    }

    // With the config's consent, the same empty file removes every service. The restart keeps the rules (the
    // state file wins over the empty rules file).
    await l.director!.stop();
    writeFileSync(l.topology.configPath, `${readFileSync(l.topology.configPath, 'utf8')}reload: { empty: clear }\n`);
    l.director = await startDirector(l.topology, l.distDir, l.children);
    expect(await uvsadmOk(l, ['-Sn'])).toBe(saved);
    l.director.reload();
    let listing = saved;
    for (let i = 0; i < 50 && listing !== ''; i++) {
      await sleep(100);
      listing = await uvsadmOk(l, ['-Sn']);
    }
    expect(listing).toBe('');
  }, 60_000);

  it('refuses a reload whose result cannot be saved to the state file, and applies it once it can be', async () => {
    const l = lab!;
    const state = join(l.topology.dir, 'rules.state');
    const before = await uvsadmOk(l, ['-Sn']);
    expect(before).not.toContain(' wrr');
    const refusals = () =>
      l.children.at(-1)!.stderr.split('SIGHUP reload refused; the running rules are unchanged').length - 1;
    // A non-empty directory where the state file goes: the atomic rename over it fails, as on a broken disk.
    rmSync(state, { force: true });
    mkdirSync(state);
    writeFileSync(join(state, 'in-the-way'), '');
    writeFileSync(l.topology.rulesPath, NEW_RULES);
    const refusedBefore = refusals();
    l.director!.reload();
    for (let i = 0; i < 50 && refusals() === refusedBefore; i++) await sleep(100);
    expect(refusals()).toBe(refusedBefore + 1);
    expect(await uvsadmOk(l, ['-Sn'])).toBe(before);

    rmSync(state, { recursive: true });
    l.director!.reload();
    let listing = before;
    for (let i = 0; i < 50 && !listing.includes(' wrr'); i++) {
      await sleep(100);
      listing = await uvsadmOk(l, ['-Sn']);
    }
    expect(listing).toContain('-A -t 192.168.1.231:80 -s wrr');
    expect(readFileSync(state, 'utf8')).toBe(listing);
  }, 60_000);
});
