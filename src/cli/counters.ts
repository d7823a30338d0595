// `uvs counters [--socket PATH] [--json | --prometheus]`: asks the running daemon, over its control socket, what its datapath
// has counted (src/control/counters.ts) and prints it for an operator: the datapath's counters, the drops by
// reason with what each means, each interface's frames, the native fast path's share and the connection
// table's use. --json prints the daemon's report as one JSON object instead; --prometheus prints the daemon's
// Prometheus exposition, the text its /metrics endpoint serves (src/metrics/), for node_exporter's textfile
// collector.
//
// This lives in `uvs`, not `uvsadm`: uvsadm stays ipvsadm's command line and nothing more.
import { parseArgs } from 'node:util';
import {
  DaemonUnavailableError,
  resolveSocketPath,
  type SendOptions,
  sendQuery,
  unavailableMessage,
} from '../control/client.js';
import {
  asCountersReport,
  type Balance,
  type CountersReport,
  counterMeanings,
  countersBalance,
} from '../control/counters.js';
import { dropSentences } from '../trace/explain.js';

const PROGRAM = 'uvs counters';

export const COUNTERS_USAGE = `Usage: uvs counters [--socket PATH] [--json | --prometheus]

Asks the running uvs daemon for its counters and prints them: frames received, forwarded and answered,
drops by reason (with what each reason means), each interface's frames, the share the native fast path
took, the connection table's use, and the rules that cannot work on this director (disabled, with the
reason). All counts are since the daemon started. --json prints them as one JSON object. --prometheus
prints the Prometheus text of the daemon's metrics (node_ipvs_*, uvs_*), as its /metrics endpoint serves it,
for node_exporter's textfile collector. The socket is --socket PATH, else $UVS_SOCKET, else the default (as for uvsadm).
`;

export interface CountersEnvironment {
  /** UVS_SOCKET. */
  readonly socketEnv?: string | undefined;
  readonly send?: SendOptions;
}

export async function countersMain(
  args: string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
  env: CountersEnvironment = { socketEnv: process.env.UVS_SOCKET },
): Promise<number> {
  let values: { socket?: string; json?: boolean; prometheus?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        socket: { type: 'string' },
        json: { type: 'boolean' },
        prometheus: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    err.write(`${PROGRAM}: ${(e as Error).message}\n${COUNTERS_USAGE}`);
    return 2;
  }
  if (values.help) {
    out.write(COUNTERS_USAGE);
    return 0;
  }
  if (values.json && values.prometheus) {
    err.write(`${PROGRAM}: --json and --prometheus are two formats; choose one\n${COUNTERS_USAGE}`);
    return 2;
  }
  const socketPath = resolveSocketPath(values.socket, env.socketEnv);
  const query = values.prometheus ? 'metrics' : 'counters';
  let answer: Awaited<ReturnType<typeof sendQuery>>;
  try {
    answer = await sendQuery(socketPath, { query }, env.send);
  } catch (e) {
    if (!(e instanceof DaemonUnavailableError)) throw e;
    err.write(unavailableMessage(PROGRAM, e));
    return 2;
  }
  if (answer.exitCode !== 0) {
    err.write(answer.stderr);
    // A daemon from before queries existed takes the query for a malformed command.
    if (answer.stderr.includes('malformed control request') || answer.stderr.includes('unknown control query')) {
      err.write(`${PROGRAM}: the daemon on ${socketPath} does not answer ${query} queries; restart it with this uvs\n`);
    }
    return answer.exitCode;
  }
  if (values.prometheus) {
    out.write(answer.stdout);
    return 0;
  }
  let report: CountersReport | undefined;
  try {
    report = asCountersReport(JSON.parse(answer.stdout));
  } catch {
    report = undefined;
  }
  if (report === undefined) {
    err.write(`${PROGRAM}: malformed answer from ${socketPath}\n`);
    return 2;
  }
  out.write(values.json ? `${JSON.stringify(report)}\n` : formatCounters(report));
  return 0;
}

