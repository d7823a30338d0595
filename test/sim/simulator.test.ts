import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SimulationError, Simulator } from '../../src/sim/simulator.js';
import { parseIpv4Address } from '../../src/wire/addr.js';

const SEED_NAT = `
# The seed tutorial's NAT lab (rules file comments are allowed)
-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m
-a -t 192.168.1.231:80 -r 192.168.1.201:80 -m
`;

const open = (client: string, service = '192.168.1.231:80', proto = 'tcp') => ({ op: 'open', proto, client, service });

function destOf(sim: Simulator, rip: string) {
  const svc = sim.core.rules.snapshot.services[0]!;
  return svc.dests.find((d) => d.addr === parseIpv4Address(rip))!;
}

describe('Simulator', () => {
  it('round-robins from the newest destination, as the kernel list order makes rr do', () => {
    // ip_vs_rr starts after the list head; -a adds at the head, so 201 (added last) comes first.
    const sim = new Simulator(SEED_NAT);
    const picks = ['10.0.0.1:1000', '10.0.0.2:1000', '10.0.0.3:1000', '10.0.0.4:1000'].map((c) => sim.handle(open(c)));
    expect(picks).toEqual([
      { dest: '192.168.1.201:80' },
      { dest: '192.168.1.200:80' },
      { dest: '192.168.1.201:80' },
      { dest: '192.168.1.200:80' },
    ]);
  });

  it('keeps a known connection on its destination and counts it active, then inactive after close', () => {
    const sim = new Simulator(SEED_NAT);
    expect(sim.handle(open('10.0.0.1:1000'))).toEqual({ dest: '192.168.1.201:80' });
    expect(sim.handle(open('10.0.0.1:1000'))).toEqual({ dest: '192.168.1.201:80' });
    const d201 = destOf(sim, '192.168.1.201');
    expect([d201.activeConns, d201.inactConns]).toEqual([1, 0]);
    sim.handle({ op: 'close', client: '10.0.0.1:1000', service: '192.168.1.231:80' });
    expect([d201.activeConns, d201.inactConns]).toEqual([0, 1]);
    // NAT close ends in TIME_WAIT (120 s): still there at 119 s, gone at 121 s.
    sim.handle({ op: 'advance', seconds: 119 });
    expect(d201.inactConns).toBe(1);
    sim.handle({ op: 'advance', seconds: 2 });
    expect([d201.activeConns, d201.inactConns]).toEqual([0, 0]);
  });

  it('expires an established connection after the tcp timeout (900 s) and reschedules the client', () => {
    const sim = new Simulator(SEED_NAT);
    sim.handle(open('10.0.0.1:1000'));
    sim.handle({ op: 'advance', seconds: 901 });
    expect(destOf(sim, '192.168.1.201').activeConns).toBe(0);
    // rr moved on to 200 when the first connection was scheduled, so the same client now lands there.
    expect(sim.handle(open('10.0.0.1:1000'))).toEqual({ dest: '192.168.1.200:80' });
  });

  it('quiesces with weight 0: existing connections stay, new ones avoid the destination', () => {
    const sim = new Simulator(SEED_NAT);
    expect(sim.handle(open('10.0.0.1:1000'))).toEqual({ dest: '192.168.1.201:80' });
    sim.handle({ op: 'edit', rule: '-e -t 192.168.1.231:80 -r 192.168.1.201:80 -m -w 0' });
    expect(sim.handle(open('10.0.0.1:1000'))).toEqual({ dest: '192.168.1.201:80' });
    for (let i = 2; i < 6; i++) expect(sim.handle(open(`10.0.0.${i}:1000`))).toEqual({ dest: '192.168.1.200:80' });
  });

  it('drops packets of a connection whose destination was removed (expire_nodest_conn=0)', () => {
    const sim = new Simulator(SEED_NAT);
    sim.handle(open('10.0.0.1:1000'));
    sim.handle({ op: 'edit', rule: '-d -t 192.168.1.231:80 -r 192.168.1.201:80' });
    const out = sim.handle(open('10.0.0.1:1000'));
    expect(out).toMatchObject({ dest: null });
    expect((out as { reason: string }).reason).toMatch(/expire_nodest_conn/);
    expect(sim.handle(open('10.0.0.9:1000'))).toEqual({ dest: '192.168.1.200:80' });
  });

  it('binds a persistent client to one destination across ports until the template expires', () => {
    const sim = new Simulator(`
-A -t 192.168.1.231:80 -s rr -p 60
-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m
-a -t 192.168.1.231:80 -r 192.168.1.201:80 -m
`);
    expect(sim.handle(open('10.0.0.1:1000'))).toEqual({ dest: '192.168.1.201:80' });
    expect(sim.handle(open('10.0.0.1:1001'))).toEqual({ dest: '192.168.1.201:80' });
    expect(sim.handle(open('10.0.0.2:1000'))).toEqual({ dest: '192.168.1.200:80' });
    expect(destOf(sim, '192.168.1.201').persistConns).toBe(1);
    // While connections are controlled the template is re-armed; once they are gone it dies.
    sim.handle({ op: 'expire', client: '10.0.0.1:1000', service: '192.168.1.231:80' });
    sim.handle({ op: 'expire', client: '10.0.0.1:1001', service: '192.168.1.231:80' });
    sim.handle({ op: 'advance', seconds: 61 });
    expect(destOf(sim, '192.168.1.201').persistConns).toBe(0);
    // The template is gone, so rr decides again: after 201, 200 it is 201's turn.
    expect(sim.handle(open('10.0.0.1:1002'))).toEqual({ dest: '192.168.1.201:80' });
  });

  it('says why nothing can be chosen', () => {
    const sim = new Simulator('-A -u 10.1.1.1:53 -s wlc\n');
    expect(sim.handle(open('10.0.0.1:1000', '10.1.1.1:53', 'udp'))).toMatchObject({
      dest: null,
      reason: /no destination/,
    });
    expect(sim.handle(open('10.0.0.1:1000', '10.1.1.1:54', 'udp'))).toMatchObject({
      dest: null,
      reason: /no virtual service/,
    });
  });

  it('rejects bad events with a clear error and keeps going', () => {
    const sim = new Simulator(SEED_NAT);
    expect(() => sim.handle({ op: 'jump' })).toThrow(SimulationError);
    expect(() => sim.handle(open('10.0.0.1'))).toThrow(/A\.B\.C\.D:PORT/);
    expect(() => sim.handle({ op: 'close', client: '10.0.0.1:1', service: '192.168.1.231:80' })).toThrow(
      /no connection/,
    );
    expect(() => sim.handle({ op: 'edit', rule: '-e -t 192.168.1.231:80 -r 192.168.1.9:80 -w 2' })).toThrow(
      /No such destination/,
    );
    expect(() => sim.handle({ op: 'advance', seconds: -1 })).toThrow(/non-negative/);
    expect(sim.handle(open('10.0.0.1:1000'))).toEqual({ dest: '192.168.1.201:80' });
  });

  it('refuses a bad rules file whole, naming the line', () => {
    expect(() => new Simulator('-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -w 70000\n')).toThrow(
      /line 2/,
    );
  });
});

