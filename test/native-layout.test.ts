// The values C and TypeScript share (native/layout.h) cannot drift apart silently: the addon exports its
// values, each TypeScript owner names the ones it relies on, and loading refuses an addon that disagrees,
// naming each value. These tests change one side at a time and see the failure.
import { describe, expect, it } from 'vitest';
import { ConnRecord, ConnTable, connHash } from '../src/conn/table.js';
import { IpProto } from '../src/constants.js';
import { fastPathLayout } from '../src/datapath/fastpath.js';
import { NeighbourTable } from '../src/datapath/neighbours.js';
import { DestRegistry, Fwd } from '../src/dest/dest.js';
import { Stats } from '../src/dest/stats.js';
import { packetIoLayout } from '../src/io/native-layout.js';
import {
  checkNativeLayout,
  loadNative,
  type NativeAddon,
  NativeLayoutError,
  type NativeLayoutExpectation,
  nativeLayoutMismatches,
  nativeModuleLayout,
} from '../src/native.js';
import { thrownError } from './helpers/errors.js';

const owners = [nativeModuleLayout, fastPathLayout, packetIoLayout];
const addon = loadNative();

/** `expected` with `changes` applied to its values: a TypeScript side edited without the C side. */
function editedTypeScript(expected: NativeLayoutExpectation, changes: Record<string, number>): NativeLayoutExpectation {
  return { ...expected, values: { ...expected.values, ...changes } };
}

/** The built addon with its layout edited: a C side edited without the TypeScript side. */
function editedNative(
  changes: Record<string, number>,
  removed: string[] = [],
): Pick<NativeAddon, 'layout' | 'layoutConnHash'> {
  const layout: Record<string, number> = { ...addon.layout, ...changes };
  for (const name of removed) delete layout[name];
  return { layout, layoutConnHash: addon.layoutConnHash };
}

function thrownBy(fn: () => void): NativeLayoutError {
  return thrownError(fn, NativeLayoutError);
}

describe('the built addon and the TypeScript', () => {
  it.each(owners.map((o) => [o.owner, o] as const))('agree on everything %s relies on', (_owner, expected) => {
    expect(nativeLayoutMismatches(addon, expected)).toEqual([]);
    expect(() => loadNative(expected)).not.toThrow();
  });

  it('leave no exported native value without a TypeScript owner that checks it', () => {
    const checked = new Set(owners.flatMap((o) => Object.keys(o.values)));
    const unchecked = Object.keys(addon.layout).filter((name) => !checked.has(name));
    expect(unchecked).toEqual([]);
    expect(Object.keys(addon.layout).length).toBeGreaterThan(40);
  });

  it('compute the same connection hash', () => {
    for (const [seed, proto, caddr, cport] of [
      [0, 6, 0, 0],
      [0xa5a5a5a5, 17, 0x0a000002, 65535],
      [7, 6, 0xffffffff, 1],
    ] as const) {
      expect(addon.layoutConnHash(seed, proto, caddr, cport)).toBe(connHash(seed, proto, caddr, cport) >>> 0);
    }
  });
});

