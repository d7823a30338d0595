// Child for the end-to-end tests: a real server's UDP service. It answers each datagram with
// "<name> <datagram>", so the client can tell which real server the director chose. It binds `host`: a DR or
// TUN real server binds the VIP, so that its kernel answers from the VIP (an unbound socket would answer from
// the RIP, the address of the route back to the client). Ends after `maxSeconds` or on SIGTERM.
// Config (UVS_CHILD_CONFIG): { name, host, port, maxSeconds }.
import dgram from 'node:dgram';

const config = JSON.parse(process.env.UVS_CHILD_CONFIG ?? '{}');
const socket = dgram.createSocket('udp4');
const stop = () => {
  clearTimeout(limit);
  socket.close();
};
const limit = setTimeout(stop, (config.maxSeconds ?? 120) * 1000);
process.once('SIGTERM', stop);
socket.on('message', (msg, rinfo) => socket.send(`${config.name} ${msg.toString('utf8')}`, rinfo.port, rinfo.address));
socket.bind(config.port, config.host, () =>
  process.stdout.write(
    `${JSON.stringify({ event: 'ready', name: config.name, host: config.host, port: config.port })}\n`,
  ),
);
