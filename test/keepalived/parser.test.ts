// The keepalived.conf reader: keepalived's syntax (comments, quotes, braces, includes with globs), the LVS
// keywords with keepalived's defaults, and what it reports with FILE:LINE.
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadKeepalivedConfig, parseKeepalivedConfig } from '../../src/keepalived/config.js';
import { expandBraces } from '../../src/keepalived/glob.js';
import type { HttpCheck, MiscCheck, VirtualServer } from '../../src/keepalived/model.js';
import { decomment, formatDiagnostic, splitQuoted, splitWords } from '../../src/keepalived/syntax.js';
import { parseIpv4Address } from '../../src/wire/addr.js';
import { ConfigDir } from './helpers.js';

let dir: ConfigDir;
beforeEach(() => {
  dir = new ConfigDir();
});
afterEach(() => {
  dir.remove();
});

const ip = (text: string): number => parseIpv4Address(text)!;

/** One NAT TCP virtual server with `body` inside and one real server with `rsBody`. */
function service(body = '', rsBody = ''): string {
  return `virtual_server 10.0.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
${body}
    real_server 192.168.1.2 80 {
${rsBody}
    }
}
`;
}

function parse(text: string) {
  return parseKeepalivedConfig(dir.write('keepalived.conf', text));
}

function messages(list: readonly { file: string; line: number; message: string }[]): string[] {
  return list.map((d) => `${d.file.slice(dir.root.length + 1)}:${d.line}: ${d.message}`);
}

describe('lines, comments and quotes', () => {
  it('cuts a line at # or ! outside quotes, keeps \\# and \\!, and strips blanks', () => {
    expect(decomment('   lb_algo rr   # round robin')).toBe('lb_algo rr');
    expect(decomment('lb_algo rr ! also a comment')).toBe('lb_algo rr');
    expect(decomment('misc_path "/bin/x # not a comment" ! comment')).toBe('misc_path "/bin/x # not a comment"');
    expect(decomment('notify_up /bin/echo a\\#b')).toBe('notify_up /bin/echo a#b');
    expect(decomment('! whole line')).toBe('');
  });

  it('splits words on blanks, a quoted string being one word without its quotes', () => {
    expect(splitWords('misc_path "/usr/bin/check --host a"')).toEqual(['misc_path', '/usr/bin/check --host a']);
    expect(splitWords('a\t b')).toEqual(['a', 'b']);
    expect(splitWords('path "/x')).toEqual({ error: `Unmatched quote: 'path "/x'` });
  });

  it('splits script lines as keepalived does: both quotes, escapes decoded in the command', () => {
    expect(splitQuoted(`notify_up "/bin/echo 'a b' c\\td" nobody nogroup`, false)).toEqual([
      'notify_up',
      "/bin/echo 'a b' c\\td",
      'nobody',
      'nogroup',
    ]);
    expect(splitQuoted("/bin/echo 'a b' c\\td \\x41\\101", true)).toEqual(['/bin/echo', 'a b', 'c\td', 'AA']);
    expect(splitQuoted("say 'unterminated", true)).toEqual({
      error: "String 'say 'unterminated': missing terminating '",
    });
  });

  it('reads blocks whatever the braces share a line with', () => {
    const { config, errors } = parse(`virtual_server 10.0.0.1 80
{
  lb_algo rr ; protocol TCP
  protocol TCP
  lb_kind NAT
  real_server 192.168.1.2 80 { weight 4
    TCP_CHECK { connect_timeout 2 } }
  real_server 192.168.1.3 80 { weight 2 } }
`);
    expect(messages(errors)).toEqual([]);
    expect(config.virtualServers).toHaveLength(1);
    const [a, b] = config.virtualServers[0]!.realServers;
    expect([a!.weight, a!.checkers[0]!.type, b!.weight]).toEqual([4, 'TCP_CHECK', 2]);
    expect((a!.checkers[0] as { connectTimeout: number }).connectTimeout).toBe(2);
  });

  it('takes a comment inside a block and a quoted script with a # in it', () => {
    const { config, errors } = parse(
      service(
        '',
        `  ! the checker
  MISC_CHECK {   # runs a script
    misc_path "/usr/local/bin/check.sh #1"
    misc_dynamic
  }`,
      ),
    );
    expect(messages(errors)).toEqual([]);
    const misc = config.virtualServers[0]!.realServers[0]!.checkers[0] as MiscCheck;
    expect(misc).toMatchObject({ type: 'MISC_CHECK', dynamic: true });
    expect(misc.script.argv).toEqual(['/usr/local/bin/check.sh', '#1']);
  });

  it('reports an unmatched quote, a missing } and an extra } at their lines', () => {
    const { errors } = parse(`virtual_server 10.0.0.1 80 {
  lb_algo rr
  virtualhost "www.example
}
}
virtual_server 10.0.0.2 80 {
  lb_algo rr
`);
    expect(messages(errors)).toEqual([
      `keepalived.conf:3: Unmatched quote: 'virtualhost "www.example'`,
      "keepalived.conf:5: Extra '}' found",
      "keepalived.conf:6: Missing '}': the block of 'virtual_server' is not closed",
    ]);
  });

  it('reports a block keyword without its block', () => {
    const { errors } = parse('virtual_server 10.0.0.1 80\nlb_algo rr\n');
    expect(messages(errors)).toContain(
      "keepalived.conf:1: Missing '{' at beginning of configuration block 'virtual_server'",
    );
  });
});

