// `uvs keepalived rules FILE`: the rules keepalived loads at start with every real server up, printed as
// `uvsadm -S -n` prints the same rules. A golden test on examples/keepalived/ (NAT, DR, TUN, UDP, a group;
// HTTP_GET, SSL_GET, TCP_CHECK, MISC_CHECK, PING_CHECK, DNS_CHECK, UDP_CHECK, SMTP_CHECK), the keepalived ->
// ipvsadm mapping one option at a time, and the exit codes. The last test runs the built CLI (dist/, from
// `npm run build`).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keepalivedMain } from '../../src/cli/keepalived.js';
import { DestRegistry } from '../../src/dest/dest.js';
import { loadKeepalivedConfig } from '../../src/keepalived/config.js';
import { keepalivedSnapshot } from '../../src/keepalived/rules.js';
import { RulesModel } from '../../src/model/rules.js';
import { formatRules, restoreRules } from '../../src/model/save-format.js';
import { parseIpv4Address } from '../../src/wire/addr.js';
import { ConfigDir, Sink } from './helpers.js';

const repo = join(import.meta.dirname, '../..');
const example = join(repo, 'examples/keepalived/keepalived.conf');

function run(args: string[]) {
  const out = new Sink();
  const err = new Sink();
  const code = keepalivedMain(args, out as unknown as NodeJS.WritableStream, err as unknown as NodeJS.WritableStream);
  return { code, out: out.text, err: err.text };
}

let dir: ConfigDir;
beforeEach(() => {
  dir = new ConfigDir();
});
afterEach(() => {
  dir.remove();
});

/** The rules of one virtual server with `vsBody`, two real servers with `rsBody`. */
function rulesOf(vsBody: string, rsBody = '', rs2Body = rsBody) {
  const path = dir.write(
    'keepalived.conf',
    `virtual_server 10.0.0.1 80 {
  protocol TCP
${vsBody}
  real_server 192.168.1.3 80 {
${rsBody}
  }
  real_server 192.168.1.2 80 {
${rs2Body}
  }
}
`,
  );
  return run(['rules', path]);
}

describe('the example configuration', () => {
  const expected = `-A -t 10.10.10.2:80 -s wrr -p 50 -M 255.255.255.0
-a -t 10.10.10.2:80 -r 192.168.200.2:80 -m -w 3
-a -t 10.10.10.2:80 -r 192.168.200.3:8080 -m -w 1
-A -t 10.10.10.3:443 -s sh -b sh-port
-a -t 10.10.10.3:443 -r 192.168.201.2:443 -g -w 2
-a -t 10.10.10.3:443 -r 192.168.201.3:443 -g -w 2
-A -t 10.10.10.4:8080 -s lc
-a -t 10.10.10.4:8080 -r 192.168.202.2:8080 -i -w 10 --tun-type ipip
-a -t 10.10.10.4:8080 -r 192.168.202.3:8080 -i -w 10 --tun-type ipip
-A -t 10.10.20.1:80 -s wlc
-a -t 10.10.20.1:80 -r 192.168.203.2:80 -g -w 5
-a -t 10.10.20.1:80 -r 192.168.203.3:80 -g -w 5
-A -t 10.10.20.2:80 -s wlc
-a -t 10.10.20.2:80 -r 192.168.203.2:80 -g -w 5
-a -t 10.10.20.2:80 -r 192.168.203.3:80 -g -w 5
-A -t 10.10.20.3:80 -s wlc
-a -t 10.10.20.3:80 -r 192.168.203.2:80 -g -w 5
-a -t 10.10.20.3:80 -r 192.168.203.3:80 -g -w 5
-A -t 10.10.20.10:80 -s wlc
-a -t 10.10.20.10:80 -r 192.168.203.2:80 -g -w 5
-a -t 10.10.20.10:80 -r 192.168.203.3:80 -g -w 5
-A -u 10.10.10.5:53 -s rr -o
-a -u 10.10.10.5:53 -r 192.168.200.10:53 -m -w 1
-a -u 10.10.10.5:53 -r 192.168.200.11:53 -m -w 1
`;

  it('prints the rules keepalived loads at start, in ipvsadm -S order, and says once what it skips', () => {
    const { code, out, err } = run(['rules', example]);
    expect(code).toBe(0);
    expect(out).toBe(expected);
    const base = join(repo, 'examples/keepalived');
    expect(err).toBe(
      `uvs keepalived: ignored: global_defs notification_email, notification_email_from, smtp_server, smtp_connect_timeout (${base}/keepalived.conf:6): not part of the LVS configuration uvs reads\n` +
        `uvs keepalived: ignored: vrrp_script (${base}/keepalived.conf:20): VRRP failover is not done by uvs yet\n`,
    );
  });

  it('prints what uvsadm -S -n prints after uvsadm -R of the same text', () => {
    const { out } = run(['rules', example]);
    const model = new RulesModel(new DestRegistry());
    restoreRules(model, out);
    expect(formatRules(model.snapshot)).toBe(out);
  });

  it('keeps what -S does not print in the snapshot: thresholds and the lvs_timeouts', () => {
    const snapshot = keepalivedSnapshot(loadKeepalivedConfig(example));
    const dr = snapshot.find({ proto: 6, addr: parseIpv4Address('10.10.10.3')!, port: 443 })!;
    const withThresholds = dr.dests.find((d) => d.addr === parseIpv4Address('192.168.201.2'))!;
    expect([withThresholds.uThreshold, withThresholds.lThreshold]).toEqual([1000, 100]);
    expect(snapshot.timeouts).toEqual({ tcp: 7200, tcpFin: 120, udp: 300 });
    // The sorry server (192.168.200.200) only comes in when quorum is lost.
    const nat = snapshot.find({ proto: 6, addr: parseIpv4Address('10.10.10.2')!, port: 80 })!;
    expect(nat.dests.map((d) => d.addr)).not.toContain(parseIpv4Address('192.168.200.200'));
  });
});

