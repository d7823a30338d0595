// The record of what the daemon turned off (src/daemon/offload-record.ts): where it lives, that it is read
// back only when it is one, and how a restore uses it.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  currentNetns,
  OffloadRecordError,
  offloadRecordPath,
  readOffloadRecord,
  removeOffloadRecord,
  restoreRecordedOffloads,
  writeOffloadRecord,
} from '../../src/daemon/offload-record.js';
import type { Offloads } from '../../src/io/offloads.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uvs-offload-record-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('offload record', () => {
  it('lives beside the control socket, so two configurations never share one', () => {
    expect(offloadRecordPath('/run/uvs/uvs.sock')).toBe('/run/uvs/uvs.sock.offloads.json');
    expect(offloadRecordPath('/run/uvs/edge.sock')).not.toBe(offloadRecordPath('/run/uvs/uvs.sock'));
  });

  it('is written whole, with no temporary file left, and read back', () => {
    const path = offloadRecordPath(join(dir, 'uvs.sock'));
    const record = {
      pid: 1234,
      netns: currentNetns(),
      interfaces: { eth0: ['gro', 'lro'] as const, eth1: ['gro'] as const },
    };
    writeOffloadRecord(path, record);
    expect(readOffloadRecord(path)).toEqual(record);
    expect(readdirSync(dir)).toEqual(['uvs.sock.offloads.json']);
    removeOffloadRecord(path);
    expect(readOffloadRecord(path)).toBeUndefined();
    removeOffloadRecord(path);
  });

  it('refuses a file that is not a record, naming it and why', () => {
    const path = join(dir, 'bad.json');
    for (const [text, why] of [
      ['{"pid": 1', /JSON/],
      ['[]', /no pid/],
      ['{"pid": 1, "netns": "net:[1]"}', /no interfaces/],
      ['{"pid": 1, "netns": "net:[1]", "interfaces": {"eth0": ["tso"]}}', /eth0: features must be a list of gro, lro/],
    ] as const) {
      writeFileSync(path, text);
      expect(() => readOffloadRecord(path)).toThrow(OffloadRecordError);
      expect(() => readOffloadRecord(path)).toThrow(why);
    }
  });
});

describe('restoreRecordedOffloads', () => {
  it('turns each recorded feature back on, reports what an interface refused, and deletes the record', () => {
    const path = join(dir, 'r.json');
    writeOffloadRecord(path, {
      pid: 7,
      netns: 'net:[1]',
      interfaces: { a: ['gro'], b: ['gro', 'lro'], gone: ['gro'] },
    });
    const calls: string[] = [];
    const set = (dev: string, want: Partial<Offloads>) => {
      if (dev === 'gone') throw new Error('gone: ENODEV');
      calls.push(`${dev} ${JSON.stringify(want)}`);
    };
    const report = restoreRecordedOffloads(path, set, 'net:[1]');
    expect(calls).toEqual(['a {"gro":true}', 'b {"gro":true,"lro":true}']);
    expect(report.restored).toEqual([
      { name: 'a', features: ['gro'] },
      { name: 'b', features: ['gro', 'lro'] },
    ]);
    expect(report.failed).toEqual([{ name: 'gone', features: ['gro'], error: 'gone: ENODEV' }]);
    expect(report.record?.pid).toBe(7);
    expect(existsSync(path)).toBe(false);
  });

  it('does nothing without a record', () => {
    const report = restoreRecordedOffloads(join(dir, 'none.json'), () => {
      throw new Error('must not be called');
    });
    expect(report).toEqual({ record: undefined, restored: [], failed: [] });
  });

  it('refuses a record from another network namespace and keeps it', () => {
    const path = join(dir, 'r.json');
    writeOffloadRecord(path, { pid: 7, netns: 'net:[1]', interfaces: { a: ['gro'] } });
    expect(() =>
      restoreRecordedOffloads(
        path,
        () => {
          throw new Error('must not be called');
        },
        'net:[2]',
      ),
    ).toThrow(/network namespace net:\[1\], this is net:\[2\]/);
    expect(existsSync(path)).toBe(true);
  });
});
