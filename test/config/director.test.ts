import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  ConfigErrorCode,
  DEFAULT_CONTROL_PATH,
  type InterfaceReader,
  loadConfig,
  parseConfig,
} from '../../src/config/director.js';

const reader: InterfaceReader = {
  mac: (name) => {
    if (name === 'eth0') return '02:00:00:00:00:aa';
    throw new Error(`no interface ${name}`);
  },
  mtu: (name) => {
    if (name === 'eth0') return '1500\n';
    throw new Error(`no interface ${name}`);
  },
};

const SCHEMA_EXAMPLE = `# uvs director configuration
interfaces:
  - name: eth0
    mac: auto
    mtu: auto
    addresses: [192.168.1.231/24]
  - name: eth1
    mac: "02:00:00:00:01:01"
    mtu: 9000
    addresses: [192.168.2.1/24, 192.168.2.2]
neighbours:
  - { ip: 192.168.2.11, mac: "02:00:00:00:02:11" }
routes:
  - { to: default, via: 192.168.1.1 }
  - { to: 10.9.0.0/16, via: 192.168.2.254 }
rules: rules.txt
control: /tmp/uvs.sock
io:
  backend: afpacket
  rx: mmsg
  wake: busy
  batch: 128
  gro: keep
conn:
  capacity: 4096
`;

