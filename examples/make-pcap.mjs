#!/usr/bin/env node
// Writes examples/nat.pcap (or the path given) with uvs's own wire layer: a client ARPs for the VIP, pings
// it, opens an HTTP connection (SYN, the real server's SYN-ACK, ACK, a request, FIN), and sends one SYN to a
// port with no service. Run `npm run build` first; then replay or trace it with examples/nat.yaml.
import { join } from 'node:path';
import { PcapWriter } from '../dist/io/pcap.js';
import { parseIpv4Address, parseMac } from '../dist/wire/addr.js';
import { buildFrame, ipv4Fields } from '../dist/wire/frame.js';

const out = process.argv[2] ?? join(import.meta.dirname, 'nat.pcap');
const ip = (t) => parseIpv4Address(t);
const mac = (t) => parseMac(t);
const CLIENT = { mac: mac('02:00:00:00:01:64'), ip: ip('192.168.1.100') };
const RS = { mac: mac('02:00:00:00:02:12'), ip: ip('192.168.2.12') };
const ETH0 = mac('02:00:00:00:00:01');
const ETH1 = mac('02:00:00:00:00:02');
const VIP = ip('192.168.1.231');
const [FIN, SYN, PSH, ACK] = [0x01, 0x02, 0x08, 0x10];

function tcp(from, to, srcMac, dstMac, flags, seq, ack, payload = '') {
  return buildFrame({
    eth: { dst: dstMac, src: srcMac, etherType: 0 },
    ipv4: ipv4Fields(from.ip, to.ip),
    tcp: {
      srcPort: from.port,
      dstPort: to.port,
      seq,
      ack,
      flags,
      window: 64240,
      urgent: 0,
      payload: new TextEncoder().encode(payload),
    },
  });
}

const cip = { ...CLIENT, port: 40000 };
const vip = { ip: VIP, port: 80 };
const rip = { ip: RS.ip, port: 80 };
const request = 'GET / HTTP/1.0\r\n\r\n';
const frames = [
  buildFrame({
    eth: { dst: 0xffffffffffff, src: CLIENT.mac, etherType: 0 },
    arp: { op: 1, senderMac: CLIENT.mac, senderIp: CLIENT.ip, targetMac: 0, targetIp: VIP },
  }),
  buildFrame({
    eth: { dst: ETH0, src: CLIENT.mac, etherType: 0 },
    ipv4: ipv4Fields(CLIENT.ip, VIP),
    icmp: { type: 8, code: 0, id: 1, seq: 1, payload: new Uint8Array(8) },
  }),
  tcp(cip, vip, CLIENT.mac, ETH0, SYN, 1000, 0),
  // rr over the kernel list order (newest first) sends the first connection to 192.168.2.12.
  tcp(rip, cip, RS.mac, ETH1, SYN | ACK, 5000, 1001),
  tcp(cip, vip, CLIENT.mac, ETH0, ACK, 1001, 5001),
  tcp(cip, vip, CLIENT.mac, ETH0, PSH | ACK, 1001, 5001, request),
  tcp(cip, vip, CLIENT.mac, ETH0, FIN | ACK, 1001 + request.length, 5001),
  tcp({ ...CLIENT, port: 40001 }, { ip: VIP, port: 443 }, CLIENT.mac, ETH0, SYN, 7000, 0),
];
const writer = PcapWriter.open(out);
for (const [i, frame] of frames.entries()) writer.writeFrame(frame, 0, frame.length, 1764000000, i * 1_000_000);
writer.close();
console.log(`wrote ${frames.length} frames to ${out}`);
