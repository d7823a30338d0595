// The lab's client (CIP): N HTTP GETs to the VIP, each on a new TCP connection (so each is a new
// connection for the scheduler), one at a time, each with its own timeout. Run inside the client namespace:
//   node http-client.js --url http://VIP:80/ --count N [--timeout-ms MS]
// Prints one JSON line per request: {"event":"reply","i":1,"status":200,"body":"web01","ms":3}
// or {"event":"error","i":1,"error":"..."}, then {"event":"done","ok":K,"failed":F}.
import { request } from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Bound on one reply body read by the client; the lab's replies are a name. */
const MAX_REPLY_BYTES = 64 * 1024;

export interface Reply {
  status: number;
  body: string;
  servedBy: string | undefined;
  ms: number;
}

/** One GET on a fresh connection (no keep-alive agent), bounded by `timeoutMs` from start to end. */
export function getOnce(url: string, timeoutMs: number): Promise<Reply> {
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < MAX_REPLY_BYTES) body += chunk;
      });
      res.on('end', () => {
        clearTimeout(timer);
        const servedBy = res.headers['x-served-by'];
        resolvePromise({
          status: res.statusCode ?? 0,
          body: body.trim(),
          servedBy: typeof servedBy === 'string' ? servedBy : undefined,
          ms: Date.now() - started,
        });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      count: { type: 'string', default: '6' },
      'timeout-ms': { type: 'string', default: '2000' },
    },
    strict: true,
  });
  if (values.url === undefined) throw new Error('http-client: --url is required');
  const count = Number(values.count);
  const timeoutMs = Number(values['timeout-ms']);
  let ok = 0;
  let failed = 0;
  for (let i = 1; i <= count; i++) {
    try {
      const reply = await getOnce(values.url, timeoutMs);
      ok++;
      process.stdout.write(`${JSON.stringify({ event: 'reply', i, ...reply })}\n`);
    } catch (err) {
      failed++;
      process.stdout.write(`${JSON.stringify({ event: 'error', i, error: (err as Error).message })}\n`);
    }
  }
  process.stdout.write(`${JSON.stringify({ event: 'done', ok, failed })}\n`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