describe('include', () => {
  it('reads the files a glob matches, sorted, relative to the including file, at the include', () => {
    dir.write('etc/conf.d/20-b.conf', service().replace('10.0.0.1 80', '10.0.0.20 80'));
    dir.write('etc/conf.d/10-a.conf', service().replace('10.0.0.1 80', '10.0.0.10 80'));
    dir.write('etc/conf.d/skip.txt', 'this is not read\n');
    dir.write('etc/conf.d/.hidden.conf', 'nor this\n');
    // A nested include is relative to its own file's directory.
    dir.write('etc/conf.d/sub/30-c.conf.in', service().replace('10.0.0.1 80', '10.0.0.30 80'));
    dir.write('etc/conf.d/25-nested.conf', 'include sub/*.in\n');
    const main = dir.write('etc/keepalived.conf', '! main\ninclude conf.d/*.conf\n');
    const { config, errors } = parseKeepalivedConfig(main);
    expect(messages(errors)).toEqual([]);
    const vips = config.virtualServers.map((vs) => (vs.address.kind === 'address' ? vs.address.addr : 0));
    expect(vips).toEqual([ip('10.0.0.10'), ip('10.0.0.20'), ip('10.0.0.30')]);
    expect(config.files.map((f) => f.slice(dir.root.length + 1))).toEqual([
      'etc/keepalived.conf',
      'etc/conf.d/10-a.conf',
      'etc/conf.d/20-b.conf',
      'etc/conf.d/25-nested.conf',
      'etc/conf.d/sub/30-c.conf.in',
    ]);
  });

  it('expands {a,b} before the wildcards, each alternative in turn', () => {
    expect(expandBraces('x/{b,a{1,2}}.conf')).toEqual(['x/b.conf', 'x/a1.conf', 'x/a2.conf']);
    dir.write('b.inc', service().replace('10.0.0.1 80', '10.0.0.2 80'));
    dir.write('a.inc', service().replace('10.0.0.1 80', '10.0.0.3 80'));
    const { config } = parse('include {b,a}.inc\n');
    expect(config.virtualServers.map((vs) => vs.line)).toHaveLength(2);
    expect(config.virtualServers.map((vs) => (vs.address.kind === 'address' ? vs.address.addr : 0))).toEqual([
      ip('10.0.0.2'),
      ip('10.0.0.3'),
    ]);
  });

  it('reads an include inside a block as part of that block, and names the included file in errors', () => {
    dir.write(
      'servers/web.conf',
      'real_server 192.168.1.9 80 {\n  weight 2\n}\nreal_server 192.168.1.10 80 {\n  weight x\n}\n',
    );
    const { config, errors } = parse(`virtual_server 10.0.0.1 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  include servers/*.conf
}
`);
    expect(config.virtualServers[0]!.realServers.map((rs) => rs.addr)).toEqual([ip('192.168.1.9'), ip('192.168.1.10')]);
    expect(messages(errors)).toEqual(['servers/web.conf:5: Real server weight x is outside range 0-2147483647']);
    expect(formatDiagnostic(errors[0]!)).toBe(
      `${join(dir.root, 'servers/web.conf')}:5: Real server weight x is outside range 0-2147483647`,
    );
  });

  it('takes absolute patterns, ? and [...], and skips directories and executable files', () => {
    dir.write('x/a1.conf', service().replace('10.0.0.1 80', '10.0.0.11 80'));
    dir.write('x/b2.conf', service().replace('10.0.0.1 80', '10.0.0.12 80'));
    dir.write('x/c3.conf', service().replace('10.0.0.1 80', '10.0.0.13 80'));
    dir.write('x/a4.conf/inner', 'a directory that matches\n');
    chmodSync(dir.write('x/b5.conf', 'executable\n'), 0o755);
    const { config, errors } = parse(`include ${dir.root}/x/[ab]?.conf\n`);
    expect(errors).toEqual([]);
    expect(config.virtualServers.map((vs) => (vs.address.kind === 'address' ? vs.address.addr : 0))).toEqual([
      ip('10.0.0.11'),
      ip('10.0.0.12'),
    ]);
    expect(messages(config.warnings)).toEqual([
      `keepalived.conf:1: Configuration file '${dir.root}/x/a4.conf' is a directory - skipping`,
      `keepalived.conf:1: Configuration file '${dir.root}/x/b5.conf' is not a regular non-executable file - skipping`,
    ]);
  });

  it('warns when a pattern matches nothing, as keepalived logs it, and goes on', () => {
    const { config, errors } = parse(`include nothing/*.conf\n${service()}`);
    expect(errors).toEqual([]);
    expect(messages(config.warnings)).toEqual(["keepalived.conf:1: No config files matched 'nothing/*.conf'"]);
    expect(config.virtualServers).toHaveLength(1);
  });

  it('refuses a file that includes itself, at each include line, without reading it again', () => {
    dir.write('b.conf', 'include keepalived.conf\n');
    const { errors, config } = parse('include keepalived.conf\ninclude b.conf\n');
    expect(messages(errors)).toEqual([
      `keepalived.conf:1: include cycle: '${join(dir.root, 'keepalived.conf')}' is already being read`,
      `b.conf:1: include cycle: '${join(dir.root, 'keepalived.conf')}' is already being read`,
    ]);
    expect(config.files).toHaveLength(2);
  });

  it('stops at 1000 files when includes repeated at every level would multiply', () => {
    // Each level includes the next twice: 2^12 reads without the limit.
    for (let level = 0; level < 12; level++) {
      dir.write(`l${level}.conf`, `include l${level + 1}.conf\ninclude l${level + 1}.conf\n`);
    }
    dir.write('l12.conf', '! end\n');
    const { errors, config } = parse('include l0.conf\n');
    expect(config.files).toHaveLength(1000);
    expect(errors.map((e) => e.message)).toEqual(['more than 1000 configuration files read (includes repeated?)']);
  });

  it('names a main file that cannot be read', () => {
    const { errors } = parseKeepalivedConfig(join(dir.root, 'missing.conf'));
    expect(errors.map(formatDiagnostic)).toEqual([
      `${join(dir.root, 'missing.conf')}: Configuration file '${join(dir.root, 'missing.conf')}' open problem (ENOENT)`,
    ]);
  });
});

