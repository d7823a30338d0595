// The lab's real HTTP servers (web01, web02): each answers with its own name, so the client can see the
// scheduler's choice in every reply. It listens on 0.0.0.0, so it also answers on the VIP that DR and TUN
// real servers hold on lo or on the TUN device.
//   GET  /        -> "<name>\n"
//   POST /echo    -> the request body back (for end-to-end payload checks by hash)
// Every reply carries `x-served-by: <name>`. Run as a script inside a namespace:
//   node webserver.js --name web01 [--port 80] [--host 0.0.0.0] [--max-seconds N]
// it prints one JSON line {"event":"ready",...} once listening, and exits on SIGTERM/SIGINT or after N s.
import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Bound on a request body the echo route accepts: the end-to-end tests send 1 MB. */
export const MAX_ECHO_BYTES = 16 * 1024 * 1024;

export function createNameServer(name: string): Server {
  return createServer((req, res) => {
    res.setHeader('x-served-by', name);
    if (req.method === 'POST' && req.url === '/echo') {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ECHO_BYTES) {
          res.writeHead(413).end();
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => {
        if (res.headersSent) return;
        const body = Buffer.concat(chunks);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      });
      return;
    }
    const body = `${name}\n`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

/** Starts a name server and resolves once it listens. */
export function startWebServer(name: string, port = 80, host = '0.0.0.0'): Promise<Server> {
  const server = createNameServer(name);
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolvePromise(server);
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      name: { type: 'string' },
      port: { type: 'string', default: '80' },
      host: { type: 'string', default: '0.0.0.0' },
      'max-seconds': { type: 'string', default: '3600' },
    },
    strict: true,
  });
  if (values.name === undefined) throw new Error('webserver: --name is required');
  const port = Number(values.port);
  const server = await startWebServer(values.name, port, values.host);
  // The lab may leave this running (--keep) after its own pipes are gone: never die of EPIPE.
  process.stdout.on('error', () => {});
  process.stdout.write(`${JSON.stringify({ event: 'ready', name: values.name, port, host: values.host })}\n`);
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    clearTimeout(limit);
  };
  const limit = setTimeout(stop, Number(values['max-seconds']) * 1000);
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