describe('a virtual_server_group', () => {
  it("is one service per address of each line, with the virtual server's settings and real servers", () => {
    const { code, out } = run(['rules', join(import.meta.dirname, 'fixtures/every-keyword.conf')]);
    expect(code).toBe(0);
    // 10.0.0.10-12, 10.0.1.0/31 and 10.0.2.1-10.0.2.3, each on port 80.
    const vips = ['10.0.0.10', '10.0.0.11', '10.0.0.12', '10.0.1.0', '10.0.1.1', '10.0.2.1', '10.0.2.2', '10.0.2.3'];
    const expected = vips
      .map(
        (vip) =>
          `-A -t ${vip}:80 -s mh -p 300 -M 255.255.255.0 -b mh-fallback,mh-port\n` +
          `-a -t ${vip}:80 -r 192.168.1.2:80 -g -w 3\n` +
          `-a -t ${vip}:80 -r 192.168.1.3:80 -i -w 1 --tun-type ipip\n`,
      )
      .join('');
    expect(out).toBe(expected);
  });
});

describe('keepalived -> uvsadm, one option at a time', () => {
  it.each([
    ['lb_algo rr\nlb_kind NAT', '', '-A -t 10.0.0.1:80 -s rr', '-m -w 1'],
    ['lvs_sched wrr\nlvs_method DR\npersistence_timeout', '', '-A -t 10.0.0.1:80 -s wrr -p 360', '-g -w 1'],
    ['lb_algo sh\nsh-fallback\nlb_kind TUN', '', '-A -t 10.0.0.1:80 -s sh -b sh-fallback', '-i -w 1 --tun-type ipip'],
    [
      'lb_algo rr\nlb_kind NAT\npersistence_timeout 600\npersistence_granularity 255.255.255.0',
      '',
      '-A -t 10.0.0.1:80 -s rr -p 600 -M 255.255.255.0',
      '-m -w 1',
    ],
    ['lb_algo rr\nlb_kind NAT\nweight 7', '', '-A -t 10.0.0.1:80 -s rr', '-m -w 7'],
    ['lb_algo rr\nlb_kind NAT\nweight 7', 'weight 0\ninhibit_on_failure', '-A -t 10.0.0.1:80 -s rr', '-m -w 0'],
    ['lb_algo rr\nlb_kind DR', 'lvs_method NAT', '-A -t 10.0.0.1:80 -s rr', '-m -w 1'],
  ])('%j / %j', (vsBody, rsBody, service, destTail) => {
    const { code, out } = rulesOf(vsBody, rsBody);
    expect(code).toBe(0);
    expect(out).toBe(
      `${service}\n-a -t 10.0.0.1:80 -r 192.168.1.2:80 ${destTail}\n-a -t 10.0.0.1:80 -r 192.168.1.3:80 ${destTail}\n`,
    );
  });

  it('defaults lb_algo to wlc and warns as keepalived does', () => {
    const { code, out, err } = rulesOf('lb_kind NAT');
    expect(code).toBe(0);
    expect(out.split('\n')[0]).toBe('-A -t 10.0.0.1:80 -s wlc');
    expect(err).toContain("no scheduler set, setting default 'wlc'");
  });

  it('serves a NAT real server on its own port, the service port when it has none', () => {
    const path = dir.write(
      'keepalived.conf',
      `virtual_server 10.0.0.1 80 {
  protocol UDP
  lb_algo rr
  lb_kind NAT
  real_server 192.168.1.2 8080 {
  }
  real_server 192.168.1.3 {
  }
}
`,
    );
    expect(run(['rules', path]).out).toBe(
      '-A -u 10.0.0.1:80 -s rr\n-a -u 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 1\n-a -u 10.0.0.1:80 -r 192.168.1.3:80 -m -w 1\n',
    );
  });
});