describe('a value changed on one side only', () => {
  it('on the TypeScript side is refused, naming the value and both numbers', () => {
    const edited = editedTypeScript(fastPathLayout, { 'ConnFlag.template': 0x20 });
    const err = thrownBy(() => checkNativeLayout(addon, edited));
    expect(err.mismatches).toEqual(['ConnFlag.template: native 2, TypeScript 32']);
    expect(err.message).toContain('src/datapath/fastpath.ts');
    expect(err.message).toContain('ConnFlag.template: native 2, TypeScript 32');
  });

  it('names every value that differs, not just the first', () => {
    const edited = editedTypeScript(packetIoLayout, { 'SendResult.errno': 3, 'FrameFlag.truncated': 1 << 7 });
    const err = thrownBy(() => checkNativeLayout(addon, edited));
    expect(err.mismatches).toHaveLength(2);
    expect(err.message).toContain('SendResult.errno: native 2, TypeScript 3');
    expect(err.message).toContain('FrameFlag.truncated: native 32, TypeScript 128');
  });

  it('on the C side is refused, including a value C no longer exports', () => {
    const native = editedNative({ 'Ctl.now': 5, 'NeighState.static': 6 }, ['ConnRecord.expires']);
    const err = thrownBy(() => checkNativeLayout(native, fastPathLayout));
    expect(err.mismatches).toEqual(
      expect.arrayContaining([
        'Ctl.now: native 5, TypeScript 4',
        'NeighState.static: native 6, TypeScript 3',
        'ConnRecord.expires: missing in native, TypeScript 6',
      ]),
    );
    expect(err.mismatches).toHaveLength(3);
  });

  it('in the connection hash is refused', () => {
    const edited: NativeLayoutExpectation = {
      ...fastPathLayout,
      connHash: (seed, proto, caddr, cport) => connHash(seed ^ 1, proto, caddr, cport),
    };
    const err = thrownBy(() => checkNativeLayout(addon, edited));
    expect(err.mismatches).toHaveLength(1);
    expect(err.mismatches[0]).toMatch(/^connHash\(seed=0x[0-9a-f]+, proto=\d+, caddr=0x[0-9a-f]+, cport=\d+\)/);
  });

  it('makes loading fail, every time it is asked for', () => {
    const edited = editedTypeScript(packetIoLayout, { MAX_BATCH: 2048 });
    expect(() => loadNative(edited)).toThrow(/MAX_BATCH: native 1024, TypeScript 2048/);
    expect(() => loadNative(edited)).toThrow(NativeLayoutError);
  });

  it('an addon without a layout at all (built before it existed) is refused, not accepted', () => {
    const err = thrownBy(() => checkNativeLayout({ layout: {}, layoutConnHash: addon.layoutConnHash }, packetIoLayout));
    expect(err.mismatches).toHaveLength(Object.keys(packetIoLayout.values).length);
  });
});

describe('the TypeScript names are what the tables really do', () => {
  it('ConnRecord is where ConnTable writes each field', () => {
    const registry = new DestRegistry();
    const dest = registry.create(0x0a000064, 8080, Fwd.masq, 1, new Stats());
    const table = new ConnTable(16, registry, { ticksPerSecond: 1, seed: 99 });
    const i = table.insert(IpProto.tcp, 0x0a000001, 40000, 0x0a0000fe, 80, 0x0a000064, 8080, dest.id, 5);
    const { rec } = table.nativeTables();
    const o = i * ConnRecord.words;
    expect(rec.length).toBe(16 * ConnRecord.words);
    expect(rec[o + ConnRecord.caddr]).toBe(table.caddrOf(i));
    expect(rec[o + ConnRecord.vaddr]).toBe(table.vaddrOf(i));
    expect(rec[o + ConnRecord.daddr]).toBe(table.daddrOf(i));
    expect(rec[o + ConnRecord.ports]).toBe(((40000 << 16) | 80) >>> 0);
    expect(rec[o + ConnRecord.dportProtoFlags]! >>> 16).toBe(8080);
    expect((rec[o + ConnRecord.dportProtoFlags]! >>> 8) & 0xff).toBe(IpProto.tcp);
    expect(rec[o + ConnRecord.dportProtoFlags]! & 0xff).toBe(table.flagsOf(i));
    const expires = new Float64Array(rec.buffer, rec.byteOffset, rec.length / 2)[o / 2 + ConnRecord.expires / 2];
    expect(expires).toBe(table.expiresOf(i));
    expect(ConnRecord.expires % 2).toBe(0);
  });

  it("the neighbour index puts an address at C's home position for it", () => {
    const neigh = new NeighbourTable({ queueCapacity: 4, ticksPerSecond: 1, staticCapacity: 4 });
    const { key, slotPlusOne } = neigh.nativeIndex();
    const mask = key.length - 1;
    for (const ip of [0x0a000001, 0xc0a80101, 0x0a0000fe]) {
      const home = addon.layoutAddrHash(ip, mask);
      // Each address alone in the index: nothing pushes it past its home position.
      const lone = new NeighbourTable({ queueCapacity: 4, ticksPerSecond: 1, staticCapacity: 4 });
      lone.addStatic(ip, 0x020000000001, 0);
      const index = lone.nativeIndex();
      expect(index.key[home]! >>> 0).toBe(ip);
      expect(index.slotPlusOne[home]).toBeGreaterThan(0);
    }
    expect(slotPlusOne.every((v) => v === 0)).toBe(true);
  });
});
