// Child for test/netns/afpacket.test.ts: sends `count` UDP datagrams from a plain dgram socket to
// `dst:port` (an address inside the test's namespaces), with payloads made by the rule that
// afpacket.test.ts checks independently:
// a 4-byte sequence number, then bytes (seq * 7 + j) & 0xff, 18 + seq % 53 bytes in all.
// Config: { dst, port, count }.
import dgram from 'node:dgram';

const config = JSON.parse(process.env.UVS_CHILD_CONFIG ?? '{}');
const socket = dgram.createSocket('udp4');

function payload(seq) {
  const len = 18 + (seq % 53);
  const bytes = Buffer.alloc(len);
  bytes.writeUInt32BE(seq, 0);
  for (let j = 4; j < len; j++) bytes[j] = (seq * 7 + j) & 0xff;
  return bytes;
}

let seq = 0;
function sendSome() {
  // A few at a time, so that the socket's own buffer never overflows and drops silently.
  for (let k = 0; k < 20 && seq < config.count; k++, seq++) socket.send(payload(seq), config.port, config.dst);
  if (seq < config.count) setTimeout(sendSome, 1);
  else setTimeout(() => socket.close(() => process.stdout.write(`${JSON.stringify({ event: 'sent', seq })}\n`)), 20);
}
sendSome();
