import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IpProto } from '../../src/constants.js';
import { DestRegistry, Fwd } from '../../src/dest/dest.js';
import { RulesError } from '../../src/model/errors.js';
import { parseArgs, toRuleCommand } from '../../src/model/grammar.js';
import { type RuleCommand, RulesModel, type SchedulerFactory } from '../../src/model/rules.js';
import { createScheduler } from '../../src/sched/index.js';
import type { Scheduler } from '../../src/sched/types.js';

const VIP = 0xc0a801e7; // 192.168.1.231
const RS1 = 0xc0a801c8; // 192.168.1.200
const RS2 = 0xc0a801c9; // 192.168.1.201
const RS3 = 0xc0a801ca; // 192.168.1.202
const TCP80 = { proto: IpProto.tcp, addr: VIP, port: 80 };

/** One ipvsadm command line as a rule command, through the grammar. */
const cmd = (line: string): RuleCommand => toRuleCommand(parseArgs(line.split(' ')));
const batch = (lines: string[]) => lines.map((line, i) => ({ line: i + 1, command: cmd(line) }));

function errorOf(fn: () => unknown): RulesError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RulesError) return err;
    throw err;
  }
  throw new Error('expected a RulesError');
}

/** The real schedulers, with every update() call recorded as the address list it was given. */
function recordingFactory(): { factory: SchedulerFactory; calls: { sched: string; addrs: number[] }[] } {
  const calls: { sched: string; addrs: number[] }[] = [];
  const factory: SchedulerFactory = (name, flags) => {
    const real = createScheduler(name, flags);
    if (real === undefined) return undefined;
    const spy: Scheduler = {
      name: real.name,
      update: (dests) => {
        calls.push({ sched: name, addrs: dests.map((d) => d.addr) });
        real.update(dests);
      },
      pick: (input) => real.pick(input),
    };
    return spy;
  };
  return { factory, calls };
}

function seedModel(factory?: SchedulerFactory): { model: RulesModel; registry: DestRegistry } {
  const registry = new DestRegistry();
  const model = new RulesModel(registry, factory);
  model.applyBatch(
    batch([
      '-A -t 192.168.1.231:80 -s rr',
      '-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m',
      '-a -t 192.168.1.231:80 -r 192.168.1.201:80 -m',
    ]),
  );
  return { model, registry };
}

