// `uvs replay --config CFG --rules RULES --in IN.pcap --out OUT.pcap`: every frame of a capture (pcap or
// pcapng, src/io/capture.ts) through the
// datapath, offline. Every frame the datapath would send is written, in order, with the timestamp of the
// frame that caused it; the capture's timestamps drive the clock, so connection and ARP timeouts behave as
// they would have live. Neighbours come from the configuration's static entries or are learned from the ARP
// frames in the capture. Ends with counts and a per-reason drop summary.
//
// A pcap capture has no interface numbers, so each frame's ingress interface is inferred: the interface whose
// MAC the frame is sent to; for broadcasts and foreign MACs, the interface on whose link the sender's address
// is (ARP sender or IPv4 source), else the interface of the route back to the sender, else the first one.
// A pcapng capture numbers its interfaces, but they are the capturing host's (its names and numbering need
// not be the director's), so its frames are inferred the same way, from every interface, and a capture of
// several interfaces is said to be read so.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, type DirectorConfig, loadConfig } from '../config/director.js';
import { EtherType } from '../constants.js';
import { Datapath } from '../datapath/datapath.js';
import { FrameBatch, FrameFlag } from '../io/batch.js';
import { openCapture } from '../io/capture.js';
import { type CaptureReader, PcapError, PcapWriter } from '../io/pcap.js';
import { IpvsCore } from '../ipvs/core.js';
import { RulesError } from '../model/errors.js';
import { parseRules } from '../model/save-format.js';
import { readIpv4, readMac } from '../wire/addr.js';
import { read16 } from '../wire/bytes.js';

export const REPLAY_USAGE = `Usage: uvs replay --config CFG [--rules RULES] --in IN.pcap --out OUT.pcap

Runs every frame of IN.pcap (Ethernet; pcap as tcpdump writes it, or pcapng as Wireshark and dumpcap do)
through the datapath as configured by CFG (the director's YAML configuration) with RULES (ipvsadm-save
format; default: the config's rules:) and writes every frame the datapath sends to OUT.pcap (pcap).
Prints the counters and the drops by reason at the end. Each frame's ingress interface is inferred from
its addresses; a pcapng capture of several interfaces is read whole, the frames of all of them in order.
`;

const NS_PER_MS = 1_000_000;

