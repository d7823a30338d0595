import { describe, expect, it } from 'vitest';
import {
  createScheduler,
  parseSchedFlags,
  SCHED_FLAGS_MASK,
  SchedFlag,
  schedFlagNames,
  schedulerNames,
} from '../../src/sched/index.js';
import { dest, input } from './helpers.js';

describe('schedulerNames and createScheduler', () => {
  it('lists the schedulers in ipvsadm(8) order', () => {
    expect(schedulerNames).toEqual([
      'rr',
      'wrr',
      'lc',
      'wlc',
      'lblc',
      'lblcr',
      'dh',
      'sh',
      'sed',
      'nq',
      'fo',
      'ovf',
      'mh',
    ]);
  });

  it('creates each by name and nothing for unknown names', () => {
    for (const name of schedulerNames) expect(createScheduler(name, 0)?.name).toBe(name);
    expect(createScheduler('twos', 0)).toBeUndefined();
    expect(createScheduler('WLC', 0)).toBeUndefined();
    expect(createScheduler('', 0)).toBeUndefined();
  });

  it('starts every scheduler with no destination to pick', () => {
    for (const name of schedulerNames) expect(createScheduler(name, 0)!.pick(input('10.0.0.1'))).toBe(null);
  });

  it('passes the service flags to sh and mh', () => {
    // sh with sh-port: 10.0.0.0 port 1 hashes like 10.0.0.1 (bucket 39); list [A(3), B(1)] puts B there
    const [a, b] = [dest('10.7.0.1', 3), dest('10.7.0.2', 1)];
    const withPort = createScheduler('sh', SchedFlag.sched2)!;
    const without = createScheduler('sh', 0)!;
    withPort.update([a, b]);
    without.update([a, b]);
    expect(withPort.pick(input('10.0.0.0', 1))).toBe(b);
    expect(without.pick(input('10.0.0.0', 1))).toBe(a);
    // ipvsadm -E changing only -b: the same scheduler reads the new flags
    without.setFlags!(SchedFlag.sched2);
    expect(without.pick(input('10.0.0.0', 1))).toBe(b);
    withPort.setFlags!(0);
    expect(withPort.pick(input('10.0.0.0', 1))).toBe(a);
    expect(createScheduler('mh', 0)!.setFlags).toBeTypeOf('function');
    expect(createScheduler('rr', 0)!.setFlags).toBeUndefined();
  });

  it('gives lblc its clock', () => {
    let t = 0;
    const lblc = createScheduler('lblc', 0, { now: () => t, expiration: 60 })!;
    const [a, b] = [dest('10.7.0.1', 1), dest('10.7.0.2', 1)];
    lblc.update([a, b]);
    expect(lblc.pick(input('1.1.1.1', 1, '203.0.113.1'))).toBe(a);
    a.inactConns = 1;
    expect(lblc.pick(input('1.1.1.1', 1, '203.0.113.1'))).toBe(a); // cached
    t = 1800; // the first full check drops the entry (idle 1800 >= 60); wlc now prefers B
    expect(lblc.pick(input('1.1.1.1', 1, '203.0.113.1'))).toBe(b);
  });
});

describe('scheduler flag names (ipvsadm print_sched_flags / parse_sched_flags)', () => {
  it('names the bits per scheduler', () => {
    expect(SCHED_FLAGS_MASK).toBe(0x38);
    expect(schedFlagNames('sh', 0x08 | 0x10)).toEqual(['sh-fallback', 'sh-port']);
    expect(schedFlagNames('sh', 0x10)).toEqual(['sh-port']);
    expect(schedFlagNames('sh', 0x20)).toEqual([]);
    expect(schedFlagNames('mh', 0x38)).toEqual(['mh-fallback', 'mh-port']);
    expect(schedFlagNames('rr', 0x38)).toEqual(['flag-1', 'flag-2', 'flag-3']);
    expect(schedFlagNames('wlc', 0x20 | 0x01 | 0x04)).toEqual(['flag-3']);
    expect(schedFlagNames('wlc', 0)).toEqual([]);
  });

  it('parses comma lists, skipping empty items', () => {
    expect(parseSchedFlags('sh', 'sh-port,sh-fallback')).toEqual({ ok: true, flags: 0x18 });
    expect(parseSchedFlags('mh', 'mh-port,,flag-3,')).toEqual({ ok: true, flags: 0x30 });
    expect(parseSchedFlags('rr', 'flag-1,flag-2')).toEqual({ ok: true, flags: 0x18 });
    expect(parseSchedFlags('', 'flag-2')).toEqual({ ok: true, flags: 0x10 });
  });

  it("refuses unknown flags and other schedulers' named flags with ipvsadm's messages", () => {
    expect(parseSchedFlags('rr', 'sh-port')).toEqual({
      ok: false,
      code: 'incompatibleFlag',
      flag: 'sh-port',
      message: "incompatible scheduler flag `sh-port'",
    });
    expect(parseSchedFlags('', 'mh-fallback')).toMatchObject({ ok: false, code: 'incompatibleFlag' });
    expect(parseSchedFlags('sh', 'mh-port')).toMatchObject({ ok: false, code: 'incompatibleFlag' });
    expect(parseSchedFlags('sh', 'sh-port,bogus')).toEqual({
      ok: false,
      code: 'invalidFlag',
      flag: 'bogus',
      message: "invalid scheduler flag `bogus'",
    });
    expect(parseSchedFlags('sh', 'SH-PORT')).toMatchObject({ ok: false, code: 'invalidFlag' });
    expect(parseSchedFlags('sh', 'toString')).toMatchObject({ ok: false, code: 'invalidFlag' });
    expect(parseSchedFlags('sh', ',')).toMatchObject({ ok: false, code: 'invalidFlag' });
  });
});