describe('virtual_server_group', () => {
  it('expands IP PORT, IP-N, IP-IP and IP/LEN lines', () => {
    const { config, errors } = parse(`virtual_server_group G {
  192.168.1.10-12 80
  10.0.0.254-10.0.1.1 443
  10.1.0.0/31 8080
  10.2.0.1 0
}
virtual_server group G {
  lb_algo rr
  lb_kind DR
  protocol TCP
  persistence_timeout 600
  real_server 192.168.2.2 80 {
  }
}
`);
    expect(messages(errors)).toEqual([]);
    const group = config.groups.get('G')!;
    expect(group.entries.map((e) => [e.first, e.last, e.port, e.line])).toEqual([
      [ip('192.168.1.10'), ip('192.168.1.12'), 80, 2],
      [ip('10.0.0.254'), ip('10.0.1.1'), 443, 3],
      [ip('10.1.0.0'), ip('10.1.0.1'), 8080, 4],
      [ip('10.2.0.1'), ip('10.2.0.1'), 0, 5],
    ]);
    expect(config.virtualServers[0]!.address).toEqual({ kind: 'group', name: 'G' });
    // DR serves each group service on its own port; keepalived says so for every line whose port differs.
    expect(messages(config.warnings)).toEqual([
      "keepalived.conf:12: virtual server group G:[[10.0.0.254-10.0.1.1]:443] and real server [192.168.2.2]:80 ports don't match",
      "keepalived.conf:12: virtual server group G:[[10.1.0.0-10.1.0.1]:8080] and real server [192.168.2.2]:80 ports don't match",
      "keepalived.conf:12: virtual server group G:[[10.2.0.1]:0] and real server [192.168.2.2]:80 ports don't match",
    ]);
  });

  it('refuses bad ranges, fwmark entries and an unknown group, each at its line', () => {
    const { errors } = parse(`virtual_server_group G {
  192.168.1.20-10 80
  192.168.1.1/24 80
  fwmark 1
  192.168.1.300 80
}
virtual_server group NOPE {
  protocol TCP
  real_server 192.168.2.2 80 {
  }
}
`);
    expect(messages(errors)).toEqual([
      'keepalived.conf:2: Address range end is not greater than address range start - 192.168.1.20-10 - skipping',
      'keepalived.conf:3: Address mask bits not empty - 192.168.1.1/24 - skipping',
      'keepalived.conf:4: (G): fwmark services are not supported by uvs yet (it has no firewall marks)',
      'keepalived.conf:5: Invalid virtual server group IP address 192.168.1.300 (group G)',
      'keepalived.conf:7: Virtual server group NOPE not found',
    ]);
  });
});

