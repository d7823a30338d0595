// The config's `reload:` block: what SIGHUP does with a rules file that holds no commands.
import { describe, expect, it } from 'vitest';
import { ConfigErrorCode, parseConfig } from '../../src/config/director.js';

const BASE = `interfaces:
  - { name: eth0, mac: "02:00:00:00:00:aa", mtu: 1500, addresses: [192.168.1.231/24] }
`;

describe('config reload:', () => {
  it('refuses an empty rules file by default', () => {
    expect(parseConfig(BASE).reload).toEqual({ empty: 'refuse' });
  });

  it('takes empty: clear as consent, and empty: refuse said outright', () => {
    expect(parseConfig(`${BASE}reload: { empty: clear }\n`).reload).toEqual({ empty: 'clear' });
    expect(parseConfig(`${BASE}reload:\n  empty: refuse\n`).reload).toEqual({ empty: 'refuse' });
  });

  it('rejects another value or key with its line', () => {
    expect(() => parseConfig(`${BASE}reload: { empty: yes }\n`)).toThrow(
      expect.objectContaining({ code: ConfigErrorCode.badValue, line: 3 }),
    );
    expect(() => parseConfig(`${BASE}reload: { allowEmpty: true }\n`)).toThrow(
      expect.objectContaining({ code: ConfigErrorCode.unknownKey, line: 3 }),
    );
  });
});
