// The lab's web server and client on loopback: the server answers with its own name and echoes bodies
// byte for byte; the client opens a new connection per request and gives up after its timeout.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getOnce } from '../../src/lab/http-client.js';
import { startWebServer } from '../../src/lab/webserver.js';

function post(url: string, body: Buffer): Promise<{ status: number; servedBy: unknown; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, servedBy: res.headers['x-served-by'], body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('lab web server', () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = await startWebServer('web02', 0, '127.0.0.1');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => {
    server.close();
    server.closeAllConnections();
  });

  it('answers GET with its own name', async () => {
    const reply = await getOnce(`${base}/`, 2_000);
    expect(reply).toMatchObject({ status: 200, body: 'web02', servedBy: 'web02' });
  });

  it('answers each request on a new connection', async () => {
    const ports = new Set<number>();
    const onConnection = (socket: { remotePort?: number }): void => {
      if (socket.remotePort !== undefined) ports.add(socket.remotePort);
    };
    server.on('connection', onConnection);
    for (let i = 0; i < 3; i++) await getOnce(`${base}/`, 2_000);
    server.off('connection', onConnection);
    expect(ports.size).toBe(3);
  });

  it('echoes a random 1 MB body intact', async () => {
    const body = randomBytes(1 << 20);
    const reply = await post(`${base}/echo`, body);
    expect(reply.status).toBe(200);
    expect(reply.servedBy).toBe('web02');
    expect(reply.body.length).toBe(body.length);
    expect(sha256(reply.body)).toBe(sha256(body));
  });
});

describe('lab client', () => {
  it('gives up on a server that never answers, after its timeout', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as AddressInfo).port;
    const started = Date.now();
    await expect(getOnce(`http://127.0.0.1:${port}/`, 300)).rejects.toThrow('no reply within 300 ms');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2_000);
    silent.closeAllConnections();
    silent.close();
  });
});