describe('what uvs refuses, with the line and the reason', () => {
  it.each([
    ['virtual_server fwmark 1 {\n  protocol TCP\n}\n', 1, /fwmark services are not supported by uvs yet/],
    [service('    protocol SCTP'), 5, /protocol SCTP is not supported by uvs/],
    ['virtual_server 2001:db8::1 80 {\n}\n', 1, /IPv6 is not supported by uvs/],
    [service('    ip_family inet6'), 5, /ip_family inet6: IPv6 is not supported by uvs/],
    [service('    lb_kind FOO'), 5, /unknown \[FOO\] routing method for virtual server/],
    [service('    lb_algo fastest'), 5, /Invalid lvs_scheduler 'fastest'/],
    [service('    persistence_timeout 0'), 5, /persistence_timeout invalid/],
    [service('', '      weight 70000'), 7, /weight 70000: uvs takes weights 0-65535 \(as ipvsadm -w\)/],
    [service('', '      weight -3'), 7, /Real server weight -3 is outside range 0-2147483647/],
    [
      service('', '      HTTP_GET {\n        url {\n          status_code 700\n        }\n      }'),
      9,
      /Invalid HTTP_GET status code '700'/,
    ],
    [
      service('', '      HTTP_GET {\n        url {\n          digest 1234\n        }\n      }'),
      9,
      /digest '1234' should be 32 hex digits/,
    ],
    ['$VIP=10.0.0.1\n', 1, /parameter definitions/],
  ])('%#: refused at its line', (text, line, reason) => {
    const { errors } = parse(text);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]!.line).toBe(line);
    expect(errors[0]!.message).toMatch(reason);
    expect(() => loadKeepalivedConfig(join(dir.root, 'keepalived.conf'))).toThrow(reason);
  });
});

