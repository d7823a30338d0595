// Malformed keepalived.conf text never throws out of the reader: whatever the bytes, it answers with the
// config and its findings, and the rules step either gives a snapshot or a KeepalivedConfigError with a line.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { KeepalivedConfigError, parseKeepalivedConfig } from '../../src/keepalived/config.js';
import { keepalivedSnapshot } from '../../src/keepalived/rules.js';
import { ConfigDir } from './helpers.js';

const dir = new ConfigDir();
afterAll(() => dir.remove());

const WORDS = [
  'virtual_server',
  'virtual_server_group',
  'real_server',
  'group',
  'fwmark',
  'global_defs',
  'include',
  'lb_algo',
  'lb_kind',
  'protocol',
  'TCP',
  'UDP',
  'NAT',
  'DR',
  'TUN',
  'rr',
  'wlc',
  'weight',
  'ops',
  'persistence_timeout',
  'persistence_granularity',
  'quorum',
  'sorry_server',
  'HTTP_GET',
  'url',
  'path',
  'status_code',
  'digest',
  'TCP_CHECK',
  'MISC_CHECK',
  'misc_path',
  'UDP_CHECK',
  'payload',
  'vrrp_instance',
  '10.0.0.1',
  '10.0.0.1-5',
  '192.168.1.2',
  '10.0.0.0/30',
  '80',
  '0',
  '65536',
  '-1',
  '1.5',
  '{',
  '}',
  '"',
  "'",
  '#',
  '!',
  '\\',
  '@x',
  '@^x',
  '$V=1',
  '*.conf',
  '255.255.255.0',
  '200-299',
  'zz',
];

function check(text: string): void {
  const path = dir.write('fuzz.conf', text);
  const { config, errors } = parseKeepalivedConfig(path);
  for (const d of [...errors, ...config.warnings]) expect(d.line).toBeGreaterThanOrEqual(0);
  if (errors.length > 0) return;
  try {
    keepalivedSnapshot(config);
  } catch (err) {
    expect(err).toBeInstanceOf(KeepalivedConfigError);
    expect((err as KeepalivedConfigError).diagnostics[0]!.line).toBeGreaterThan(0);
  }
}

describe('malformed input', () => {
  it('keepalived-like word soup never throws', () => {
    const line = fc.array(fc.constantFrom(...WORDS), { maxLength: 6 }).map((w) => w.join(' '));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), (lines) => check(lines.join('\n'))),
      { numRuns: 300 },
    );
  });

  it('arbitrary text never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => check(text)),
      { numRuns: 300 },
    );
  });
});