describe('exit codes', () => {
  it('exits 1 with FILE:LINE and the reason on a configuration error, printing no rules', () => {
    const path = dir.write(
      'keepalived.conf',
      'virtual_server 10.0.0.1 80 {\n  protocol SCTP\n  real_server 192.168.1.2 80 {\n  }\n}\n',
    );
    const { code, out, err } = run(['rules', path]);
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toBe(`${path}:2: protocol SCTP is not supported by uvs (it serves TCP and UDP)\n`);
  });

  it('exits 1 at the keepalived.conf line of a rule the rules model refuses', () => {
    const twos = rulesOf('lb_algo twos\nlb_kind NAT');
    expect(twos.code).toBe(1);
    expect(twos.err).toBe(
      `${join(dir.root, 'keepalived.conf')}:1: lb_algo twos: uvs has no such scheduler (Scheduler or persistence engine not found)\n`,
    );
    const path = dir.write(
      'twice.conf',
      `virtual_server_group G {
  10.0.0.1 80
  10.0.0.1 80
}
virtual_server group G {
  protocol TCP
  real_server 192.168.1.2 80 {
  }
}
`,
    );
    const twice = run(['rules', path]);
    expect(twice.code).toBe(1);
    expect(twice.err).toContain(`${path}:3: TCP 10.0.0.1:80: Service already exists\n`);
  });

  it('exits 0 with the warnings on stderr when keepalived would run the file', () => {
    const { code, out, err } = rulesOf('lb_algo rr\nlb_kind NAT\nfrobnicate');
    expect(code).toBe(0);
    expect(out).not.toBe('');
    expect(err).toBe(`uvs keepalived: warning: ${join(dir.root, 'keepalived.conf')}:5: Unknown keyword 'frobnicate'\n`);
  });

  it('exits 2 on a usage error', () => {
    expect(run([]).code).toBe(2);
    expect(run(['load', example]).code).toBe(2);
    expect(run(['rules']).code).toBe(2);
    expect(run(['rules', example, example]).code).toBe(2);
    expect(run(['--help']).code).toBe(0);
  });

  it('runs as `uvs keepalived rules` from the built CLI', () => {
    const cli = join(repo, 'dist/cli/uvs.js');
    const good = spawnSync(process.execPath, [cli, 'keepalived', 'rules', example], { encoding: 'utf8' });
    expect(good.status).toBe(0);
    expect(good.stdout).toBe(run(['rules', example]).out);
    const path = dir.write('bad.conf', 'virtual_server fwmark 1 {\n}\n');
    const bad = spawnSync(process.execPath, [cli, 'keepalived', 'rules', path], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(new RegExp(`^${path}:1: virtual_server fwmark 1: fwmark services are not supported`));
  });
});