export async function replayMain(
  args: string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  let values: { config?: string; rules?: string; in?: string; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string' },
        rules: { type: 'string' },
        in: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    err.write(`uvs replay: ${(e as Error).message}\n${REPLAY_USAGE}`);
    return 2;
  }
  if (values.help) {
    out.write(REPLAY_USAGE);
    return 0;
  }
  for (const required of ['config', 'in', 'out'] as const) {
    if (values[required] === undefined) {
      err.write(`uvs replay: --${required} is required\n${REPLAY_USAGE}`);
      return 2;
    }
  }
  let config: DirectorConfig;
  try {
    config = loadConfig(values.config!);
  } catch (e) {
    if (e instanceof ConfigError) {
      err.write(`uvs replay: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const core = new IpvsCore({ connCapacity: config.conn.capacity, ticksPerSecond: 1000 });
  const rulesPath = values.rules ?? config.rules;
  if (rulesPath !== null) {
    try {
      core.applyRules(parseRules(readFileSync(rulesPath, 'utf8')));
    } catch (e) {
      if (e instanceof RulesError || (e as NodeJS.ErrnoException).code !== undefined) {
        err.write(`uvs replay: ${rulesPath}: ${(e as Error).message}\n`);
        return 1;
      }
      throw e;
    }
  }
  const datapath = new Datapath(config, core);
  const check = datapath.checkRules();
  for (const w of check.warnings) err.write(`uvs replay: warning: ${w}\n`);
  if (check.errors.length > 0) {
    for (const e of check.errors) err.write(`uvs replay: ${e}\n`);
    return 1;
  }

  let reader: CaptureReader;
  let writer: PcapWriter;
  try {
    reader = openCapture(values.in!);
  } catch (e) {
    if (e instanceof PcapError) {
      err.write(`uvs replay: ${values.in}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  try {
    writer = PcapWriter.open(values.out!, { nanosecond: reader.nanosecond });
  } catch (e) {
    reader.close();
    if (e instanceof PcapError) {
      err.write(`uvs replay: ${values.out}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }

  const rx = new FrameBatch(1);
  const tx = new FrameBatch(64);
  let frames = 0;
  let tooLarge = 0;
  try {
    for (const rec of reader) {
      frames++;
      const now = rec.tsSec * 1000 + rec.tsFrac / NS_PER_MS;
      if (!rx.setFrame(0, rec.buf.subarray(rec.off, rec.off + rec.capLen))) {
        tooLarge++;
        continue;
      }
      rx.ifindex[0] = ingressOf(config, rec.buf, rec.off, rec.capLen);
      rx.flags[0] = rec.capLen < rec.origLen ? FrameFlag.truncated : 0;
      rx.count = 1;
      tx.count = 0;
      datapath.processBatch(rx, tx, now);
      for (let j = 0; j < tx.count; j++) {
        writer.writeFrame(tx.bytes, tx.offset[j]!, tx.length[j]!, rec.tsSec, rec.tsFrac);
      }
    }
  } catch (e) {
    if (e instanceof PcapError) {
      err.write(`uvs replay: ${values.in}: ${e.message}\n`);
      writer.close();
      return 1;
    }
    throw e;
  } finally {
    reader.close();
  }
  writer.close();
  const note = severalInterfacesNote(values.in!, reader);
  if (note !== null) err.write(`uvs replay: ${note}\n`);

  const c = datapath.counters;
  out.write(
    `${frames} frames in, ${writer.packets} frames out: ${c.forwardedIn} forwarded to real servers, ` +
      `${c.forwardedOut} NAT replies, ${c.arpReplies} ARP replies, ${c.echoReplies} echo replies, ` +
      `${c.icmpErrorsSent} ICMP errors, ${c.arpRequests} ARP requests, ${c.queued} held for ARP ` +
      `(${c.released} released, ${datapath.neigh.queued} still waiting)\n`,
  );
  const drops = Object.entries(datapath.dropSummary());
  if (tooLarge > 0) drops.push(['frameTooLarge', tooLarge]);
  if (drops.length === 0) {
    out.write('drops: none\n');
  } else {
    out.write('drops:\n');
    const width = Math.max(...drops.map(([name]) => name.length));
    for (const [name, n] of drops) out.write(`  ${name.padEnd(width)}  ${n}\n`);
  }
  return 0;
}

/**
 * What `uvs replay` and `uvs trace` say of a capture with more than one interface (pcapng): that frames of
 * all were read, and how their ingress was found. Null for one interface.
 */
export function severalInterfacesNote(path: string, reader: CaptureReader): string | null {
  const ifaces = reader.interfaces;
  if (ifaces.length <= 1) return null;
  const names = ifaces.map((i) => i.name ?? `#${i.id}`).join(', ');
  return (
    `note: ${path} has ${ifaces.length} capture interfaces (${names}); the frames of all of them were read, ` +
    "in file order, each one's ingress inferred from its addresses, not from the capture's interface"
  );
}

/** The ifindex (1-based position in the configuration, as the Datapath numbers them) a frame came in on. */
export function ingressOf(config: DirectorConfig, buf: Uint8Array, off: number, len: number): number {
  const ifaces = config.interfaces;
  if (len >= 14) {
    const dst = readMac(buf, off);
    for (let i = 0; i < ifaces.length; i++) if (ifaces[i]!.mac === dst) return i + 1;
    const type = read16(buf, off + 12);
    let sender = -1;
    if (type === EtherType.arp && len >= 14 + 28) sender = readIpv4(buf, off + 14 + 14);
    else if (type === EtherType.ipv4 && len >= 14 + 20) sender = readIpv4(buf, off + 14 + 12);
    if (sender >= 0) {
      for (let i = 0; i < ifaces.length; i++) {
        if (ifaces[i]!.addresses.some((a) => (sender & a.mask) >>> 0 === a.network)) return i + 1;
      }
      let via = -1;
      let best = -1;
      for (const r of config.routes) {
        if ((sender & r.mask) >>> 0 === r.network && r.prefixLen > best) {
          best = r.prefixLen;
          via = r.via;
        }
      }
      for (let i = 0; via >= 0 && i < ifaces.length; i++) {
        if (ifaces[i]!.addresses.some((a) => (via & a.mask) >>> 0 === a.network)) return i + 1;
      }
    }
  }
  return 1;
}
