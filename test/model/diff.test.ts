import { describe, expect, it } from 'vitest';
import { DestRegistry } from '../../src/dest/dest.js';
import { diffRules, rulesAfter, snapshotOf } from '../../src/model/diff.js';
import { RulesModel } from '../../src/model/rules.js';
import { formatRules, parseRules } from '../../src/model/save-format.js';

const BEFORE = `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 1
-a -t 192.168.1.231:80 -r 192.168.1.201:80 -m -w 1
-A -u 192.168.1.231:53 -s wlc
-a -u 192.168.1.231:53 -r 192.168.1.200:53 -m -w 1
`;

function running(text: string): RulesModel {
  const model = new RulesModel(new DestRegistry());
  model.applyBatch(parseRules(text));
  return model;
}

describe('diffRules', () => {
  it('is empty when nothing changed', () => {
    const model = running(BEFORE);
    expect(diffRules(model.snapshot, snapshotOf(parseRules(BEFORE)))).toEqual([]);
  });

  it('reaches the target while keeping unchanged destination objects (and their connections)', () => {
    const after = `-A -t 192.168.1.231:80 -s wrr
-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 3
-a -t 192.168.1.231:80 -r 192.168.1.201:80 -m -w 1
-a -t 192.168.1.231:80 -r 192.168.1.202:80 -m -w 1
-A -t 192.168.1.232:443 -s sh -p 60
-a -t 192.168.1.232:443 -r 192.168.1.210:443 -g -w 1
`;
    const model = running(BEFORE);
    const kept = model.snapshot.services[0]!.dests.find((d) => d.addr === 0xc0a801c9)!;
    const commands = diffRules(model.snapshot, snapshotOf(parseRules(after)));
    expect(commands.map((c) => c.kind)).toEqual([
      'delete-service',
      'edit-service',
      'edit-dest',
      'add-dest',
      'add-service',
      'add-dest',
    ]);
    model.applyBatch(commands.map((command) => ({ command })));
    expect(formatRules(model.snapshot)).toBe(formatRules(snapshotOf(parseRules(after))));
    const svc = model.snapshot.services.find((s) => s.port === 80)!;
    expect(svc.dests.find((d) => d.addr === 0xc0a801c9)).toBe(kept);
    // Kernel order, newest first: 202 was added last.
    expect(svc.dests.map((d) => d.addr & 0xff)).toEqual([202, 201, 200]);
  });

  it('carries timeout changes', () => {
    const model = running(BEFORE);
    const commands = diffRules(model.snapshot, snapshotOf(parseRules(`${BEFORE}--set 100 20 30\n`)));
    expect(commands).toEqual([{ kind: 'set-timeouts', tcp: 100, tcpFin: 20, udp: 30 }]);
  });
});

describe('rulesAfter', () => {
  it('gives the rules the change makes, on a copy: the running rules and their destinations are untouched', () => {
    const model = running(`${BEFORE}--set 1000 60 200\n`);
    const before = model.snapshot;
    const dests = before.services[0]!.dests.map((d) => ({ dest: d, weight: d.weight, available: d.available }));
    const change = parseRules(`-e -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 7
-d -t 192.168.1.231:80 -r 192.168.1.201:80
-D -u 192.168.1.231:53
--set 0 0 30
`);
    const next = rulesAfter(before, change);
    expect(model.snapshot).toBe(before);
    for (const { dest, weight, available } of dests)
      expect({ weight: dest.weight, available: dest.available }).toEqual({ weight, available });
    // The same as applying the change to the running rules (destination order and timeouts included).
    expect(formatRules(next)).toBe(formatRules(model.applyBatch(change).snapshot));
    expect(next.timeouts).toEqual(model.snapshot.timeouts);
    expect(next.timeouts).toEqual({ tcp: 1000, tcpFin: 60, udp: 30 });
  });

  it('refuses with the error the running rules would give, naming the line of a batch', () => {
    const model = running(BEFORE);
    const single = { kind: 'delete-service', svc: { proto: 6, addr: 0xc0a801e8, port: 80 } } as const;
    expect(() => rulesAfter(model.snapshot, single)).toThrow('No such service');
    expect(() => model.apply(single)).toThrow('No such service');
    const batch = parseRules('-A -t 192.168.1.233:80\n-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m\n');
    expect(() => rulesAfter(model.snapshot, batch)).toThrow('line 2: Destination already exists');
    expect(() => model.applyBatch(batch)).toThrow('line 2: Destination already exists');
  });
});