describe('unknown and ignored keywords', () => {
  it('warns "Unknown keyword" as keepalived does and goes on', () => {
    const { config, errors } = parse(`frobnicate 1
${service('    frobnicate 2', '      weight 2\n      wibble')}`);
    expect(errors).toEqual([]);
    expect(messages(config.warnings)).toEqual([
      "keepalived.conf:1: Unknown keyword 'frobnicate'",
      "keepalived.conf:6: Unknown keyword 'frobnicate'",
      "keepalived.conf:9: Unknown keyword 'wibble'",
    ]);
    expect(config.virtualServers[0]!.realServers[0]!.weight).toBe(2);
  });

  it('refuses an unknown keyword with a block, which keepalived would misread', () => {
    const { errors } = parse(service('    frobnicate 2 {\n      nested 3\n    }'));
    expect(messages(errors)).toEqual([
      "keepalived.conf:5: Unknown keyword 'frobnicate' with a block (keepalived would end the enclosing block at its '}')",
    ]);
  });

  it('lists each ignored kind of block once, with how many and where the first is', () => {
    const { config, errors } = parse(`vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 50
}
vrrp_instance VI_2 {
  interface eth1
}
static_ipaddress {
  192.168.200.17/24 dev eth1
}
global_defs {
  router_id LVS_1
  notification_email {
    admin@example.com
  }
  smtp_server 192.168.200.1
}
${service()}`);
    expect(errors).toEqual([]);
    expect(config.warnings).toEqual([]);
    expect(config.ignored.map((i) => [i.keyword, i.count, i.line])).toEqual([
      ['global_defs notification_email, smtp_server', 1, 13],
      ['vrrp_instance', 2, 1],
      ['static_ipaddress', 1, 8],
    ]);
    expect(config.globalDefs.routerId).toBe('LVS_1');
  });
});

