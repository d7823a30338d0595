// packaging/systemd/uvs.service: systemd's own checker accepts it, and it keeps the settings the daemon's
// behaviour depends on (src/daemon/systemd.ts, the offload record, the capabilities the netns tests prove
// enough: test/netns/daemon-startup.test.ts).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const unitPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'packaging', 'systemd', 'uvs.service');
const unit = readFileSync(unitPath, 'utf8');
const hasAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;

/** The settings of [Service], by key; a key given twice keeps both values. */
function serviceSettings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      section = line;
      continue;
    }
    if (section !== '[Service]') continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

describe('packaging/systemd/uvs.service', () => {
  it('runs the daemon as Type=notify with a watchdog, restores offloads after every stop, restarts on failure', () => {
    const s = serviceSettings(unit);
    expect(s.get('Type')).toEqual(['notify']);
    expect(s.get('ExecStart')?.[0]).toMatch(/uvs daemon --config \S+$/);
    expect(s.get('ExecStopPost')?.[0]).toMatch(/uvs daemon --config \S+ --restore-offloads$/);
    expect(Number.parseInt(s.get('WatchdogSec')?.[0] ?? '', 10)).toBeGreaterThanOrEqual(2);
    expect(s.get('Restart')).toEqual(['on-failure']);
    expect(s.get('ExecReload')?.[0]).toMatch(/kill -HUP \$MAINPID/);
  });

  it('grants only the capabilities the daemon uses, and writable only its own directories', () => {
    const s = serviceSettings(unit);
    expect(s.get('CapabilityBoundingSet')?.[0]?.split(/\s+/).sort()).toEqual([
      'CAP_BPF',
      'CAP_NET_ADMIN',
      'CAP_NET_RAW',
    ]);
    expect(s.get('AmbientCapabilities')).toBeUndefined();
    expect(s.get('NoNewPrivileges')).toEqual(['yes']);
    expect(s.get('ProtectSystem')).toEqual(['strict']);
    expect(s.get('StateDirectory')).toEqual(['uvs']);
    expect(s.get('RuntimeDirectory')).toEqual(['uvs']);
    // Node's JIT writes code and runs it.
    expect(s.has('MemoryDenyWriteExecute')).toBe(false);
  });

  // systemd-analyze comes with the systemd package; it checks a unit without systemd running.
  it.skipIf(!hasAnalyze)('passes systemd-analyze verify (with its uvs paths pointed at a stand-in program)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvs-unit-'));
    try {
      // verify insists that ExecStart's program exists and is executable.
      const program = join(dir, 'uvs');
      writeFileSync(program, '#!/bin/sh\nexit 0\n');
      chmodSync(program, 0o755);
      const copy = join(dir, 'uvs.service');
      writeFileSync(copy, unit.replaceAll('/usr/local/bin/uvs', program));
      const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 30_000 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