function errorOf(text: string): ConfigError {
  try {
    parseConfig(text, { reader });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('parses the schema example into host-order numbers, resolving auto through the reader', () => {
    const cfg = parseConfig(SCHEMA_EXAMPLE, { reader, path: '/etc/uvs/uvs.yaml' });
    expect(cfg.interfaces).toHaveLength(2);
    const [eth0, eth1] = cfg.interfaces;
    expect(eth0).toEqual({
      name: 'eth0',
      mac: 0x0200000000aa,
      mtu: 1500,
      // 192.168.1.231 = 0xc0a801e7, /24 mask 0xffffff00
      addresses: [{ addr: 0xc0a801e7, prefixLen: 24, mask: 0xffffff00, network: 0xc0a80100 }],
    });
    expect(eth1!.mac).toBe(0x020000000101);
    expect(eth1!.mtu).toBe(9000);
    expect(eth1!.addresses[1]).toEqual({ addr: 0xc0a80202, prefixLen: 32, mask: 0xffffffff, network: 0xc0a80202 });
    expect(cfg.neighbours).toEqual([{ ip: 0xc0a8020b, mac: 0x020000000211 }]);
    expect(cfg.routes).toEqual([
      { network: 0, prefixLen: 0, mask: 0, via: 0xc0a80101 },
      { network: 0x0a090000, prefixLen: 16, mask: 0xffff0000, via: 0xc0a802fe },
    ]);
    expect(cfg.rules).toBe('/etc/uvs/rules.txt');
    expect(cfg.control).toBe('/tmp/uvs.sock');
    expect(cfg.state).toBe('/var/lib/uvs/rules.state');
    expect(cfg.io).toEqual({ backend: 'afpacket', rx: 'mmsg', wake: 'busy', batch: 128, gro: 'keep' });
    expect(cfg.conn).toEqual({ capacity: 4096 });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.interfaces[0]!.addresses[0])).toBe(true);
  });

  it('fills the defaults of optional keys', () => {
    const cfg = parseConfig('interfaces:\n  - { name: eth0, addresses: [10.0.0.1/8] }\n', { reader });
    expect(cfg.interfaces[0]!.mac).toBe(0x0200000000aa);
    expect(cfg.interfaces[0]!.mtu).toBe(1500);
    expect(cfg.neighbours).toEqual([]);
    expect(cfg.routes).toEqual([]);
    expect(cfg.rules).toBeNull();
    expect(cfg.control).toBe(DEFAULT_CONTROL_PATH);
    expect(cfg.io).toEqual({ backend: 'afpacket', rx: 'mmsg', wake: 'poll', batch: 64, gro: 'off' });
    expect(cfg.conn.capacity).toBe(1048576);
  });

  const bad: { description: string; text: string; code: string; line: number; match: RegExp }[] = [
    {
      description: 'unknown top-level key',
      text: 'interfaces:\n  - { name: eth0, addresses: [10.0.0.1/8] }\nlisten: 1\n',
      code: ConfigErrorCode.unknownKey,
      line: 3,
      match: /unknown key "listen"/,
    },
    {
      description: 'unknown key in an interface',
      text: 'interfaces:\n  - name: eth0\n    addresses: [10.0.0.1/8]\n    speed: 10\n',
      code: ConfigErrorCode.unknownKey,
      line: 4,
      match: /unknown key "speed" in an interface/,
    },
    {
      description: 'missing interfaces',
      text: 'control: /x\n',
      code: ConfigErrorCode.missing,
      line: 1,
      match: /"interfaces"/,
    },
    {
      description: 'interface without addresses',
      text: 'interfaces:\n  - name: eth0\n',
      code: ConfigErrorCode.missing,
      line: 2,
      match: /"addresses"/,
    },
    {
      description: 'bad address',
      text: 'interfaces:\n  - name: eth0\n    addresses:\n      - 10.0.0.300/8\n',
      code: ConfigErrorCode.badValue,
      line: 4,
      match: /10\.0\.0\.300\/8/,
    },
    {
      description: 'bad prefix',
      text: 'interfaces:\n  - { name: eth0, addresses: [10.0.0.1/33] }\n',
      code: ConfigErrorCode.badValue,
      line: 2,
      match: /IPv4\/prefix/,
    },
    {
      description: 'bad MAC',
      text: 'interfaces:\n  - name: eth0\n    mac: 02:00:00\n    addresses: [10.0.0.1/8]\n',
      code: ConfigErrorCode.badValue,
      line: 3,
      match: /not a MAC/,
    },
    {
      description: 'MTU below 68',
      text: 'interfaces:\n  - name: eth0\n    mtu: 67\n    addresses: [10.0.0.1/8]\n',
      code: ConfigErrorCode.badValue,
      line: 3,
      match: /68\.\.65535/,
    },
    {
      description: 'auto on an interface the reader does not know',
      text: 'interfaces:\n  - name: eth9\n    addresses: [10.0.0.1/8]\n',
      code: ConfigErrorCode.interfaceRead,
      line: 2,
      match: /eth9: cannot read its mac/,
    },
    {
      description: 'gateway off every link',
      text: 'interfaces:\n  - { name: eth0, addresses: [10.0.0.1/8] }\nroutes:\n  - to: default\n    via: 192.168.1.1\n',
      code: ConfigErrorCode.badValue,
      line: 5,
      match: /gateway 192\.168\.1\.1/,
    },
    {
      description: 'route with host bits',
      text: 'interfaces:\n  - { name: eth0, addresses: [10.0.0.1/8] }\nroutes:\n  - { to: 10.9.0.1/16, via: 10.0.0.254 }\n',
      code: ConfigErrorCode.badValue,
      line: 4,
      match: /host bits/,
    },
    {
      description: 'one address on two interfaces',
      text: 'interfaces:\n  - { name: eth0, addresses: [10.0.0.1/8] }\n  - { name: eth0, mac: "02:00:00:00:00:01", mtu: 1500, addresses: [10.0.0.1/8] }\n',
      code: ConfigErrorCode.badValue,
      line: 3,
      match: /listed twice/,
    },
    {
      description: 'io.batch above the native limit',
      text: 'interfaces:\n  - { name: eth0, addresses: [10.0.0.1/8] }\nio:\n  batch: 5000\n',
      code: ConfigErrorCode.badValue,
      line: 4,
      match: /1\.\.1024/,
    },
    {
      description: 'io.wake not a wake mode',
      text: 'interfaces:\n  - { name: eth0, addresses: [10.0.0.1/8] }\nio:\n  wake: sleepy\n',
      code: ConfigErrorCode.badValue,
      line: 4,
      match: /poll, busy, coalesce/,
    },
    {
      description: 'io.gro neither off nor keep',
      text: 'interfaces:\n  - { name: eth0, addresses: [10.0.0.1/8] }\nio:\n  gro: on\n',
      code: ConfigErrorCode.badValue,
      line: 4,
      match: /off, keep/,
    },
    {
      description: 'io.backend not in the list',
      text: 'interfaces:\n  - { name: eth0, addresses: [10.0.0.1/8] }\nio: { backend: dpdk }\n',
      code: ConfigErrorCode.badValue,
      line: 3,
      match: /afpacket, pcap/,
    },
    {
      description: 'YAML syntax error',
      text: 'interfaces: []\ncontrol: a: b\n',
      code: ConfigErrorCode.syntax,
      line: 2,
      match: /./,
    },
    {
      description: 'duplicate key',
      text: 'interfaces:\n  - { name: eth0, addresses: [10.0.0.1/8] }\ncontrol: /a\ncontrol: /b\n',
      code: ConfigErrorCode.syntax,
      line: 4,
      match: /unique/i,
    },
  ];

  it.each(bad)('rejects: $description', ({ text, code, line, match }) => {
    const err = errorOf(text);
    expect(err.code).toBe(code);
    expect(err.line).toBe(line);
    expect(err.reason).toMatch(match);
    expect(err.message).toContain(`:${line}:`);
  });
});