describe("keepalived's defaults", () => {
  it('fills in each checker as validate_check_config() does', () => {
    const { config, errors } = parse(`virtual_server 10.0.0.1 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  delay_loop 10
  virtualhost www.example.com
  real_server 192.168.1.2 8080 {
    HTTP_GET {
      url {
        path /
      }
    }
    DNS_CHECK {
    }
    MISC_CHECK {
      misc_path /bin/true
    }
    TCP_CHECK {
      delay_loop 2
    }
  }
  real_server 192.168.1.3 8080 {
    retry 4
    delay_before_retry 7
    connect_timeout 1.5
    UDP_CHECK {
      connect_ip 192.168.1.30
      connect_port 53
      bindto 192.168.1.1
    }
  }
}
`);
    expect(messages(errors)).toEqual([]);
    const [a, b] = config.virtualServers[0]!.realServers;
    const [http, dns, misc, tcp] = a!.checkers;
    expect(http).toMatchObject({
      type: 'HTTP_GET',
      retry: 1,
      delayBeforeRetry: 3,
      delayLoop: 10,
      warmup: 10,
      connectTimeout: 5,
      connectIp: ip('192.168.1.2'),
      connectPort: 8080,
      virtualhost: 'www.example.com',
      httpProtocol: '1.0',
    });
    expect((http as HttpCheck).urls[0]!.statusCodes).toEqual(Array.from({ length: 100 }, (_, i) => 200 + i));
    expect(dns).toMatchObject({ type: 'DNS_CHECK', retry: 3, delayBeforeRetry: 10, queryType: 'SOA', name: '' });
    expect(misc).toMatchObject({ type: 'MISC_CHECK', retry: 0, delayBeforeRetry: 1, timeout: 0, dynamic: false });
    expect((misc as MiscCheck).script).toEqual({ argv: ['/bin/true'], user: undefined, group: undefined });
    expect(tcp).toMatchObject({ type: 'TCP_CHECK', delayLoop: 2, warmup: 2, retry: 1, delayBeforeRetry: 1 });
    expect(b!.checkers[0]).toMatchObject({
      type: 'UDP_CHECK',
      retry: 4,
      delayBeforeRetry: 7,
      connectTimeout: 1.5,
      connectIp: ip('192.168.1.30'),
      connectPort: 53,
      bindto: ip('192.168.1.1'),
      requireReply: false,
      minReplyLength: 0,
      maxReplyLength: 255,
    });
  });

  it("defaults lb_algo, protocol and lb_kind with keepalived's warnings", () => {
    const { config, errors } = parse(`virtual_server 10.0.0.1 80 {
  real_server 192.168.1.2 80 {
  }
}
`);
    expect(errors).toEqual([]);
    expect(messages(config.warnings)).toEqual([
      'keepalived.conf:1: Virtual server [10.0.0.1]:80: no protocol set - defaulting to UDP',
      "keepalived.conf:1: Virtual server [10.0.0.1]:80: no scheduler set, setting default 'wlc'",
      'keepalived.conf:1: Virtual server [10.0.0.1]:80: no forwarding method set, setting default NAT',
    ]);
    expect(config.virtualServers[0]).toMatchObject({ protocol: 'UDP', sched: 'wlc', forwarding: 'NAT' });
  });

  it('gives DR real servers the service port, lowers a quorum above the total weight, drops an empty service', () => {
    const { config, errors } = parse(`virtual_server 10.0.0.1 80 {
  lb_algo rr
  lb_kind DR
  protocol TCP
  quorum 10
  hysteresis 20
  sorry_server 192.168.1.99 8080
  sorry_server_inhibit
  real_server 192.168.1.2 8080 {
    weight 3
  }
  real_server 192.168.1.3 0 {
    weight 2
  }
}
virtual_server 10.0.0.2 80 {
  protocol TCP
}
`);
    expect(errors).toEqual([]);
    expect(config.virtualServers).toHaveLength(1);
    const vs = config.virtualServers[0] as VirtualServer;
    expect(vs.realServers.map((rs) => rs.port)).toEqual([80, 80]);
    expect([vs.quorum, vs.hysteresis]).toEqual([5, 4]);
    expect(vs.sorryServer).toMatchObject({ addr: ip('192.168.1.99'), port: 80, forwarding: 'DR', inhibit: true });
    expect(messages(config.warnings)).toEqual([
      'keepalived.conf:1: Warning - quorum 10 for [10.0.0.1]:80 exceeds total weight of real servers 5, reducing quorum to 5',
      'keepalived.conf:1: Virtual server [10.0.0.1]:80: hysteresis 20 >= quorum 5; setting hysteresis to 4',
      "keepalived.conf:9: WARNING - virtual server [10.0.0.1]:80 and real server [192.168.1.2]:8080 ports don't match - resetting",
      'keepalived.conf:16: Virtual server [10.0.0.2]:80 has no real servers - ignoring',
    ]);
  });

  it('reads persistence, flags, ops, scripts and thresholds', () => {
    const { config, errors } = parse(`virtual_server 10.0.0.1 53 {
  lvs_sched mh
  mh-port
  mh-fallback
  lvs_method TUN
  protocol UDP
  ops
  persistence_granularity 255.255.0.0
  quorum_up "/usr/bin/logger quorum up"
  quorum_down /usr/bin/logger down
  real_server 192.168.1.2 53 {
    lvs_method NAT
    uthreshold 100
    lthreshold 10
    notify_up "/usr/bin/logger -t 'rs up'" nobody nogroup
    inhibit_on_failure
  }
}
`);
    expect(messages(errors)).toEqual([]);
    const vs = config.virtualServers[0]!;
    expect(vs).toMatchObject({
      sched: 'mh',
      schedFlags: 0x18,
      onePacket: true,
      persistenceTimeout: 360,
      persistenceGranularity: ip('255.255.0.0'),
      forwarding: 'TUN',
      quorumUp: { argv: ['/usr/bin/logger', 'quorum', 'up'], user: undefined, group: undefined },
      // keepalived takes the word after the script as the user to run it as.
      quorumDown: { argv: ['/usr/bin/logger'], user: 'down', group: undefined },
    });
    expect(vs.realServers[0]).toMatchObject({
      forwarding: 'NAT',
      uThreshold: 100,
      lThreshold: 10,
      notifyUp: { argv: ['/usr/bin/logger', '-t', 'rs up'], user: 'nobody', group: 'nogroup' },
      inhibitOnFailure: true,
    });
  });
});

