// uvs's reading of keepalived.conf against keepalived's own parser: `keepalived --config-test -f FILE`
// (keepalived 2.x, Debian's package; .ci/run installs it) must accept the example configurations, and on
// small configurations it must accept what uvs accepts without a finding and report at the same line what
// uvs reports.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseKeepalivedConfig } from '../../src/keepalived/config.js';
import { ConfigDir } from './helpers.js';

const repo = join(import.meta.dirname, '../..');

function findKeepalived(): string | undefined {
  for (const path of ['/usr/sbin/keepalived', '/usr/local/sbin/keepalived', '/sbin/keepalived']) {
    if (spawnSync(path, ['--version']).status === 0) return path;
  }
  return undefined;
}

const keepalived = findKeepalived();

/** keepalived's verdict: its exit status and the line numbers of what it reported. */
function configTest(path: string): { status: number | null; lines: number[]; text: string } {
  const result = spawnSync(keepalived!, ['--config-test', '-f', path], { encoding: 'utf8', timeout: 20_000 });
  const text = `${result.stdout}${result.stderr}`;
  const lines = [...text.matchAll(/Line (\d+)\)/g)].map((m) => Number(m[1]));
  return { status: result.status, lines, text };
}

let dir: ConfigDir;
beforeEach(() => {
  dir = new ConfigDir();
});
afterEach(() => {
  dir.remove();
});

// Skipped without keepalived: the comparison needs its parser. CI installs it (.ci/run); elsewhere
// `apt-get install keepalived` makes these tests run.
describe.skipIf(keepalived === undefined)('against keepalived --config-test', () => {
  it('keepalived accepts every example configuration and fixture, and so does uvs, without a finding', () => {
    const examples = [
      ...readdirSync(join(repo, 'examples/keepalived'))
        .filter((name) => name.endsWith('.conf'))
        .map((name) => join(repo, 'examples/keepalived', name)),
      join(import.meta.dirname, 'fixtures/every-keyword.conf'),
    ];
    expect(examples.length).toBeGreaterThan(0);
    for (const path of examples) {
      const verdict = configTest(path);
      expect(verdict.status, `${path}: ${verdict.text}`).toBe(0);
      const { config, errors } = parseKeepalivedConfig(path);
      expect(errors).toEqual([]);
      expect(config.warnings).toEqual([]);
    }
  });

  const SERVICE = `virtual_server 10.0.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 192.168.1.2 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
`;

  it.each([
    ['a clean service', SERVICE],
    ['comments of both kinds and a brace on its own line', `! a\n# b\n${SERVICE.replace(' 80 {', ' 80\n{   # open')}`],
    [
      'braces sharing lines with keywords',
      'virtual_server 10.0.0.1 80\n{\n  lb_algo rr\n  protocol TCP\n  lb_kind NAT\n' +
        '  real_server 192.168.1.2 80 { weight 4\n    TCP_CHECK { connect_timeout 2 } }\n' +
        '  real_server 192.168.1.3 80 { weight 2 } }\n',
    ],
    ['an unknown keyword', SERVICE.replace('lb_algo rr', 'lb_algo rr\n    frobnicate')],
    ['a negative weight', SERVICE.replace('weight 1', 'weight -3')],
    ['an unknown lb_kind', SERVICE.replace('lb_kind NAT', 'lb_kind FOO')],
    [
      'an invalid status code',
      SERVICE.replace('TCP_CHECK {', 'HTTP_GET {\n  url {\n    path /\n    status_code 700\n  }'),
    ],
    ['an extra }', `${SERVICE}}\n`],
    [
      'a group with a range',
      `virtual_server_group G {\n  10.0.0.10-12 80\n}\n${SERVICE.replace('10.0.0.1 80', 'group G')}`,
    ],
    ['a bad range', `virtual_server_group G {\n  10.0.0.12-10 80\n}\n${SERVICE.replace('10.0.0.1 80', 'group G')}`],
  ])('%s: keepalived accepts it exactly when uvs finds nothing, and they name the same line', (_, text) => {
    const path = dir.write('keepalived.conf', text);
    const verdict = configTest(path);
    const { config, errors } = parseKeepalivedConfig(path);
    const findings = [...errors, ...config.warnings];
    expect(verdict.status === 0, verdict.text).toBe(findings.length === 0);
    if (findings.length > 0) expect(verdict.lines, verdict.text).toContain(findings[0]!.line);
  });

  it('reads included files as keepalived does: an unknown keyword in an include is reported by both', () => {
    dir.write('conf.d/b.conf', SERVICE.replace('lb_algo rr', 'lb_algo rr\n    frobnicate'));
    dir.write('conf.d/a.conf', SERVICE.replace('10.0.0.1', '10.0.0.2'));
    const path = dir.write('keepalived.conf', 'include conf.d/*.conf\n');
    const verdict = configTest(path);
    expect(verdict.status).not.toBe(0);
    expect(verdict.text).toMatch(/b\.conf: Line 3\) Unknown keyword 'frobnicate'/);
    const { config } = parseKeepalivedConfig(path);
    expect(config.warnings.map((w) => [w.file.endsWith('conf.d/b.conf'), w.line, w.message])).toEqual([
      [true, 3, "Unknown keyword 'frobnicate'"],
    ]);
    expect(config.virtualServers).toHaveLength(2);
  });
});
