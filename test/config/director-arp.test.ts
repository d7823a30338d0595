// `arp:` in the director configuration: the neighbour table's thresholds and times under the kernel's
// sysctl names, the kernel's defaults when absent, and a bad value rejected with its line.
import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigErrorCode, DEFAULT_ARP, parseConfig } from '../../src/config/director.js';

const BASE = `interfaces:
  - { name: eth0, mac: "02:00:00:00:00:01", mtu: 1500, addresses: [192.168.1.231/24] }
`;

function rejection(text: string): ConfigError {
  try {
    parseConfig(text);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('accepted');
}

describe('director config: arp', () => {
  it('takes the kernel defaults when absent', () => {
    expect(parseConfig(BASE).arp).toEqual({
      gcThresh1: 128,
      gcThresh2: 512,
      gcThresh3: 1024,
      gcStaleTime: 60,
      baseReachableTime: 30,
    });
    expect(parseConfig(BASE).arp).toEqual(DEFAULT_ARP);
  });

  it('reads every key, and caps the default thresholds at a smaller gc_thresh3', () => {
    const all = parseConfig(
      `${BASE}arp: { gc_thresh1: 10, gc_thresh2: 20, gc_thresh3: 40, gc_stale_time: 120, base_reachable_time: 10 }\n`,
    );
    expect(all.arp).toEqual({ gcThresh1: 10, gcThresh2: 20, gcThresh3: 40, gcStaleTime: 120, baseReachableTime: 10 });
    const small = parseConfig(`${BASE}arp: { gc_thresh3: 256 }\n`);
    expect(small.arp).toMatchObject({ gcThresh1: 128, gcThresh2: 256, gcThresh3: 256 });
  });

  it('rejects unknown keys, thresholds above gc_thresh3 and times out of range, with the line', () => {
    const unknown = rejection(`${BASE}arp:\n  gc_thresh4: 1\n`);
    expect(unknown.code).toBe(ConfigErrorCode.unknownKey);
    expect(unknown.line).toBe(4);
    const above = rejection(`${BASE}arp:\n  gc_thresh3: 100\n  gc_thresh2: 200\n`);
    expect(above.code).toBe(ConfigErrorCode.badValue);
    expect(above.line).toBe(5);
    expect(above.reason).toMatch(/"gc_thresh2" must be an integer in 0\.\.100/);
    expect(rejection(`${BASE}arp: { gc_thresh3: 0 }\n`).code).toBe(ConfigErrorCode.badValue);
    expect(rejection(`${BASE}arp: { gc_thresh3: 65537 }\n`).code).toBe(ConfigErrorCode.badValue);
    expect(rejection(`${BASE}arp: { gc_stale_time: 0 }\n`).code).toBe(ConfigErrorCode.badValue);
    expect(rejection(`${BASE}arp: { base_reachable_time: 1.5 }\n`).code).toBe(ConfigErrorCode.badValue);
  });
});