describe('uvs simulate (command line)', () => {
  const cli = join(import.meta.dirname, '../../dist/cli/uvs.js');

  it('prints one JSON line per open, reports bad lines by number on stderr and exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvs-sim-'));
    const rules = join(dir, 'rules.txt');
    writeFileSync(rules, SEED_NAT);
    const events = [JSON.stringify(open('10.0.0.1:1000')), 'not json', JSON.stringify(open('10.0.0.2:1000'))].join(
      '\n',
    );
    const run = spawnSync(process.execPath, [cli, 'simulate', '--rules', rules], { input: events, encoding: 'utf8' });
    expect(run.stdout).toBe('{"dest":"192.168.1.201:80"}\n{"dest":"192.168.1.200:80"}\n');
    expect(run.stderr).toMatch(/events line 2:/);
    expect(run.status).toBe(1);
  });

  it('reads events from a file and exits 0 when every line is good', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvs-sim-'));
    writeFileSync(join(dir, 'rules.txt'), SEED_NAT);
    writeFileSync(join(dir, 'events.jsonl'), `${JSON.stringify(open('10.0.0.1:1000'))}\n`);
    const out = execFileSync(
      process.execPath,
      [cli, 'simulate', '--rules', join(dir, 'rules.txt'), '--events', join(dir, 'events.jsonl')],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toBe('{"dest":"192.168.1.201:80"}\n');
  });
});
