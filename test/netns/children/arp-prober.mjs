// Child for test/netns/link-flap.test.ts, run in a namespace beside the director: every `intervalMs` it
// broadcasts an ARP request for `targetIp` (an address uvs owns) out of `ifname` through an AfPacketPort, and
// prints one JSON line per answer uvs gives: {"event":"reply","t":ms,"mac":n} for a reply to it, and
// {"event":"announce","t":ms,"mac":n} for a gratuitous ARP of `targetIp`. `t` is Date.now(), the clock the
// test also reads. When its interface is deleted and made again (a veth goes with its peer), it re-opens its
// port on the new one. Stops by itself after `maxSeconds`.
// Config (UVS_CHILD_CONFIG): { dist, ifname, senderIp, targetIp, intervalMs, maxSeconds }.
import { readFileSync } from 'node:fs';

const config = JSON.parse(process.env.UVS_CHILD_CONFIG ?? '{}');
const { AfPacketPort } = await import(`${config.dist}/io/afpacket.js`);
const { FrameBatch } = await import(`${config.dist}/io/batch.js`);
const { parseIpv4Address, readMac } = await import(`${config.dist}/wire/addr.js`);

const senderIp = parseIpv4Address(config.senderIp);
const targetIp = parseIpv4Address(config.targetIp);
const rx = new FrameBatch(64);
const tx = new FrameBatch(1);
const request = new Uint8Array(42);
let port;

function ifindexNow() {
  try {
    return Number(readFileSync(`/sys/class/net/${config.ifname}/ifindex`, 'utf8'));
  } catch {
    return -1;
  }
}

function writeU32(buf, off, v) {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

function writeMac(buf, off, mac) {
  for (let k = 5; k >= 0; k--) {
    buf[off + k] = mac % 256;
    mac = Math.floor(mac / 256);
  }
}

function readU32(buf, off) {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** Opens the port on the interface as it is now (again, after it was made anew); false while it is missing. */
function ensurePort() {
  const ifindex = ifindexNow();
  if (port !== undefined && port.ifindex === ifindex) return true;
  port?.close();
  port = undefined;
  if (ifindex < 0) return false;
  try {
    port = AfPacketPort.open(config.ifname);
  } catch {
    return false;
  }
  // Ethernet to broadcast, ARP request (htype 1, ptype IPv4, op 1) who-has targetIp tell senderIp.
  request.fill(0);
  request.fill(0xff, 0, 6);
  writeMac(request, 6, port.mac);
  request.set([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1], 12);
  writeMac(request, 22, port.mac);
  writeU32(request, 28, senderIp);
  writeU32(request, 38, targetIp);
  tx.setFrame(0, request);
  return true;
}

function tick() {
  if (!ensurePort()) return;
  port.send(tx, 1);
  for (let round = 0; round < 8; round++) {
    const n = port.recv(rx);
    if (n <= 0) break;
    for (let i = 0; i < n; i++) {
      const off = rx.offset[i];
      const b = rx.bytes;
      if (rx.length[i] < 42 || b[off + 12] !== 0x08 || b[off + 13] !== 0x06) continue;
      const op = (b[off + 20] << 8) | b[off + 21];
      const fromIp = readU32(b, off + 28);
      const toIp = readU32(b, off + 38);
      if (fromIp !== targetIp) continue;
      const mac = readMac(b, off + 22);
      if (op === 2 && toIp === senderIp) {
        process.stdout.write(`${JSON.stringify({ event: 'reply', t: Date.now(), mac })}\n`);
      } else if (toIp === targetIp) {
        process.stdout.write(`${JSON.stringify({ event: 'announce', t: Date.now(), mac })}\n`);
      }
    }
  }
}

const timer = setInterval(tick, config.intervalMs);
setTimeout(() => {
  clearInterval(timer);
  port?.close();
}, config.maxSeconds * 1000);
process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`);
