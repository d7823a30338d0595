// The lab's rules and director config files: the rules must load into the rules model and read back as
// `ipvsadm-save -n` prints them; the config must be the schema's shape with the lab's addresses.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DestRegistry } from '../../src/dest/dest.js';
import { assertPrivate } from '../../src/lab/netns.js';
import { labConfigYaml, labRules } from '../../src/lab/topology.js';
import { RulesModel } from '../../src/model/rules.js';
import { formatRules, restoreRules } from '../../src/model/save-format.js';

describe('labRules', () => {
  const expected = {
    nat: `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 1
-a -t 192.168.1.231:80 -r 192.168.1.201:80 -m -w 1
`,
    dr: `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.1.200:80 -g -w 1
-a -t 192.168.1.231:80 -r 192.168.1.201:80 -g -w 1
`,
    tun: `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.1.200:80 -i -w 1
-a -t 192.168.1.231:80 -r 192.168.1.201:80 -i -w 1
`,
  } as const;

  for (const mode of ['nat', 'dr', 'tun'] as const) {
    it(`writes the ${mode} rules, which load and save back unchanged`, () => {
      const text = labRules(mode);
      expect(text).toBe(expected[mode]);
      const model = new RulesModel(new DestRegistry());
      restoreRules(model, text);
      // ipvsadm-save names the tunnel type of -i destinations (ipvsadm 1.30+); the input leaves it implicit.
      const saved = mode === 'tun' ? expected.tun.replaceAll('-i -w 1', '-i -w 1 --tun-type ipip') : expected[mode];
      expect(formatRules(model.snapshot)).toBe(saved);
    });
  }
});

describe('labConfigYaml', () => {
  it('writes the director config schema with uvs-owned addresses and paths inside the lab directory', () => {
    const text = labConfigYaml(
      [
        { name: 'eth0', addresses: ['192.168.10.1/24', '192.168.1.231/32'] },
        { name: 'eth1', addresses: ['192.168.1.230/24'] },
      ],
      '/tmp/uvs-lab-x',
    );
    expect(text.startsWith('# uvs director configuration')).toBe(true);
    expect(parse(text)).toEqual({
      interfaces: [
        { name: 'eth0', mac: 'auto', mtu: 'auto', addresses: ['192.168.10.1/24', '192.168.1.231/32'] },
        { name: 'eth1', mac: 'auto', mtu: 'auto', addresses: ['192.168.1.230/24'] },
      ],
      rules: 'rules.txt',
      control: '/tmp/uvs-lab-x/uvs.sock',
      state: '/tmp/uvs-lab-x/rules.state',
      io: { backend: 'afpacket', rx: 'mmsg', wake: 'poll', batch: 64 },
      conn: { capacity: 65536 },
    });
  });
});

describe('assertPrivate', () => {
  it('accepts 10.0.0.0/8 and 192.168.0.0/16 and nothing wider or elsewhere', () => {
    for (const ok of ['10.1.2.3/24', '10.0.0.0/8', '192.168.1.231', '192.168.0.0/16', '192.168.1.231/32']) {
      expect(() => assertPrivate(ok)).not.toThrow();
    }
    for (const bad of ['8.8.8.8/32', '172.16.0.1/24', '10.0.0.0/7', '192.168.0.0/15', '192.169.0.1/32', 'x/24']) {
      expect(() => assertPrivate(bad)).toThrow();
    }
  });
});
