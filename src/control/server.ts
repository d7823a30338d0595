// The daemon's control socket: a Unix socket only root can open (mode 0600, created under a umask so it is
// never reachable with wider permissions, even for an instant), answering uvsadm requests.
//
// The server knows nothing of IPVS: its owner passes the handler (the daemon plugs in executeCommand() with
// its core) and, optionally, what to do after a rule change was applied (the daemon logs it). Saving is the
// handler's part, done before the change is applied (handler.ts), so when uvsadm returns the change is on disk.
//
// Queries (`uvs counters`, protocol.ts) go to a separate handler, in the same queue; they change nothing.
//
// Requests are handled strictly in order, even from concurrent clients: each handler call sees the state the
// previous one left, as with ipvsadm commands run one after another. Only the handling is queued: each client
// reads its request and takes its answer on its own, under deadlines, so a client that stops reading (a stopped
// `uvsadm -S | less`) or never finishes its request holds up nobody else and is dropped when its deadline
// passes. A refused request (too large) is answered and its connection closed; what it sent is discarded.

import { unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { listenPrivate } from './private-socket.js';
import {
  asQuery,
  asRequest,
  type ControlRequest,
  type ControlResponse,
  MAX_REQUEST_BYTES,
  type QueryRequest,
} from './protocol.js';

export type ControlHandler = (request: ControlRequest) => Promise<ControlResponse & { rulesChanged?: boolean }>;
/** Answers a query (protocol.ts) about the daemon itself; it must not change the rules. */
export type QueryHandler = (request: QueryRequest) => Promise<ControlResponse>;

export interface ControlServerOptions {
  readonly socketPath: string;
  readonly handler: ControlHandler;
  /** Answers queries (`uvs counters`); without it they are refused with a message. */
  readonly queryHandler?: QueryHandler;
  /**
   * Runs after each request that changed the rules, before its response is sent (logging). The change is
   * applied and saved by then: an error here is passed to onError and the client still gets its answer.
   */
  readonly onRulesChanged?: () => void | Promise<void>;
  /** Called with errors of the hook or the handler (logging); the client gets exit 2 with a message. */
  readonly onError?: (err: unknown) => void;
  /** Called when a client is dropped for missing a deadline (logging). */
  readonly onClientDropped?: (reason: string) => void;
  /** A client must send its whole request within this, from connecting (default 60 s). */
  readonly readTimeoutMs?: number;
  /** A client must take its whole answer and hang up within this, once it is ready (default 30 s). */
  readonly writeTimeoutMs?: number;
}

export const DEFAULT_READ_TIMEOUT_MS = 60_000;
export const DEFAULT_WRITE_TIMEOUT_MS = 30_000;
/** Clients served at once (each may buffer a request); more are closed as soon as they connect. */
export const MAX_CONTROL_CONNECTIONS = 32;
/** At stop, answers being written get this long before their connections are cut. */
const CLOSE_GRACE_MS = 1_000;

// The control socket path taken by a live daemon, or by something that is not a socket.
export { isSocketLive, PrivateSocketError as ControlServerError } from './private-socket.js';

export class ControlServer {
  private queue: Promise<void> = Promise.resolve();
  private readonly sockets = new Set<Socket>();
  /** Requests answered since start: uvsadm commands, queries, and those refused unread (malformed, too large). */
  readonly requests = { command: 0, query: 0, refused: 0 };

  private constructor(
    readonly socketPath: string,
    private readonly server: Server,
    private readonly options: ControlServerOptions,
  ) {}

  /** Creates the socket (0600) and starts answering. */
  static async start(options: ControlServerOptions): Promise<ControlServer> {
    const path = options.socketPath;
    const server = createServer({ allowHalfOpen: true });
    server.maxConnections = MAX_CONTROL_CONNECTIONS;
    const control = new ControlServer(path, server, options);
    server.on('connection', (socket) => control.accept(socket));
    await listenPrivate(server, path);
    return control;
  }

  /**
   * Runs `change` in the queue of requests, so that a rule change made outside the socket (a SIGHUP reload)
   * never interleaves with one from uvsadm: neither sees the other half done, and a save that fails undoes
   * only its own change.
   */
  exclusive<T>(change: () => Promise<T>): Promise<T> {
    const result = this.queue.then(change);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Connections open now (tests, and what stop waits for). */
  connectionCount(): Promise<number> {
    return new Promise((resolve, reject) =>
      this.server.getConnections((err, count) => (err ? reject(err) : resolve(count))),
    );
  }

  /**
   * Stops accepting, waits for the request in progress, gives answers being written a moment, then cuts the
   * connections left and removes the socket file.
   */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.queue;
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((resolve) => (grace = setTimeout(resolve, CLOSE_GRACE_MS)))]);
    clearTimeout(grace);
    for (const socket of this.sockets) socket.destroy();
    await closed;
    await unlink(this.socketPath).catch(() => undefined);
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    let chunks: Buffer[] = [];
    let size = 0;
    let taken = false;
    let deadline = this.deadline(socket, this.options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS, 'send its request');
    socket.once('close', () => {
      clearTimeout(deadline);
      this.sockets.delete(socket);
    });
    socket.on('error', () => socket.destroy());
    const take = (line: string | undefined) => {
      if (taken) return;
      taken = true;
      // Whatever else the client sends is read and discarded, so its hang-up is seen and nothing piles up.
      chunks = [];
      clearTimeout(deadline);
      const answer = this.queue.then(() => this.respond(line));
      this.queue = answer.then(
        () => undefined,
        (err) => this.options.onError?.(err),
      );
      answer.then(
        (response) => {
          if (socket.destroyed) return;
          deadline = this.deadline(socket, this.options.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS, 'take its answer');
          socket.end(`${JSON.stringify(response)}\n`);
        },
        () => socket.destroy(),
      );
    };
    socket.on('data', (chunk: Buffer) => {
      if (taken) return;
      const newline = chunk.indexOf(0x0a);
      if (newline >= 0) {
        chunks.push(chunk.subarray(0, newline));
        take(Buffer.concat(chunks).toString('utf8'));
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) take(undefined);
    });
    socket.on('end', () => take(chunks.length > 0 ? Buffer.concat(chunks).toString('utf8') : ''));
  }

  /** Drops the client unless its connection closes within `ms`. */
  private deadline(socket: Socket, ms: number, what: string): NodeJS.Timeout {
    return setTimeout(() => {
      this.options.onClientDropped?.(`a control client did not ${what} within ${ms} ms; connection dropped`);
      socket.destroy();
    }, ms);
  }

  private async respond(line: string | undefined): Promise<ControlResponse> {
    if (line === undefined) {
      this.requests.refused++;
      return { stdout: '', stderr: `uvs: request larger than ${MAX_REQUEST_BYTES} bytes refused\n`, exitCode: 2 };
    }
    let decoded: unknown;
    try {
      decoded = JSON.parse(line);
    } catch {
      decoded = undefined;
    }
    const query = asQuery(decoded);
    const request = query === undefined ? asRequest(decoded) : undefined;
    if (query !== undefined && typeof query !== 'string') {
      this.requests.query++;
      return this.ask(query);
    }
    if (request !== undefined) {
      this.requests.command++;
      return this.run(request);
    }
    this.requests.refused++;
    if (typeof query === 'string') return { stdout: '', stderr: `uvs: ${query}\n`, exitCode: 2 };
    return { stdout: '', stderr: 'uvs: malformed control request\n', exitCode: 2 };
  }

  private async ask(request: QueryRequest): Promise<ControlResponse> {
    if (this.options.queryHandler === undefined) {
      return { stdout: '', stderr: `uvs: this daemon does not answer ${request.query} queries\n`, exitCode: 2 };
    }
    try {
      const { stdout, stderr, exitCode } = await this.options.queryHandler(request);
      return { stdout, stderr, exitCode };
    } catch (err) {
      this.options.onError?.(err);
      return { stdout: '', stderr: `uvs: internal error: ${String(err)}\n`, exitCode: 2 };
    }
  }

  private async run(request: ControlRequest): Promise<ControlResponse> {
    try {
      const result = await this.options.handler(request);
      if (result.rulesChanged === true && this.options.onRulesChanged !== undefined) {
        try {
          await this.options.onRulesChanged();
        } catch (err) {
          this.options.onError?.(err);
        }
      }
      return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode };
    } catch (err) {
      this.options.onError?.(err);
      return { stdout: '', stderr: `uvs: internal error: ${String(err)}\n`, exitCode: 2 };
    }
  }
}
