// `uvs simulate`: answers "where would this flow go?" from rules and a stream of events, sending nothing
// (Katran's simulator). It drives IpvsCore, the object the datapath drives, so its answers are the datapath's.
//
// Events are JSON objects, one per line:
//   {"op":"open","proto":"tcp","client":"CIP:CPORT","service":"VIP:PORT"}  -> {"dest":"RIP:PORT"} or {"dest":null,"reason":"..."}
//   {"op":"close","proto":"tcp","client":...,"service":...}   a FIN exchange: the connection becomes inactive
//   {"op":"expire","proto":"tcp","client":...,"service":...}  removes the connection now
//   {"op":"advance","seconds":N}                              moves the clock; entries and templates expire
//   {"op":"edit","rule":"-e -t VIP:PORT -r RIP:PORT -w 0"}    an ipvsadm-style change mid-stream

import { NO_ENTRY } from '../conn/table.js';
import { TcpDir, TcpFlag } from '../conn/tcp-state.js';
import { IpProto } from '../constants.js';
import { Fwd } from '../dest/dest.js';
import { IpvsCore, Schedule } from '../ipvs/core.js';
import { RulesError } from '../model/errors.js';
import { parseArgs, toRuleCommand } from '../model/grammar.js';
import { parseRules, splitRuleLine } from '../model/save-format.js';
import { ipv4ToString, parseIpv4Address } from '../wire/addr.js';

/** ipvsadm's conn_reuse_mode default: a SYN hitting a TIME_WAIT/CLOSE entry is scheduled anew. */
const CONN_REUSE_MODE = 1;

export class SimulationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulationError';
  }
}

interface Endpoint {
  addr: number;
  port: number;
}

function parseEndpoint(field: string, value: unknown): Endpoint {
  if (typeof value !== 'string') throw new SimulationError(`"${field}" must be a string "A.B.C.D:PORT"`);
  const m = /^([0-9.]+):(\d{1,5})$/.exec(value);
  const addr = m ? parseIpv4Address(m[1]!) : undefined;
  const port = m ? Number(m[2]) : Number.NaN;
  if (addr === undefined || !(port >= 0 && port <= 65535)) {
    throw new SimulationError(`"${field}": '${value}' is not A.B.C.D:PORT`);
  }
  return { addr, port };
}

function parseProto(value: unknown): number {
  if (value === undefined || value === 'tcp') return IpProto.tcp;
  if (value === 'udp') return IpProto.udp;
  throw new SimulationError(`"proto" must be "tcp" or "udp", not ${JSON.stringify(value)}`);
}

function endpointString(addr: number, port: number): string {
  return `${ipv4ToString(addr)}:${port}`;
}

export type SimulationOutput = { dest: string } | { dest: null; reason: string };

export class Simulator {
  readonly core: IpvsCore;
  /** Simulated time in milliseconds since the start. */
  now = 0;

  constructor(rulesText: string) {
    this.core = new IpvsCore({ connCapacity: 1 << 16, ticksPerSecond: 1000, seed: 1 });
    try {
      this.core.applyRules(parseRules(rulesText));
    } catch (err) {
      if (err instanceof RulesError) throw new SimulationError(`rules: ${err.message}`);
      throw err;
    }
  }

  /** Runs one event; returns the line to print for `open`, undefined for the others. Throws SimulationError. */
  handle(event: unknown): SimulationOutput | undefined {
    if (typeof event !== 'object' || event === null || Array.isArray(event)) {
      throw new SimulationError('an event must be a JSON object');
    }
    const e = event as Record<string, unknown>;
    switch (e.op) {
      case 'open':
        return this.open(parseProto(e.proto), parseEndpoint('client', e.client), parseEndpoint('service', e.service));
      case 'close':
        this.close(parseProto(e.proto), parseEndpoint('client', e.client), parseEndpoint('service', e.service));
        return undefined;
      case 'expire':
        this.expire(parseProto(e.proto), parseEndpoint('client', e.client), parseEndpoint('service', e.service));
        return undefined;
      case 'advance':
        this.advance(e.seconds);
        return undefined;
      case 'edit':
        this.edit(e.rule);
        return undefined;
      default:
        throw new SimulationError(`unknown op ${JSON.stringify(e.op)} (open, close, expire, advance, edit)`);
    }
  }

