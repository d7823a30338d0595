// The namespace harness itself: it must refuse addresses outside the private ranges the tests may use,
// and leave no namespace behind.
import { describe, expect, it } from 'vitest';
import { assertPrivateCidr, canUseNetns, listNamespaces, NetnsLab, netnsSkipReason } from './harness.js';

describe('assertPrivateCidr', () => {
  it('accepts prefixes inside 10.0.0.0/8 and 192.168.0.0/16', () => {
    for (const ok of ['10.0.0.1/8', '10.201.0.1/24', '10.255.255.255/32', '192.168.0.1/16', '192.168.7.9/30']) {
      expect(() => assertPrivateCidr(ok)).not.toThrow();
    }
  });

  it('refuses anything that reaches outside them, or is not an address', () => {
    const bad = ['10.0.0.1/7', '192.168.0.1/15', '172.16.0.1/24', '8.8.8.8/32', '11.0.0.1/24', '192.169.0.1/24'];
    for (const b of [...bad, '10.0.0.1', '10.0.0.1/33', 'x/24', '10.0.0/24']) {
      expect(() => assertPrivateCidr(b)).toThrow(/harness/);
    }
  });
});

// Creating namespaces needs root; CI runs as root.
describe.skipIf(!canUseNetns)(`NetnsLab ${netnsSkipReason}`, () => {
  it('prefixes its namespaces uniquely and removes them all on cleanup', () => {
    const lab = new NetnsLab();
    const other = new NetnsLab();
    expect(lab.prefix).toMatch(/^uvs-\d+-[0-9a-f]{6}-$/);
    expect(other.prefix).not.toBe(lab.prefix);
    try {
      const a = lab.addNamespace('a');
      const b = lab.addNamespace('b');
      lab.addVeth(a, 'x0', '192.168.77.1/24', b, 'x1', '192.168.77.2/24');
      expect(listNamespaces()).toEqual(expect.arrayContaining([a, b]));
      expect(lab.exec(b, 'ip', ['-br', 'addr', 'show', 'dev', 'x1'])).toContain('192.168.77.2/24');
      expect(() => lab.addVeth(a, 'y0', '172.16.0.1/24', b, 'y1', '172.16.0.2/24')).toThrow(/outside/);
    } finally {
      lab.cleanup();
      other.cleanup();
    }
    expect(listNamespaces().filter((n) => n.startsWith(lab.prefix))).toEqual([]);
    expect(lab.made).toEqual([]);
  });
});
