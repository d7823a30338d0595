// The soak's client, run inside the client namespace: a steady mix of TCP and UDP through the director until
// its time is up. Every `intervalMs` it makes one HTTP GET on a new connection and sends one UDP datagram
// (from a pool of sockets, so that some flows live long and others are new), and records each outcome with
// its wall-clock time, so the parent can tell losses inside a fault window from losses outside one.
// Config (UVS_SOAK_CLIENT, JSON): { url, udpHost, udpPort, durationMs, intervalMs, timeoutMs, udpSockets }.
// Prints one JSON line at the end: { http: [[t, ok], ...], udp: [[t, ok], ...] }.
import dgram from 'node:dgram';
import { request } from 'node:http';

const config = JSON.parse(process.env.UVS_SOAK_CLIENT ?? '{}');
const { url, udpHost, udpPort, durationMs, intervalMs, timeoutMs, udpSockets } = config;
// A stuck child must never outlive the soak for long.
setTimeout(() => process.exit(3), durationMs + 30_000).unref();

const http = [];
const udp = [];

function get() {
  const t = Date.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      http.push([t, ok ? 1 : 0]);
      resolve();
    };
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode === 200));
      res.on('error', () => done(false));
    });
    const timer = setTimeout(() => {
      req.destroy();
      done(false);
    }, timeoutMs);
    req.on('error', () => done(false));
    req.end();
  });
}

// One outstanding datagram per socket: an answer or the timeout settles it.
const pool = [];
for (let i = 0; i < udpSockets; i++) {
  const socket = dgram.createSocket('udp4');
  const slot = { socket, pending: null };
  socket.on('message', () => {
    if (slot.pending) {
      clearTimeout(slot.pending.timer);
      udp.push([slot.pending.t, 1]);
      slot.pending = null;
    }
  });
  socket.on('error', () => {});
  pool.push(slot);
}
let next = 0;
function sendUdp() {
  const slot = pool[next++ % pool.length];
  if (slot.pending) return;
  const t = Date.now();
  const timer = setTimeout(() => {
    udp.push([t, 0]);
    slot.pending = null;
  }, timeoutMs);
  slot.pending = { t, timer };
  slot.socket.send(`soak ${t}`, udpPort, udpHost);
}

const end = Date.now() + durationMs;
const inFlight = new Set();
const ticker = setInterval(() => {
  if (Date.now() >= end) {
    clearInterval(ticker);
    void Promise.all(inFlight).then(() =>
      setTimeout(() => {
        // Exit only once the record is written: a pipe takes large writes asynchronously.
        process.stdout.write(`${JSON.stringify({ http, udp })}\n`, () => process.exit(0));
      }, timeoutMs + 100),
    );
    return;
  }
  const p = get().then(() => inFlight.delete(p));
  inFlight.add(p);
  sendUdp();
}, intervalMs);
