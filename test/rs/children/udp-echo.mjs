// Child for test/rs/tun.test.ts: a UDP server bound to the VIP that answers each datagram with "echo:" and
// the payload, and reports what it received as one JSON line when `expect` datagrams arrived or after
// `timeoutMs`. Config: { address, port, expect, timeoutMs }.
import dgram from 'node:dgram';

const config = JSON.parse(process.env.UVS_CHILD_CONFIG ?? '{}');
const socket = dgram.createSocket('udp4');
const received = [];

function finish(reason) {
  clearTimeout(timer);
  // Let the last replies leave before closing.
  setTimeout(() => {
    socket.close();
    process.stdout.write(`${JSON.stringify({ event: 'done', reason, received })}\n`);
  }, 100);
}

const timer = setTimeout(() => finish('timeout'), config.timeoutMs);
socket.on('message', (msg, rinfo) => {
  received.push({ payload: msg.toString('utf8'), from: rinfo.address, fromPort: rinfo.port });
  socket.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address);
  if (received.length === config.expect) finish('complete');
});
socket.bind(config.port, config.address, () => process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`));
