// Interface offloads through the addon's ethtool ioctl (src/io/offloads.ts), against the real kernel: read
// and set in another namespace, errors that name what is missing, and the daemon's io.gro at work. With GRO
// on, the director's veth merges the client's segments into frames past the MTU before uvs's packet socket
// sees them, so a 1 MB upload through NAT only gets across if the daemon turned GRO off as it started; it
// turns it back on when it stops.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getOffloads, setOffloads } from '../../src/io/offloads.js';
import { type EchoResult, type ModeLab, startModeLab, stopModeLab } from './children/e2e-support.js';
import { canUseNetns, NetnsLab, netnsSkipReason } from './harness.js';

const MB = 1 << 20;

/** A 1 MB upload echoed back through the lab's VIP, checked to have crossed the director intact both ways. */
async function echoMegabyte(lab: ModeLab): Promise<void> {
  const echo = await lab.agent.call<EchoResult>('echo', { url: lab.url, bytes: MB, timeoutMs: 15_000 }, 20_000);
  expect(echo.status).toBe(200);
  expect(echo.sentBytes).toBe(MB);
  expect(echo.receivedBytes).toBe(MB);
  expect(echo.receivedHash).toBe(echo.sentHash);
}

describe.skipIf(!canUseNetns)(`offloads through the ethtool ioctl ${netnsSkipReason}`, () => {
  let lab: NetnsLab;
  let ns: string;

  beforeAll(() => {
    lab = new NetnsLab();
    ns = lab.addNamespace('o');
    const peer = lab.addNamespace('p');
    lab.addVeth(ns, 'vo', '10.205.0.1/24', peer, 'vp', '10.205.0.2/24');
  });

  afterAll(() => lab.cleanup());

  it('reads and sets each feature in another namespace, leaving the others alone', () => {
    // A veth starts with checksum offload, TSO and GSO on and GRO off.
    const start = getOffloads(ns, 'vo');
    expect(start).toMatchObject({ tx: true, tso: true, gso: true, gro: false, lro: false });
    setOffloads(ns, 'vo', { tx: false, tso: false, gso: false, gro: true });
    expect(getOffloads(ns, 'vo')).toEqual({ ...start, tx: false, tso: false, gso: false, gro: true });
    setOffloads(ns, 'vo', { gro: false });
    expect(getOffloads(ns, 'vo')).toEqual({ ...start, tx: false, tso: false, gso: false, gro: false });
    // Asking for what already holds changes nothing, even for LRO, which a veth cannot have.
    setOffloads(ns, 'vo', { lro: false });
    expect(getOffloads(ns, 'vo').lro).toBe(false);
  });

  it('names the missing interface, the missing namespace, and the feature the driver refuses', () => {
    expect(() => getOffloads(ns, 'nosuchdev')).toThrow(/nosuchdev.*ENODEV/);
    expect(() => getOffloads(`${lab.prefix}gone`, 'vo')).toThrow(/ENOENT/);
    expect(() => setOffloads(ns, 'vo', { lro: true })).toThrow(/lro: EOPNOTSUPP/);
    // A bad name is refused before any system call.
    expect(() => getOffloads(ns, 'x'.repeat(16))).toThrow(/bad interface name/);
  });
});

describe.skipIf(!canUseNetns)(`uvs daemon with GRO on its capture interfaces ${netnsSkipReason}`, () => {
  let modeLab: ModeLab | undefined;

  beforeAll(async () => {
    modeLab = await startModeLab('nat', { directorGro: true });
  }, 60_000);

  afterAll(async () => {
    await stopModeLab(modeLab);
  });

  it('turns GRO off at start, so a 1 MB upload crosses the director intact', async () => {
    const topology = modeLab!.topology;
    for (const i of topology.director.interfaces) expect(getOffloads(topology.director.ns, i.name).gro).toBe(false);
    await echoMegabyte(modeLab!);
  }, 30_000);

  it('turns GRO back on when it stops (SIGTERM)', async () => {
    const topology = modeLab!.topology;
    await modeLab!.director?.stop();
    modeLab!.director = undefined;
    for (const i of topology.director.interfaces) expect(getOffloads(topology.director.ns, i.name).gro).toBe(true);
  }, 15_000);
});

for (const rx of ['mmsg', 'ring'] as const) {
  describe.skipIf(!canUseNetns)(`uvs daemon (rx ${rx}) with TSO/GSO senders on its veths ${netnsSkipReason}`, () => {
    let modeLab: ModeLab | undefined;

    beforeAll(async () => {
      modeLab = await startModeLab('nat', { senderOffloads: true, rx });
    }, 60_000);

    afterAll(async () => {
      await stopModeLab(modeLab);
    });

    it('cuts the 64 KB super-frames of a 1 MB upload and its echo into segments, and both arrive intact', async () => {
      const topology = modeLab!.topology;
      // The client's kernel hands its veth whole TSO frames, so this upload reaches uvs's packet socket as
      // GSO super-frames, and the real server's echo comes back the same way.
      expect(getOffloads(topology.client.ns, 'eth0')).toMatchObject({ tx: true, tso: true, gso: true });
      await echoMegabyte(modeLab!);
      await echoMegabyte(modeLab!);
    }, 45_000);
  });
}
