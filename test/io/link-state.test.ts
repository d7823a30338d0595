// readLinkState() against a directory laid out as /sys/class/net is: what the daemon's link monitoring
// reads on every housekeeping tick (the live behaviour is test/netns/link-flap.test.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { linkStateAgrees, readLinkState } from '../../src/io/link-state.js';

describe('readLinkState', () => {
  let sysfs: string;

  function device(name: string, files: Record<string, string>): void {
    mkdirSync(join(sysfs, name));
    for (const [file, text] of Object.entries(files)) writeFileSync(join(sysfs, name, file), text);
  }

  beforeEach(() => {
    sysfs = mkdtempSync(join(tmpdir(), 'uvs-sysfs-'));
  });
  afterEach(() => {
    rmSync(sysfs, { recursive: true, force: true });
  });

  it('reads ifindex, operstate, carrier and carrier_changes as the kernel writes them (with a newline)', () => {
    device('eth1', { ifindex: '7\n', operstate: 'up\n', carrier: '1\n', carrier_changes: '4\n' });
    expect(readLinkState('eth1', sysfs)).toEqual({ ifindex: 7, operstate: 'up', up: true, carrierChanges: 4 });
  });

  it('is up by the carrier, whatever operstate says yet; down without carrier or while it cannot be read', () => {
    // operstate follows the carrier later (link-watch work); tun and dummy say unknown for good.
    device('eth1', { ifindex: '3\n', operstate: 'down\n', carrier: '1\n', carrier_changes: '1\n' });
    device('tun0', { ifindex: '4\n', operstate: 'unknown\n', carrier: '1\n', carrier_changes: '0\n' });
    device('eth2', { ifindex: '5\n', operstate: 'lowerlayerdown\n', carrier: '0\n', carrier_changes: '2\n' });
    // Administratively down: the kernel refuses to read `carrier` (EINVAL); here the file is missing.
    device('eth3', { ifindex: '6\n', operstate: 'down\n', carrier_changes: '2\n' });
    expect(readLinkState('eth1', sysfs)?.up).toBe(true);
    expect(readLinkState('tun0', sysfs)?.up).toBe(true);
    expect(readLinkState('eth2', sysfs)?.up).toBe(false);
    expect(readLinkState('eth3', sysfs)?.up).toBe(false);
  });

  it('says null for an interface that does not exist, and -1 for a carrier count the kernel does not give', () => {
    device('old0', { ifindex: '9\n', operstate: 'up\n', carrier: '1\n' });
    expect(readLinkState('gone0', sysfs)).toBeNull();
    expect(readLinkState('old0', sysfs)?.carrierChanges).toBe(-1);
  });

  it('tells whether sysfs shows the device a port was opened on', () => {
    device('eth1', { ifindex: '7\n', operstate: 'up\n', carrier: '1\n', carrier_changes: '0\n' });
    expect(linkStateAgrees('eth1', 7, sysfs)).toBe(true);
    // Another namespace's sysfs: another device of that name, or none.
    expect(linkStateAgrees('eth1', 12, sysfs)).toBe(false);
    expect(linkStateAgrees('eth9', 12, sysfs)).toBe(false);
  });
});
