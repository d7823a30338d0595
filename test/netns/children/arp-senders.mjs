// Child for test/netns/neighbours.test.ts, run in the client namespace: sends `count` ARP requests for
// `targetIp` out of `ifname`, each from a different on-link sender (`firstSenderIp` + k, MAC 02:5e:00:00:kk:kk),
// `batch` frames per send, then prints {"event":"sent","sent":n} and exits. uvs learns each sender, as a
// director on a busy client subnet would. Config (UVS_CHILD_CONFIG): { dist, ifname, targetIp, firstSenderIp,
// count, batch }.
const config = JSON.parse(process.env.UVS_CHILD_CONFIG ?? '{}');
const { AfPacketPort } = await import(`${config.dist}/io/afpacket.js`);
const { FrameBatch } = await import(`${config.dist}/io/batch.js`);
const { parseIpv4Address } = await import(`${config.dist}/wire/addr.js`);

const targetIp = parseIpv4Address(config.targetIp);
const firstSenderIp = parseIpv4Address(config.firstSenderIp);
const port = AfPacketPort.open(config.ifname);
const tx = new FrameBatch(config.batch);
const frame = new Uint8Array(42);

function writeU32(buf, off, v) {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/** Ethernet broadcast, ARP request (htype 1, ptype IPv4, op 1): who-has targetIp tell sender k. */
function request(k) {
  frame.fill(0);
  frame.fill(0xff, 0, 6);
  const mac = [0x02, 0x5e, 0, 0, (k >>> 8) & 0xff, k & 0xff];
  frame.set(mac, 6);
  frame.set([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1], 12);
  frame.set(mac, 22);
  writeU32(frame, 28, (firstSenderIp + k) >>> 0);
  writeU32(frame, 38, targetIp);
  return frame;
}

let sent = 0;
while (sent < config.count) {
  const n = Math.min(config.batch, config.count - sent);
  for (let j = 0; j < n; j++) tx.setFrame(j, request(sent + j));
  tx.count = n;
  const r = port.send(tx, n);
  if (r < 0) throw new Error(`send failed: errno ${-r}`);
  sent += r;
  // Paced, so that the director's receive ring never overflows: the test is about its table, not its ring.
  await new Promise((resolve) => setTimeout(resolve, 2));
}
port.close();
process.stdout.write(`${JSON.stringify({ event: 'sent', sent })}\n`);