describe('every keyword uvs reads (fixtures/every-keyword.conf, which keepalived --config-test accepts)', () => {
  const fixture = join(import.meta.dirname, 'fixtures/every-keyword.conf');

  it('reads them all without a finding, into the typed model', () => {
    const { config, errors } = parseKeepalivedConfig(fixture);
    expect(errors).toEqual([]);
    expect(config.warnings).toEqual([]);
    expect(config.globalDefs).toEqual({
      routerId: 'LVS_1',
      lvsTimeouts: { tcp: 900, tcpFin: 60, udp: 120 },
      lvsFlush: true,
      scriptUser: ['root'],
      enableScriptSecurity: true,
      checkerLogAllFailures: true,
    });
    const vs = config.virtualServers[0]!;
    expect(vs).toMatchObject({
      sched: 'mh',
      schedFlags: 0x18,
      persistenceTimeout: 300,
      persistenceGranularity: ip('255.255.255.0'),
      delayLoop: 3,
      connectTimeout: 2,
      quorum: 2,
      hysteresis: 1,
      alpha: true,
      omega: true,
      inhibitOnFailure: true,
      sorryServer: { addr: ip('192.168.9.9'), port: 80, forwarding: 'DR', inhibit: true },
    });
    const [web, other] = vs.realServers;
    expect(web).toMatchObject({ weight: 3, uThreshold: 100, lThreshold: 10, forwarding: 'DR', alpha: true });
    expect(web!.notifyDown).toEqual({ argv: ['/bin/true', 'rs', 'down'], user: undefined, group: undefined });
    const [http, ssl] = web!.checkers as HttpCheck[];
    expect(http).toMatchObject({
      retry: 2,
      delayLoop: 2,
      warmup: 1,
      delayBeforeRetry: 1,
      connectIp: ip('192.168.1.20'),
      connectPort: 8080,
      bindto: ip('192.168.1.1'),
      bindPort: 40000,
      connectTimeout: 2,
      httpProtocol: '1.1',
      virtualhost: 'x.example.com',
      fastRecovery: true,
      logAllFailures: true,
    });
    expect(http!.urls[0]).toMatchObject({
      path: '/health',
      digest: '640205b7b0fc66c1ea91c463fac6334d',
      statusCodes: [200, 301, 302],
      virtualhost: 'h.example.com',
    });
    // The SSL_GET inherits from its real server what it does not set.
    expect(ssl).toMatchObject({ retry: 1, delayLoop: 4, warmup: 0, delayBeforeRetry: 2, connectTimeout: 1 });
    expect(ssl).toMatchObject({ virtualhost: 'api.example.com', enableSni: true, connectPort: 80 });
    expect(other!.forwarding).toBe('TUN');
    expect(other!.checkers.map((c) => c.type)).toEqual([
      'TCP_CHECK',
      'UDP_CHECK',
      'DNS_CHECK',
      'PING_CHECK',
      'SMTP_CHECK',
      'MISC_CHECK',
    ]);
    const [tcp, udp, dns, , smtp, misc] = other!.checkers;
    expect(tcp).toMatchObject({ fwmark: 7, bindIf: 'lo', connectTimeout: 1 });
    expect(udp).toMatchObject({ reply: '0a0x', requireReply: true, minReplyLength: 1, maxReplyLength: 100 });
    expect([...(udp as { payload: Uint8Array }).payload]).toEqual([0x0a, 0x0b, 0x0c]);
    expect(dns).toMatchObject({ queryType: 'AAAA', name: 'www.example.com', retry: 2 });
    expect(smtp).toMatchObject({ heloName: 'uvs.example.com' });
    expect(misc).toMatchObject({ timeout: 3, dynamic: true });
    expect((misc as MiscCheck).script).toEqual({ argv: ['/bin/true', 'misc'], user: 'root', group: undefined });
  });
});