/** The report as an operator reads it. */
export function formatCounters(r: CountersReport): string {
  const lines: string[] = [`uvs daemon counters, over ${formatDuration(r.uptimeSeconds)}`];

  lines.push('datapath:');
  const counters = Object.entries(r.datapath);
  const nameWidth = Math.max(...counters.map(([name]) => name.length));
  const countWidth = Math.max(...counters.map(([, n]) => String(n).length));
  for (const [name, n] of counters) {
    const meaning = counterMeanings[name];
    lines.push(`  ${name.padEnd(nameWidth)}  ${String(n).padStart(countWidth)}${meaning ? `  ${meaning}` : ''}`);
  }

  const rx = r.datapath.rx ?? 0;
  const fast = r.datapath.fastPath ?? 0;
  if (!r.fastPath.enabled) {
    lines.push('fast path: off (the native addon is not in use); every frame took the JavaScript datapath');
  } else if (r.fastPath.share === null) {
    lines.push('fast path: on, no frames received yet');
  } else {
    lines.push(`fast path: on, took ${formatShare(r.fastPath.share)} of received frames (${fast} of ${rx})`);
  }

  const drops = Object.entries(r.drops);
  if (drops.length === 0) {
    lines.push('drops: none');
  } else {
    const total = drops.reduce((sum, [, n]) => sum + n, 0);
    lines.push(`drops: ${total} frames, ${drops.length} ${drops.length === 1 ? 'reason' : 'reasons'}`);
    const width = Math.max(...drops.map(([name]) => name.length));
    const numWidth = Math.max(...drops.map(([, n]) => String(n).length));
    for (const [name, n] of drops) {
      const meaning = dropSentences[name];
      lines.push(`  ${name.padEnd(width)}  ${String(n).padStart(numWidth)}${meaning ? `  ${meaning}` : ''}`);
    }
  }

  if (r.ports.length > 0) {
    lines.push('interfaces (tx is counted on the port that sent, whatever interface the frame left by):');
    const rows = [
      ['interface', 'rx', 'tx', 'txDropped', 'queueFull', 'refused'],
      ...r.ports.map((p) => [
        p.ifname,
        String(p.rx),
        String(p.tx),
        String(p.txDropped),
        String(p.txDroppedQueueFull),
        String(p.txDropped - p.txDroppedQueueFull),
      ]),
    ];
    const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
    for (const row of rows) {
      lines.push(
        `  ${row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join('  ')}`,
      );
    }
  }

  lines.push('balance (every frame accounted for once):');
  const b = countersBalance(r);
  lines.push(`  ${formatBalance('received', b.received)}`);
  lines.push(`  ${formatBalance('queued', b.queued)}`);
  lines.push(`  ${formatBalance('sent', b.sent)}`);

  const c = r.connections;
  lines.push(
    `connections: ${c.size} of ${c.capacity} entries in use (${formatShare(c.capacity > 0 ? c.size / c.capacity : 0)}), ` +
      `${c.overflows} refused because the table was full, ${c.expired} expired, ` +
      `${c.reclaimed} embryonic evicted for new connections, ${c.dropped} dropped by drop_entry`,
  );
  lines.push(`waiting for ARP: ${r.neighbourWaiting} ${r.neighbourWaiting === 1 ? 'packet' : 'packets'}`);
  if (r.disabledRules.length === 0) {
    lines.push('disabled rules: none');
  } else {
    lines.push(
      `disabled rules: ${r.disabledRules.length}, kept in the rules (uvsadm -Ln, -S) but given no traffic, as they cannot work on this director:`,
    );
    for (const d of r.disabledRules) lines.push(`  ${d.rule}: ${d.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

/** "received 10 = forwarded 6 + dropped 4", and what is left over when it does not add up. */
function formatBalance(name: string, b: Balance): string {
  const parts = Object.entries(b.parts).map(([part, n]) => `${part} ${n}`);
  const sum = `${name} ${b.total} = ${parts.join(' + ')}`;
  return b.unaccounted === 0 ? sum : `${sum}  (does not add up: ${b.unaccounted} unaccounted)`;
}

function formatShare(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

/** 3725.4 -> "1h 02m 05s"; under a minute "42s". */
export function formatDuration(seconds: number): string {
  const total = Math.floor(seconds);
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d ${two(h)}h ${two(m)}m ${two(s)}s`;
  if (h > 0) return `${h}h ${two(m)}m ${two(s)}s`;
  if (m > 0) return `${m}m ${two(s)}s`;
  return `${s}s`;
}
