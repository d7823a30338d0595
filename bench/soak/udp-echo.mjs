// The soak's UDP service on each real server: answers every datagram with "<name> <datagram>".
// Ends on SIGTERM or after `maxSeconds`. Config (UVS_SOAK_ECHO, JSON): { name, port, maxSeconds }.
import dgram from 'node:dgram';

const config = JSON.parse(process.env.UVS_SOAK_ECHO ?? '{}');
const socket = dgram.createSocket('udp4');
const stop = () => {
  clearTimeout(limit);
  socket.close();
};
const limit = setTimeout(stop, config.maxSeconds * 1000);
process.once('SIGTERM', stop);
socket.on('message', (msg, rinfo) => socket.send(`${config.name} ${msg}`, rinfo.port, rinfo.address));
socket.bind(config.port, '0.0.0.0', () => process.stdout.write('{"event":"ready"}\n'));