describe('loadConfig', () => {
  it('reads a file and resolves rules relative to it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvs-config-'));
    const path = join(dir, 'uvs.yaml');
    writeFileSync(path, 'interfaces:\n  - { name: eth0, addresses: [10.0.0.1/8] }\nrules: r/rules.txt\n');
    expect(loadConfig(path, reader).rules).toBe(join(dir, 'r/rules.txt'));
  });

  it('names the file when it cannot be read', () => {
    expect(() => loadConfig('/nonexistent/uvs.yaml', reader)).toThrow(/\/nonexistent\/uvs\.yaml: cannot read/);
  });
});

describe('parseConfig: defense', () => {
  const base = 'interfaces:\n  - { name: eth0, addresses: [10.0.0.1/8] }\n';

  it('defaults to the kernel sysctls with reclaiming on', () => {
    expect(parseConfig(base, { reader }).defense).toEqual({
      amemthresh: 1024,
      amDroprate: 10,
      dropEntry: 0,
      dropPacket: 0,
      secureTcp: 0,
      reclaimEmbryonic: true,
    });
  });

  it('takes the kernel names', () => {
    const text = `${base}defense:\n  amemthresh: 5000\n  am_droprate: 4\n  drop_entry: 1\n  drop_packet: 3\n  secure_tcp: 2\n  reclaim_embryonic: false\n`;
    expect(parseConfig(text, { reader }).defense).toEqual({
      amemthresh: 5000,
      amDroprate: 4,
      dropEntry: 1,
      dropPacket: 3,
      secureTcp: 2,
      reclaimEmbryonic: false,
    });
  });

  it.each([
    ['drop_entry: 4', 4, /"drop_entry" must be an integer in 0\.\.3/],
    ['  secure_tcp: on', 4, /"secure_tcp" must be an integer in 0\.\.3/],
    ['am_droprate: 0', 4, /"am_droprate" must be an integer in 1\.\./],
    ['reclaim_embryonic: 1', 4, /"reclaim_embryonic" must be true or false/],
    ['syn_cookies: 1', 4, /unknown key "syn_cookies" in "defense"/],
  ])('rejects %s with its line', (entry, line, match) => {
    const err = errorOf(`${base}defense:\n  ${entry.trim()}\n`);
    expect(err.line).toBe(line);
    expect(err.reason).toMatch(match);
  });
});
