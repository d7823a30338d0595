// Child for test/rs/tun.test.ts, in the namespace that plays the director and the client at once. It binds
// a UDP socket on the CIP, then sends `count` IPIP frames through an AfPacketPort (outer outerSrc -> rip,
// inner cip:cport -> vip:vport, payload "msg-<i>"), and collects (a) the replies its UDP socket gets and
// (b) what the port sees coming back: plain UDP from the VIP, IPIP, and ICMP protocol-unreachables.
// Config: { dist, ifname, dstMac, outerSrc, rip, cip, cport, vip, vport, count, batch, timeoutMs }.
import dgram from 'node:dgram';

const config = JSON.parse(process.env.UVS_CHILD_CONFIG ?? '{}');
const { AfPacketPort } = await import(`${config.dist}/io/afpacket.js`);
const { FrameBatch } = await import(`${config.dist}/io/batch.js`);
const { buildFrame, ipv4Fields } = await import(`${config.dist}/wire/frame.js`);
const { encapIpip } = await import(`${config.dist}/wire/ipip.js`);
const { parseIpv4Address } = await import(`${config.dist}/wire/addr.js`);

const cip = parseIpv4Address(config.cip);
const vip = parseIpv4Address(config.vip);
const replies = [];
const seen = { udpFromVip: 0, ipip: 0, icmpProtoUnreachable: 0, udpFromVipSourceMacs: [] };

const socket = dgram.createSocket('udp4');
await new Promise((resolve) => socket.bind(config.cport, config.cip, resolve));
socket.on('message', (msg, rinfo) => {
  replies.push({ payload: msg.toString('utf8'), from: rinfo.address, fromPort: rinfo.port });
});

const port = AfPacketPort.open(config.ifname);
const tx = new FrameBatch(config.batch);
const rx = new FrameBatch(64);
let seq = 0;
let sent = 0;
while (seq < config.count) {
  let n = 0;
  for (; n < tx.capacity && seq < config.count; n++, seq++) {
    const inner = buildFrame({
      eth: { dst: config.dstMac, src: port.mac, etherType: 0x0800 },
      ipv4: ipv4Fields(cip, vip, { id: seq }),
      udp: { srcPort: config.cport, dstPort: config.vport, payload: new TextEncoder().encode(`msg-${seq}`) },
    });
    // Put the inner frame in the slot, move the Ethernet header 20 bytes forward into the headroom, then
    // write the outer header between it and the inner IPv4 header, as the director's TUN transmit does.
    tx.setFrame(n, inner);
    const base = tx.offset[n];
    tx.bytes.copyWithin(base - 20, base, base + 14);
    encapIpip(tx.bytes, base + 14, {
      src: parseIpv4Address(config.outerSrc),
      dst: parseIpv4Address(config.rip),
      ttl: 64,
      tos: 0,
      df: false,
      id: seq,
    });
    tx.adjustHead(n, -20);
  }
  const r = port.send(tx, n);
  if (r < 0) break;
  sent += r;
}

const deadline = Date.now() + config.timeoutMs;
await new Promise((resolve) => {
  const tick = () => {
    while (port.recv(rx) > 0) {
      for (let i = 0; i < rx.count; i++) {
        const o = rx.offset[i];
        const b = rx.bytes;
        if (b[o + 12] !== 0x08 || b[o + 13] !== 0x00) continue;
        const ip = o + 14;
        const proto = b[ip + 9];
        const src = ((b[ip + 12] << 24) | (b[ip + 13] << 16) | (b[ip + 14] << 8) | b[ip + 15]) >>> 0;
        if (proto === 4) seen.ipip++;
        if (proto === 17 && src === vip) {
          seen.udpFromVip++;
          const mac = Array.from(b.slice(o + 6, o + 12), (x) => x.toString(16).padStart(2, '0')).join(':');
          if (!seen.udpFromVipSourceMacs.includes(mac)) seen.udpFromVipSourceMacs.push(mac);
        }
        const ihl = (b[ip] & 0x0f) * 4;
        if (proto === 1 && b[ip + ihl] === 3 && b[ip + ihl + 1] === 2) seen.icmpProtoUnreachable++;
      }
    }
    if (replies.length >= config.count || Date.now() > deadline) resolve();
    else setTimeout(tick, 20);
  };
  tick();
});
// Give a straggling ICMP error a moment to show up before concluding there was none.
await new Promise((r) => setTimeout(r, 200));
while (port.recv(rx) > 0) {
  for (let i = 0; i < rx.count; i++) {
    const o = rx.offset[i];
    const ip = o + 14;
    const ihl = (rx.bytes[ip] & 0x0f) * 4;
    if (rx.bytes[ip + 9] === 1 && rx.bytes[ip + ihl] === 3 && rx.bytes[ip + ihl + 1] === 2) seen.icmpProtoUnreachable++;
  }
}
port.close();
socket.close();
process.stdout.write(`${JSON.stringify({ event: 'done', sent, replies, seen })}\n`);
