// `uvs trace`: explains packets in the seed tutorial's terms, one story per packet (src/trace/explain.ts).
//   offline: `uvs trace --config CFG [--rules RULES] --in IN.pcap [--json]` runs a capture (pcap or
//            pcapng) through the datapath as `uvs replay` does (same ingress inference, timestamps as the
//            clock) and traces it;
//   live:    `uvs trace [--socket PATH | --config CFG] [--json]` attaches to the daemon's trace socket
//            (the control socket's path + `.trace`) until Ctrl-C.
import diagnosticsChannel from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { parseArgs } from 'node:util';
import {
  ConfigError,
  DEFAULT_CONTROL_PATH,
  type DirectorConfig,
  type InterfaceReader,
  loadConfig,
} from '../config/director.js';
import { Datapath, type PacketTrace, TRACE_CHANNEL } from '../datapath/datapath.js';
import { FrameBatch, FrameFlag } from '../io/batch.js';
import { openCapture } from '../io/capture.js';
import { type CaptureReader, PcapError } from '../io/pcap.js';
import { IpvsCore } from '../ipvs/core.js';
import { RulesError } from '../model/errors.js';
import { parseRules } from '../model/save-format.js';
import { type TraceContext, traceContext } from '../trace/context.js';
import { explainPacket, type TraceMessage } from '../trace/explain.js';
import type { TraceLine } from '../trace/server.js';
import { traceSocketPath } from '../trace/server.js';
import { ingressOf, severalInterfacesNote } from './replay.js';

export const TRACE_USAGE = `Usage: uvs trace --config CFG [--rules RULES] --in IN.pcap [--json]
       uvs trace [--socket PATH | --config CFG] [--json]

Explains each packet the way the seed tutorial does: where it arrived; its addresses as CIP, VIP, DIP and
RIP before and after; which virtual service and scheduler decided, for a new or a known connection, and
its real server (RIP:rport); which rewrite was applied (NAT's DNAT or SNAT, DR's MAC rewrite, TUN's IPIP
encapsulation) and where it went, or what uvs answered (an ICMP fragmentation needed with its MTU); the TCP
state before and after; or why it was dropped.

With --in, IN.pcap (pcap or pcapng) is run through the datapath offline, as \`uvs replay\` does
(nothing is written).
Without it, uvs trace attaches to the running daemon's trace socket (PATH, default: the control socket of
CFG, else ${DEFAULT_CONTROL_PATH}, plus .trace; root only) until Ctrl-C; tracing costs the daemon
nothing while no trace client is attached. --json prints one JSON object per packet instead.
`;

const NS_PER_MS = 1_000_000;

interface TraceValues {
  config?: string;
  rules?: string;
  in?: string;
  socket?: string;
  json?: boolean;
  help?: boolean;
}

export async function traceMain(
  args: string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
  stop?: AbortSignal,
): Promise<number> {
  let values: TraceValues;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string', short: 'c' },
        rules: { type: 'string' },
        in: { type: 'string' },
        socket: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    err.write(`uvs trace: ${(e as Error).message}\n${TRACE_USAGE}`);
    return 2;
  }
  if (values.help) {
    out.write(TRACE_USAGE);
    return 0;
  }
  if (values.in !== undefined) {
    if (values.socket !== undefined) {
      err.write(`uvs trace: --in traces a capture offline; --socket attaches to the daemon; not both\n`);
      return 2;
    }
    if (values.config === undefined) {
      err.write(`uvs trace: --config is required with --in\n${TRACE_USAGE}`);
      return 2;
    }
    return traceOffline(values.config, values.rules, values.in, values.json === true, out, err);
  }
  if (values.rules !== undefined) {
    err.write(`uvs trace: --rules is for --in; the daemon traces with its own rules\n`);
    return 2;
  }
  let path = values.socket;
  if (path === undefined) {
    let control = DEFAULT_CONTROL_PATH;
    if (values.config !== undefined) {
      try {
        // Only the control path is needed: `auto` MACs and MTUs belong to the daemon's namespace, maybe not ours.
        control = loadConfig(values.config, placeholderInterfaces).control;
      } catch (e) {
        if (e instanceof ConfigError) {
          err.write(`uvs trace: ${e.message}\n`);
          return 1;
        }
        throw e;
      }
    }
    path = traceSocketPath(control);
  }
  return traceLive(path, values.json === true, out, err, stop);
}

const placeholderInterfaces: InterfaceReader = { mac: () => '00:00:00:00:00:00', mtu: () => 1500 };

