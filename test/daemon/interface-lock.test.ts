// The per-interface lock in one process: a second holder is refused with the first's PID, release frees the
// interfaces, a failed acquire holds nothing, and a name squatted by something else is reported as such.
// (test/netns/daemon-lock.test.ts runs two real daemons on one interface.)
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InterfaceLock, InterfaceLockError, interfaceLockName } from '../../src/daemon/interface-lock.js';

// Abstract names are shared by everything in the network namespace: these are unique to the run.
const unique = () => `t${randomBytes(4).toString('hex')}`;
const held: InterfaceLock[] = [];
afterEach(() => {
  for (const lock of held.splice(0)) lock.release();
});

async function take(interfaces: string[]): Promise<InterfaceLock> {
  const lock = await InterfaceLock.acquire(interfaces);
  held.push(lock);
  return lock;
}

describe('InterfaceLock', () => {
  it('refuses a second holder of an interface, naming the first PID, until the first releases it', async () => {
    const eth = unique();
    const first = await take([eth]);
    await expect(take([eth])).rejects.toThrow(InterfaceLockError);
    await expect(take([eth])).rejects.toThrow(
      `interface ${eth} is in use by another uvs daemon (PID ${process.pid}); stop it, or give this daemon other interfaces`,
    );
    first.release();
    await take([eth]);
  });

  it('takes all interfaces or none', async () => {
    const a = unique();
    const b = unique();
    await take([b]);
    await expect(take([a, b])).rejects.toThrow(new RegExp(`interface ${b} is in use`));
    // a was taken and given back when b failed.
    await take([a]);
  });

  it('says so when the name is held by something that is not a uvs daemon', async () => {
    const eth = unique();
    const squatter = createServer((s) => s.end('hello'));
    await new Promise<void>((resolve) => squatter.listen(interfaceLockName(eth), resolve));
    try {
      await expect(take([eth])).rejects.toThrow(/held by a process that did not answer as a uvs daemon/);
    } finally {
      squatter.close();
    }
  });
});
