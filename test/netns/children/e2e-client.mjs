// Child for the end-to-end tests (test/netns/e2e-*.test.ts): the client (CIP), kept running inside the client
// namespace for a whole mode's tests, so that a connection can stay open while the test changes the rules.
// It reads one JSON request per stdin line, {id, op, ...}, and answers each with one JSON line {id, ok, ...}
// or {id, ok:false, error}. Every operation has its own time limit, and the process ends when stdin closes or
// after `UVS_AGENT_MAX_SECONDS` (default 120), so it can never outlive a failed test for long.
//   get      {url, count, timeoutMs}          count GETs, each on a new TCP connection, one after another
//   echo     {url, bytes, timeoutMs}          POST /echo with `bytes` random bytes on a new connection
//   start    {key, url, bytes, firstBytes, timeoutMs} POST /echo, but send only the first `firstBytes` and hold it open
//   finish   {key, timeoutMs}                 send the rest of upload `key` and read the echo
//   udp      {host, port, count, timeoutMs, size?}   `count` datagrams (of `size` bytes), each from a new socket
// HTTP answers carry the server's `x-served-by` and the address the reply came from (`remote`); body checks are
// by SHA-256 of what was sent and what came back.
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { request } from 'node:http';
import { createInterface } from 'node:readline';

const maxSeconds = Number(process.env.UVS_AGENT_MAX_SECONDS ?? '120');
const lifetime = setTimeout(() => process.exit(3), maxSeconds * 1000);
lifetime.unref();
/** Bound on a GET reply body: the lab's servers answer with their name. */
const MAX_NAME_BYTES = 1024;
/** Sends per UDP datagram: the first may wait in the director's ARP queue or be lost; the rest are retries. */
const UDP_ATTEMPTS = 3;

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

function answer(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** One request on a fresh connection; resolves with the reply and where it came from. */
function exchange(url, method, body, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, headers: { connection: 'close' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode,
          servedBy: res.headers['x-served-by'],
          remote: res.socket.remoteAddress,
          remotePort: res.socket.remotePort,
          body: Buffer.concat(chunks),
        });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`${method} ${url}: no reply within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}

function echoResult(sent, reply) {
  return {
    status: reply.status,
    servedBy: reply.servedBy,
    remote: reply.remote,
    remotePort: reply.remotePort,
    sentBytes: sent.length,
    sentHash: sha256(sent),
    receivedBytes: reply.body.length,
    receivedHash: sha256(reply.body),
  };
}

const uploads = new Map();

const ops = {
  async get({ url, count, timeoutMs }) {
    const replies = [];
    for (let i = 0; i < count; i++) {
      const reply = await exchange(url, 'GET', undefined, timeoutMs);
      replies.push({
        status: reply.status,
        servedBy: reply.servedBy,
        body: reply.body.subarray(0, MAX_NAME_BYTES).toString('utf8').trim(),
        remote: reply.remote,
        remotePort: reply.remotePort,
      });
    }
    return { replies };
  },

  async echo({ url, bytes, timeoutMs }) {
    const sent = randomBytes(bytes);
    return echoResult(sent, await exchange(new URL('/echo', url), 'POST', sent, timeoutMs));
  },

  start({ key, url, bytes, firstBytes, timeoutMs }) {
    const sent = randomBytes(bytes);
    return new Promise((resolve, reject) => {
      const req = request(new URL('/echo', url), {
        method: 'POST',
        agent: false,
        headers: { connection: 'close', 'content-length': String(bytes), 'content-type': 'application/octet-stream' },
      });
      const upload = { req, sent, firstBytes, reply: undefined };
      upload.reply = new Promise((resolveReply, rejectReply) => {
        req.on('response', (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () =>
            resolveReply({
              status: res.statusCode,
              servedBy: res.headers['x-served-by'],
              remote: res.socket.remoteAddress,
              remotePort: res.socket.remotePort,
              body: Buffer.concat(chunks),
            }),
          );
          res.on('error', rejectReply);
        });
        req.on('error', rejectReply);
      });
      // The held upload must not fail the process while it waits; finish() reports its error.
      upload.reply.catch(() => {});
      const timer = setTimeout(() => req.destroy(new Error(`start: not connected within ${timeoutMs} ms`)), timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.on('socket', (socket) => {
        socket.once('connect', () => {
          req.write(sent.subarray(0, firstBytes), () => {
            clearTimeout(timer);
            uploads.set(key, upload);
            resolve({ localPort: socket.localPort });
          });
        });
      });
    });
  },

  async finish({ key, timeoutMs }) {
    const upload = uploads.get(key);
    if (upload === undefined) throw new Error(`finish: no upload ${key}`);
    uploads.delete(key);
    const timer = setTimeout(() => upload.req.destroy(new Error(`finish: no reply within ${timeoutMs} ms`)), timeoutMs);
    try {
      upload.req.end(upload.sent.subarray(upload.firstBytes));
      return echoResult(upload.sent, await upload.reply);
    } finally {
      clearTimeout(timer);
    }
  },

  async udp({ host, port, count, timeoutMs, size }) {
    const replies = [];
    for (let i = 0; i < count; i++) {
      // `size`: the datagram padded with 'x' to that many bytes (past the MTU, the kernel fragments it).
      const text = size === undefined ? `ping ${i}` : `ping ${i} `.padEnd(size, 'x');
      replies.push(await udpExchange(host, port, text, timeoutMs));
    }
    return { replies };
  },
};

/** One datagram from a new socket, resent from the same socket (so the same IPVS connection) until answered. */
function udpExchange(host, port, text, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    let attempts = 0;
    let timer;
    const done = (err, value) => {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(value);
    };
    const send = () => {
      if (attempts === UDP_ATTEMPTS) {
        done(new Error(`udp ${host}:${port}: no answer to "${text}" after ${attempts} tries`));
        return;
      }
      attempts++;
      socket.send(text, port, host);
      timer = setTimeout(send, timeoutMs / UDP_ATTEMPTS);
    };
    socket.on('message', (msg, rinfo) =>
      done(undefined, { body: msg.toString('utf8'), from: rinfo.address, fromPort: rinfo.port, attempts }),
    );
    socket.on('error', (err) => done(err));
    socket.bind(0, send);
  });
}

createInterface({ input: process.stdin }).on('line', (line) => {
  let message;
  try {
    message = JSON.parse(line);
  } catch {
    return;
  }
  const op = ops[message.op];
  if (op === undefined) {
    answer({ id: message.id, ok: false, error: `unknown op ${message.op}` });
    return;
  }
  Promise.resolve()
    .then(() => op(message))
    .then(
      (result) => answer({ id: message.id, ok: true, ...result }),
      (err) => answer({ id: message.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
});
process.stdin.on('end', () => process.exit(0));
answer({ event: 'ready' });