function loadOffline(
  configPath: string,
  rulesOption: string | undefined,
  err: NodeJS.WritableStream,
): { config: DirectorConfig; datapath: Datapath } | number {
  let config: DirectorConfig;
  try {
    config = loadConfig(configPath);
  } catch (e) {
    if (e instanceof ConfigError) {
      err.write(`uvs trace: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const core = new IpvsCore({ connCapacity: config.conn.capacity, ticksPerSecond: 1000 });
  const rulesPath = rulesOption ?? config.rules;
  if (rulesPath !== null) {
    try {
      core.applyRules(parseRules(readFileSync(rulesPath, 'utf8')));
    } catch (e) {
      if (e instanceof RulesError || (e as NodeJS.ErrnoException).code !== undefined) {
        err.write(`uvs trace: ${rulesPath}: ${(e as Error).message}\n`);
        return 1;
      }
      throw e;
    }
  }
  const datapath = new Datapath(config, core);
  const check = datapath.checkRules();
  for (const w of check.warnings) err.write(`uvs trace: warning: ${w}\n`);
  if (check.errors.length > 0) {
    for (const e of check.errors) err.write(`uvs trace: ${e}\n`);
    return 1;
  }
  return { config, datapath };
}

function traceOffline(
  configPath: string,
  rulesPath: string | undefined,
  inPath: string,
  json: boolean,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): number {
  const loaded = loadOffline(configPath, rulesPath, err);
  if (typeof loaded === 'number') return loaded;
  const { config, datapath } = loaded;
  const ctx = traceContext(config, datapath.core.rules.snapshot);
  let reader: CaptureReader;
  try {
    reader = openCapture(inPath);
  } catch (e) {
    if (e instanceof PcapError) {
      err.write(`uvs trace: ${inPath}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  let current: PacketTrace | null = null;
  const listener = (message: unknown) => {
    current = message as PacketTrace;
  };
  diagnosticsChannel.subscribe(TRACE_CHANNEL, listener);
  const rx = new FrameBatch(1);
  const tx = new FrameBatch(64);
  let seq = 0;
  try {
    for (const rec of reader) {
      seq++;
      const frame = rec.buf.subarray(rec.off, rec.off + rec.capLen);
      const now = rec.tsSec * 1000 + rec.tsFrac / NS_PER_MS;
      let trace: TraceMessage;
      if (!rx.setFrame(0, frame)) {
        trace = tooLarge(now);
      } else {
        rx.ifindex[0] = ingressOf(config, rec.buf, rec.off, rec.capLen);
        rx.flags[0] = rec.capLen < rec.origLen ? FrameFlag.truncated : 0;
        rx.count = 1;
        tx.count = 0;
        current = null;
        datapath.processBatch(rx, tx, now);
        const published = current as PacketTrace | null;
        if (published === null) continue;
        trace = published;
      }
      out.write(json ? `${JSON.stringify({ seq, ...trace })}\n` : `${explainPacket(seq, trace, ctx)}\n`);
    }
  } catch (e) {
    if (e instanceof PcapError) {
      err.write(`uvs trace: ${inPath}: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    diagnosticsChannel.unsubscribe(TRACE_CHANNEL, listener);
    reader.close();
  }
  const note = severalInterfacesNote(inPath, reader);
  if (note !== null) err.write(`uvs trace: ${note}\n`);
  return 0;
}

/** What `uvs replay` counts as frameTooLarge: the frame never reaches the datapath. */
function tooLarge(now: number): TraceMessage {
  return {
    now,
    ingress: '?',
    verdict: 'drop',
    reason: 'frameTooLarge',
    input: null,
    output: null,
    egress: null,
    service: null,
    scheduler: null,
    conn: null,
    fwd: null,
    rip: null,
    rport: null,
    held: null,
    stateBefore: null,
    stateAfter: null,
  };
}

/** Renders the daemon's trace stream until `stop` aborts, SIGINT arrives or the daemon goes away. */
export function traceLive(
  path: string,
  json: boolean,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
  stop?: AbortSignal,
): Promise<number> {
  return new Promise<number>((resolve) => {
    const socket = createConnection(path);
    let ctx: TraceContext | null = null;
    let connected = false;
    let done = false;
    let pending = '';
    /** Packets are numbered from 1 for this client; the daemon's numbering keeps the gaps of lost ones. */
    let base = -1;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      process.off('SIGINT', onInterrupt);
      stop?.removeEventListener('abort', onInterrupt);
      socket.destroy();
      resolve(code);
    };
    const onInterrupt = () => finish(0);
    process.once('SIGINT', onInterrupt);
    if (stop?.aborted) {
      finish(0);
      return;
    }
    stop?.addEventListener('abort', onInterrupt);
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      connected = true;
    });
    socket.on('data', (chunk: string) => {
      pending += chunk;
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const text = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
        let line: TraceLine;
        try {
          line = JSON.parse(text) as TraceLine;
        } catch {
          err.write('uvs trace: malformed line from the daemon\n');
          continue;
        }
        if (line.type === 'context') ctx = line.context;
        else if (line.type === 'lost') {
          out.write(json ? `${text}\n` : `... ${line.count} packets not shown: this client did not keep up\n`);
        } else if (line.type === 'packet') {
          if (base < 0) base = line.seq - 1;
          const seq = line.seq - base;
          if (json) out.write(`${JSON.stringify({ seq, ...line.trace })}\n`);
          else if (ctx !== null) out.write(`${explainPacket(seq, line.trace, ctx)}\n`);
        }
      }
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (connected) err.write(`uvs trace: ${path}: ${e.message}\n`);
      else if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
        err.write(`uvs trace: no daemon is listening on ${path} (is uvs daemon running?)\n`);
      } else if (e.code === 'EACCES') err.write(`uvs trace: ${path}: permission denied (root only)\n`);
      else err.write(`uvs trace: ${path}: ${e.message}\n`);
      finish(1);
    });
    socket.on('close', () => {
      if (!done) err.write('uvs trace: the daemon closed the trace socket\n');
      finish(0);
    });
  });
}
