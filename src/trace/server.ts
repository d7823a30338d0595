// The daemon's trace socket: streams the datapath's per-packet trace (TRACE_CHANNEL) as JSON lines to
// `uvs trace` clients over a Unix socket only root can open (0600, created like the control socket).
//
// Tracing costs nothing while nobody watches: the server subscribes to the channel when the first client
// connects and unsubscribes when the last one leaves, so the datapath's `hasSubscribers` check is false again.
// The stream is bounded per client: while more than `maxPendingBytes` wait in a client's socket buffer (a slow
// terminal, a paused client), its messages are dropped and counted, and the count is sent as a `lost` line
// before the next message that gets through. The daemon never buffers without limit for a client.
//
// Lines, one JSON object each:
//   {"type":"context","context":TraceContext}   on connect, and again when the rules changed
//   {"type":"packet","seq":N,"trace":PacketTrace} N counts every published packet, so gaps show
//   {"type":"lost","count":N}                    N packets were dropped for this client since its last line
import diagnosticsChannel from 'node:diagnostics_channel';
import { unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { listenPrivate } from '../control/private-socket.js';
import { type Datapath, type PacketTrace, TRACE_CHANNEL } from '../datapath/datapath.js';
import { type TraceContext, traceContext } from './context.js';

/** Appended to the control socket's path to name the trace socket. */
export const TRACE_SOCKET_SUFFIX = '.trace';
/** Per client; about a thousand packets, a few seconds of a terminal's backlog. */
export const DEFAULT_MAX_PENDING_BYTES = 1 << 20;

export function traceSocketPath(controlPath: string): string {
  return controlPath + TRACE_SOCKET_SUFFIX;
}

export type TraceLine =
  | { type: 'context'; context: TraceContext }
  | { type: 'packet'; seq: number; trace: PacketTrace }
  | { type: 'lost'; count: number };

export interface TraceServerOptions {
  readonly socketPath: string;
  /** Where the context comes from: the director's configuration and its current rules. */
  readonly datapath: Pick<Datapath, 'config' | 'core'>;
  readonly maxPendingBytes?: number;
}

interface TraceClient {
  readonly socket: Socket;
  /** Rules generation of the last context sent. */
  generation: number;
  /** Packets dropped since the last line that got through. */
  lost: number;
}

export class TraceServer {
  /** Packets published while subscribed. */
  published = 0;
  /** Packets dropped for slow clients, over all clients. */
  lost = 0;
  private readonly clients = new Set<TraceClient>();
  private subscribed = false;
  private readonly maxPending: number;
  private readonly onPacket = (message: unknown) => this.broadcast(message as PacketTrace);

  private constructor(
    readonly socketPath: string,
    private readonly server: Server,
    private readonly datapath: Pick<Datapath, 'config' | 'core'>,
    maxPendingBytes: number,
  ) {
    this.maxPending = maxPendingBytes;
  }

  static async start(options: TraceServerOptions): Promise<TraceServer> {
    const server = createServer();
    const trace = new TraceServer(
      options.socketPath,
      server,
      options.datapath,
      options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES,
    );
    server.on('connection', (socket) => trace.accept(socket));
    await listenPrivate(server, options.socketPath);
    return trace;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Bytes waiting in the fullest client's socket buffer (bounded by maxPendingBytes plus one line). */
  get pendingBytes(): number {
    let most = 0;
    for (const c of this.clients) most = Math.max(most, c.socket.writableLength);
    return most;
  }

  /** True while the server listens on TRACE_CHANNEL. */
  get tracing(): boolean {
    return this.subscribed;
  }

  /** Disconnects every client, stops tracing, removes the socket file. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.clients) c.socket.destroy();
    this.clients.clear();
    this.unsubscribe();
    await closed;
    await unlink(this.socketPath).catch(() => undefined);
  }

  private accept(socket: Socket): void {
    const generation = this.datapath.core.rules.snapshot.generation;
    const client: TraceClient = { socket, generation, lost: 0 };
    this.clients.add(client);
    // Nothing is expected from the client; reading keeps its end-of-stream and errors visible.
    socket.resume();
    const leave = () => {
      if (!this.clients.delete(client)) return;
      if (this.clients.size === 0) this.unsubscribe();
    };
    socket.on('close', leave);
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
    this.send(client, { type: 'context', context: this.context() });
    if (!this.subscribed) {
      diagnosticsChannel.subscribe(TRACE_CHANNEL, this.onPacket);
      this.subscribed = true;
    }
  }

  private unsubscribe(): void {
    if (!this.subscribed) return;
    diagnosticsChannel.unsubscribe(TRACE_CHANNEL, this.onPacket);
    this.subscribed = false;
  }

  private context(): TraceContext {
    return traceContext(this.datapath.config, this.datapath.core.rules.snapshot);
  }

  private send(client: TraceClient, line: TraceLine | string): void {
    client.socket.write(typeof line === 'string' ? line : `${JSON.stringify(line)}\n`);
  }

  private broadcast(trace: PacketTrace): void {
    const seq = ++this.published;
    let text: string | undefined;
    const generation = this.datapath.core.rules.snapshot.generation;
    for (const client of this.clients) {
      const socket = client.socket;
      if (!socket.writable || socket.writableLength > this.maxPending) {
        client.lost++;
        this.lost++;
        continue;
      }
      if (client.lost > 0) {
        this.send(client, { type: 'lost', count: client.lost });
        client.lost = 0;
      }
      if (client.generation !== generation) {
        client.generation = generation;
        this.send(client, { type: 'context', context: this.context() });
      }
      text ??= `${JSON.stringify({ type: 'packet', seq, trace } satisfies TraceLine)}\n`;
      this.send(client, text);
    }
  }
}