describe('RulesModel: services', () => {
  it('adds a service with its settings and a scheduler instance', () => {
    const { model } = seedModel();
    const svc = model.snapshot.find(TCP80)!;
    expect(svc.sched).toBe('rr');
    expect(svc.timeout).toBe(0);
    expect(svc.persistent).toBe(false);
    expect(svc.netmask).toBe(0xffffffff);
    expect(svc.scheduler).toBeDefined();
    expect(model.snapshot.services).toHaveLength(1);
  });

  it('keeps destinations newest first, as list_add_rcu at the head does', () => {
    const { model } = seedModel();
    model.apply(cmd('-a -t 192.168.1.231:80 -r 192.168.1.202:80 -m'));
    expect(model.snapshot.find(TCP80)!.dests.map((d) => d.addr)).toEqual([RS3, RS2, RS1]);
  });

  it('-E replaces everything: omitted -s/-p/-M/-o/-b go back to the defaults', () => {
    const model = new RulesModel(new DestRegistry());
    model.apply(cmd('-A -u 192.168.1.231:53 -s sh -b sh-port -p 600 -M 255.255.255.0 -o'));
    const before = model.snapshot.find({ proto: IpProto.udp, addr: VIP, port: 53 })!;
    expect([before.sched, before.schedFlags, before.timeout, before.netmask, before.onePacket]).toEqual([
      'sh',
      0x10,
      600,
      0xffffff00,
      true,
    ]);
    model.apply(cmd('-E -u 192.168.1.231:53 -p'));
    const after = model.snapshot.find({ proto: IpProto.udp, addr: VIP, port: 53 })!;
    expect([after.sched, after.schedFlags, after.timeout, after.netmask, after.onePacket]).toEqual([
      'wlc',
      0,
      360,
      0xffffffff,
      false,
    ]);
  });

  it('-E with the same scheduler keeps its instance; a new name gets a new one fed the current list', () => {
    const { factory, calls } = recordingFactory();
    const model = new RulesModel(new DestRegistry(), factory);
    model.applyBatch(batch(['-A -t 192.168.1.231:80 -s rr', '-a -t 192.168.1.231:80 -r 192.168.1.200 -g']));
    const rr = model.snapshot.find(TCP80)!.scheduler;
    model.apply(cmd('-E -t 192.168.1.231:80 -s rr -p'));
    expect(model.snapshot.find(TCP80)!.scheduler).toBe(rr);
    calls.length = 0;
    model.apply(cmd('-E -t 192.168.1.231:80 -s wrr'));
    expect(model.snapshot.find(TCP80)!.scheduler).not.toBe(rr);
    expect(calls).toEqual([{ sched: 'wrr', addrs: [RS1] }]);
  });

  it('deletes a service and hands back its destinations, unavailable but not released', () => {
    const { model, registry } = seedModel();
    const dests = [...model.snapshot.find(TCP80)!.dests];
    const { removed, snapshot } = model.apply(cmd('-D -t 192.168.1.231:80'));
    expect(snapshot.services).toHaveLength(0);
    expect(new Set(removed)).toEqual(new Set(dests));
    for (const d of dests) {
      expect(d.available).toBe(false);
      expect(registry.get(d.id)).toBe(d);
    }
  });

  it('clears every service', () => {
    const { model } = seedModel();
    model.apply(cmd('-A -u 192.168.1.231:53'));
    const { removed, snapshot } = model.apply(cmd('-C'));
    expect(snapshot.services).toHaveLength(0);
    expect(removed).toHaveLength(2);
  });

  it('carries --set timeouts, 0 leaving a value unchanged', () => {
    const model = new RulesModel(new DestRegistry());
    expect(model.snapshot.timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    model.apply(cmd('--set 3600 0 60'));
    expect(model.snapshot.timeouts).toEqual({ tcp: 3600, tcpFin: 120, udp: 60 });
  });
});

describe('RulesModel: destinations', () => {
  it('creates destinations through the registry with ipvsadm defaults', () => {
    const { model, registry } = seedModel();
    model.apply(cmd('-a -t 192.168.1.231:80 -r 192.168.1.202'));
    const d = model.snapshot.find(TCP80)!.dests[0]!;
    expect(registry.get(d.id)).toBe(d);
    expect([d.addr, d.port, d.fwd, d.weight, d.uThreshold, d.lThreshold]).toEqual([RS3, 80, Fwd.route, 1, 0, 0]);
    expect(d.svcStats).toBe(model.snapshot.find(TCP80)!.stats);
  });

  it('forces the service port for -g and -i, as ipvsadm does, and keeps it for -m', () => {
    const model = new RulesModel(new DestRegistry());
    model.applyBatch(
      batch([
        '-A -t 192.168.1.231:80',
        '-a -t 192.168.1.231:80 -r 192.168.1.200:8080 -g',
        '-a -t 192.168.1.231:80 -r 192.168.1.201:8080 -i',
        '-a -t 192.168.1.231:80 -r 192.168.1.202:8080 -m',
      ]),
    );
    expect(model.snapshot.find(TCP80)!.dests.map((d) => [d.addr, d.port])).toEqual([
      [RS3, 8080],
      [RS2, 80],
      [RS1, 80],
    ]);
    // The forced port is the one the destination is known by afterwards.
    expect(errorOf(() => model.apply(cmd('-a -t 192.168.1.231:80 -r 192.168.1.200:9090 -g'))).message).toBe(
      'Destination already exists',
    );
  });

  it('edits a destination in place: same object, same counters, new settings', () => {
    const { model } = seedModel();
    const d = model.snapshot.find(TCP80)!.dests[1]!;
    d.stats.conns = 42;
    d.activeConns = 3;
    model.apply(cmd('-e -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 5 -x 100 -y 50'));
    const after = model.snapshot.find(TCP80)!.dests;
    expect(after[1]).toBe(d);
    expect([d.weight, d.uThreshold, d.lThreshold, d.stats.conns, d.activeConns]).toEqual([5, 100, 50, 42, 3]);
    expect(after.map((x) => x.addr)).toEqual([RS2, RS1]);
  });

  it('remembers the last non-zero weight and clears overload when the upper threshold is raised or removed', () => {
    const { model } = seedModel();
    model.apply(cmd('-e -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 7 -x 10'));
    const d = model.snapshot.find(TCP80)!.dests[1]!;
    model.apply(cmd('-e -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 0 -x 10'));
    expect([d.weight, d.lastWeight]).toEqual([0, 7]);
    d.overloaded = true;
    model.apply(cmd('-e -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 0 -x 5'));
    expect(d.overloaded).toBe(true);
    model.apply(cmd('-e -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 0 -x 20'));
    expect(d.overloaded).toBe(false);
  });

  it('deletes a destination: unavailable, handed back, kept in the trash and revived by a re-add', () => {
    const { model, registry } = seedModel();
    const d = model.snapshot.find(TCP80)!.dests[1]!;
    const { removed } = model.apply(cmd('-d -t 192.168.1.231:80 -r 192.168.1.200'));
    expect(removed).toEqual([d]);
    expect(d.available).toBe(false);
    expect(model.snapshot.find(TCP80)!.trash).toEqual([d]);
    // ip_vs_trash_get_dest(): the same object comes back, at the head, with the new settings.
    const readd = model.apply(cmd('-a -t 192.168.1.231:80 -r 192.168.1.200 -m -w 4'));
    expect(readd.removed).toEqual([]);
    expect(model.snapshot.find(TCP80)!.dests).toEqual([d, expect.anything()]);
    expect(model.snapshot.find(TCP80)!.dests[0]).toBe(d);
    expect([d.available, d.weight]).toEqual([true, 4]);
    // Once the connection layer has released it, a re-add makes a new destination.
    model.apply(cmd('-d -t 192.168.1.231:80 -r 192.168.1.200'));
    registry.release(d);
    model.apply(cmd('-a -t 192.168.1.231:80 -r 192.168.1.200 -m'));
    expect(model.snapshot.find(TCP80)!.dests[0]).not.toBe(d);
    expect(model.snapshot.find(TCP80)!.trash).toEqual([]);
  });

  it('calls scheduler.update() with the kernel-order list after every destination change', () => {
    const { factory, calls } = recordingFactory();
    const model = new RulesModel(new DestRegistry(), factory);
    model.applyBatch(
      batch([
        '-A -t 192.168.1.231:80 -s wrr',
        '-a -t 192.168.1.231:80 -r 192.168.1.200 -g',
        '-a -t 192.168.1.231:80 -r 192.168.1.201 -g',
        '-e -t 192.168.1.231:80 -r 192.168.1.200 -g -w 3',
        '-d -t 192.168.1.231:80 -r 192.168.1.201',
      ]),
    );
    expect(calls).toEqual([
      { sched: 'wrr', addrs: [] },
      { sched: 'wrr', addrs: [RS1] },
      { sched: 'wrr', addrs: [RS2, RS1] },
      { sched: 'wrr', addrs: [RS2, RS1] },
      { sched: 'wrr', addrs: [RS1] },
    ]);
  });
});

describe('RulesModel: errors', () => {
  const cases: [string[], string, string][] = [
    [['-A -t 192.168.1.231:80'], 'serviceExists', 'Service already exists'],
    [['-E -t 192.168.1.231:81'], 'noSuchService', 'No such service'],
    [['-D -t 192.168.1.231:81'], 'noSuchService', 'No such service'],
    [['-a -t 192.168.1.231:81 -r 192.168.1.200'], 'serviceNotDefined', 'Service not defined'],
    [['-e -t 192.168.1.231:81 -r 192.168.1.200'], 'serviceNotDefined', 'Service not defined'],
    [['-d -t 192.168.1.231:81 -r 192.168.1.200'], 'serviceNotDefined', 'Service not defined'],
    [['-a -t 192.168.1.231:80 -r 192.168.1.200:80 -g'], 'destExists', 'Destination already exists'],
    [['-e -t 192.168.1.231:80 -r 192.168.1.202 -m'], 'noSuchDest', 'No such destination'],
    [['-d -t 192.168.1.231:80 -r 192.168.1.200:81'], 'noSuchDest', 'No such destination'],
    [['-A -t 192.168.1.231:81 -s nope'], 'schedulerNotFound', 'Scheduler or persistence engine not found'],
    [['-E -t 192.168.1.231:80 -s nope'], 'schedulerNotFound', 'Scheduler or persistence engine not found'],
    [['-A -t 192.168.1.231'], 'zeroPort', 'Zero port specified for non-persistent service'],
    [['-E -t 192.168.1.231:0 -s rr'], 'zeroPort', 'Zero port specified for non-persistent service'],
    [['-A -t 192.168.1.231:81 -o'], 'onePacketNotUdp', 'One-Packet Scheduling is only for UDP virtual services'],
    [['-a -t 192.168.1.231:80 -r 192.168.1.202 -y 5'], 'thresholdRange', 'Numerical result out of range'],
    [['-e -t 192.168.1.231:80 -r 192.168.1.200 -m -x 5 -y 6'], 'thresholdRange', 'Numerical result out of range'],
  ];
  it.each(cases)('%s -> %s', (lines, code, message) => {
    const { model } = seedModel();
    const before = model.snapshot;
    const err = errorOf(() => model.apply(cmd(lines[0]!)));
    expect(err.code).toBe(code);
    expect(err.message).toBe(message);
    expect(err.line).toBeUndefined();
    expect(model.snapshot).toBe(before);
  });

  it('accepts a port-zero service when it is persistent, and -o on UDP', () => {
    const model = new RulesModel(new DestRegistry());
    model.apply(cmd('-A -t 192.168.1.231 -p'));
    model.apply(cmd('-A -u 192.168.1.231:53 -o'));
    expect(model.snapshot.services.map((s) => [s.proto, s.port, s.onePacket])).toEqual([
      [IpProto.tcp, 0, false],
      [IpProto.udp, 53, true],
    ]);
  });
});

describe('RulesModel: all-or-nothing batches and snapshots', () => {
  it('a bad line 5 leaves everything unchanged and the error names line 5', () => {
    const { factory, calls } = recordingFactory();
    const { model, registry } = seedModel(factory);
    calls.length = 0;
    const before = model.snapshot;
    const d = before.find(TCP80)!.dests[1]!;
    const err = errorOf(() =>
      model.applyBatch(
        batch([
          '-e -t 192.168.1.231:80 -r 192.168.1.200 -m -w 9',
          '-a -t 192.168.1.231:80 -r 192.168.1.202 -m',
          '-d -t 192.168.1.231:80 -r 192.168.1.201',
          '-A -u 192.168.1.231:53',
          '-a -t 192.168.1.231:80 -r 192.168.1.202 -m',
        ]),
      ),
    );
    expect(err.line).toBe(5);
    expect(err.message).toBe('line 5: Destination already exists');
    expect(model.snapshot).toBe(before);
    expect(d.weight).toBe(1);
    expect(before.find(TCP80)!.dests.every((x) => x.available)).toBe(true);
    // The dry run created no destination: the next id is still free.
    expect(registry.get(1)).toBe(before.find(TCP80)!.dests[0]);
    expect(registry.get(2)).toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('a successful batch publishes one new frozen snapshot', () => {
    const { model } = seedModel();
    const before = model.snapshot;
    const { snapshot } = model.applyBatch(batch(['-A -u 192.168.1.231:53', '-a -u 192.168.1.231:53 -r 192.168.1.200']));
    expect(snapshot).toBe(model.snapshot);
    expect(snapshot.generation).toBe(before.generation + 1);
    expect(Object.isFrozen(snapshot)).toBe(true);
    expect(Object.isFrozen(snapshot.services)).toBe(true);
    expect(Object.isFrozen(snapshot.find(TCP80))).toBe(true);
    expect(Object.isFrozen(snapshot.find(TCP80)!.dests)).toBe(true);
    expect(before.services).toHaveLength(1);
  });

  it('keeps the same Service and Dest objects across unrelated edits', () => {
    const { model } = seedModel();
    model.apply(cmd('-A -u 192.168.1.231:53'));
    const tcp = model.snapshot.find(TCP80)!;
    const dests = [...tcp.dests];
    model.apply(cmd('-a -u 192.168.1.231:53 -r 192.168.1.202'));
    model.apply(cmd('-E -u 192.168.1.231:53 -s rr'));
    expect(model.snapshot.find(TCP80)).toBe(tcp);
    model.apply(cmd('-a -t 192.168.1.231:80 -r 192.168.1.202 -m'));
    const changed = model.snapshot.find(TCP80)!;
    expect(changed).not.toBe(tcp);
    expect(changed.dests.slice(1)).toEqual(dests);
    changed.dests.slice(1).forEach((d, i) => {
      expect(d).toBe(dests[i]);
    });
    expect(changed.stats).toBe(tcp.stats);
    expect(changed.scheduler).toBe(tcp.scheduler);
  });
});

describe('RulesSnapshot.lookup', () => {
  it('finds services by (protocol, VIP, port) and misses the rest', () => {
    const { model } = seedModel();
    model.apply(cmd('-A -u 192.168.1.231:80'));
    const s = model.snapshot;
    expect(s.lookup(IpProto.tcp, VIP, 80)).toBe(s.find(TCP80));
    expect(s.lookup(IpProto.udp, VIP, 80)?.proto).toBe(IpProto.udp);
    expect(s.lookup(IpProto.tcp, VIP, 81)).toBeUndefined();
    expect(s.lookup(IpProto.tcp, VIP + 1, 80)).toBeUndefined();
    expect(s.lookup(IpProto.icmp, VIP, 80)).toBeUndefined();
  });

  it('agrees with a plain map for any set of services', () => {
    const key = (p: number, a: number, port: number) => `${p}/${a}/${port}`;
    const svc = fc.record({
      proto: fc.constantFrom(IpProto.tcp, IpProto.udp),
      addr: fc.integer({ min: 0, max: 0xffffffff }),
      port: fc.integer({ min: 1, max: 65535 }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(svc, { selector: (s) => key(s.proto, s.addr, s.port), maxLength: 40 }),
        svc,
        (svcs, probe) => {
          const model = new RulesModel(new DestRegistry());
          model.applyBatch(svcs.map((s) => ({ command: { kind: 'add-service', svc: s, ...defaults } as RuleCommand })));
          const reference = new Map(svcs.map((s) => [key(s.proto, s.addr, s.port), s]));
          for (const s of svcs) {
            const found = model.snapshot.lookup(s.proto, s.addr, s.port);
            expect([found?.proto, found?.addr, found?.port]).toEqual([s.proto, s.addr, s.port]);
          }
          const hit = model.snapshot.lookup(probe.proto, probe.addr, probe.port);
          expect(hit !== undefined).toBe(reference.has(key(probe.proto, probe.addr, probe.port)));
        },
      ),
    );
  });
});

const defaults = { sched: 'rr', schedFlags: 0, timeout: 0, netmask: 0xffffffff, onePacket: false };
