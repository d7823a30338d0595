// Child for test/netns/afpacket.test.ts: a plain UDP socket that reports the datagrams the kernel
// delivered to it (so only ones with a correct checksum), as one JSON line at the end. Bounded by `expect`
// datagrams and `timeoutMs`. Config: { port, expect, timeoutMs }.
import dgram from 'node:dgram';

const config = JSON.parse(process.env.UVS_CHILD_CONFIG ?? '{}');
const socket = dgram.createSocket('udp4');
const received = [];

function finish(reason) {
  clearTimeout(timer);
  socket.close();
  process.stdout.write(`${JSON.stringify({ event: 'done', reason, received })}\n`);
}

const timer = setTimeout(() => finish('timeout'), config.timeoutMs);
socket.on('message', (msg, rinfo) => {
  received.push({ hex: msg.toString('hex'), from: rinfo.address, fromPort: rinfo.port });
  if (received.length >= config.expect) finish('complete');
});
socket.bind(config.port, () => process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`));