  private open(proto: number, client: Endpoint, service: Endpoint): SimulationOutput {
    const core = this.core;
    const conns = core.conns;
    const svc = core.rules.snapshot.lookup(proto, service.addr, service.port);
    let slot = conns.lookupIn(proto, client.addr, client.port, service.addr, service.port, this.now);
    if (slot !== NO_ENTRY && proto === IpProto.tcp && conns.isNewConnExpected(slot, CONN_REUSE_MODE)) {
      // conn_reuse_mode: the old entry is expired at once and the SYN scheduled as a new connection.
      conns.expireEntry(slot, this.now);
      slot = NO_ENTRY;
    }
    if (slot !== NO_ENTRY) {
      const dest = core.dests.get(conns.destId[slot]!);
      if (dest === undefined || !dest.available) {
        return {
          dest: null,
          reason:
            "the connection's destination was removed; with expire_nodest_conn=0 (the default) its packets are dropped until the entry expires",
        };
      }
      this.packetIn(slot, proto, TcpFlag.syn);
      return { dest: endpointString(conns.daddrOf(slot), conns.dportOf(slot)) };
    }
    if (svc === undefined) return { dest: null, reason: 'no virtual service matches' };
    const verdict = core.schedule(svc, proto, client.addr, client.port, service.addr, service.port, this.now);
    if (verdict === Schedule.noDest) {
      return { dest: null, reason: 'no destination available (all quiesced, overloaded or none defined)' };
    }
    const dest = core.dest!;
    if (verdict === Schedule.created) {
      const s = core.slot;
      this.packetIn(s, proto, TcpFlag.syn);
      if (proto === IpProto.tcp) {
        // The handshake completes: the SYN-ACK passes the director only in NAT mode, then the client's ACK.
        if (dest.fwd === Fwd.masq) conns.tcpTransition(s, TcpDir.output, TcpFlag.syn | TcpFlag.ack, this.now);
        conns.tcpTransition(s, TcpDir.input, TcpFlag.ack, this.now);
      }
      return { dest: endpointString(conns.daddrOf(s), conns.dportOf(s)) };
    }
    return { dest: endpointString(dest.addr, dest.port !== 0 ? dest.port : service.port) };
  }

  private packetIn(slot: number, proto: number, tcpFlags: number): void {
    if (proto === IpProto.tcp) this.core.conns.tcpTransition(slot, TcpDir.input, tcpFlags, this.now);
    else this.core.conns.udpTransition(slot, this.now);
  }

  private find(proto: number, client: Endpoint, service: Endpoint): number {
    const slot = this.core.conns.lookupIn(proto, client.addr, client.port, service.addr, service.port, this.now);
    if (slot === NO_ENTRY) {
      throw new SimulationError(
        `no connection from ${endpointString(client.addr, client.port)} to ${endpointString(service.addr, service.port)}`,
      );
    }
    return slot;
  }

  private close(proto: number, client: Endpoint, service: Endpoint): void {
    const conns = this.core.conns;
    const slot = this.find(proto, client, service);
    if (proto !== IpProto.tcp) return; // UDP has no close; it is inactive all its life and ends by timeout.
    conns.tcpTransition(slot, TcpDir.input, TcpFlag.fin | TcpFlag.ack, this.now);
    // In NAT mode the server's FIN passes the director too (CLOSE_WAIT -> TIME_WAIT); DR/TUN replies bypass it.
    if (conns.fwd[slot] === Fwd.masq) conns.tcpTransition(slot, TcpDir.output, TcpFlag.fin | TcpFlag.ack, this.now);
  }

  private expire(proto: number, client: Endpoint, service: Endpoint): void {
    this.core.conns.expireEntry(this.find(proto, client, service), this.now);
  }

  private advance(seconds: unknown): void {
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
      throw new SimulationError('"seconds" must be a non-negative number');
    }
    this.now += Math.round(seconds * 1000);
    this.core.sweep(this.now, this.core.conns.capacity);
  }

  private edit(rule: unknown): void {
    if (typeof rule !== 'string') throw new SimulationError('"rule" must be an ipvsadm command line');
    try {
      this.core.applyRules(toRuleCommand(parseArgs(splitRuleLine(rule))));
    } catch (err) {
      if (err instanceof RulesError) throw new SimulationError(`rule: ${err.message}`);
      throw err;
    }
  }
}
