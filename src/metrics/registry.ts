// The daemon's state as Prometheus metrics, built with prom-client (the exposition formats are its job, not
// ours). Two families:
// - node_exporter's IPVS names, types, HELP texts and labels (collector/ipvs_linux.go), so dashboards and
//   alerts written for a kernel director read uvs unchanged: node_ipvs_{connections,incoming_packets,
//   outgoing_packets,incoming_bytes,outgoing_bytes}_total are totals over all services (node_exporter reads
//   them from /proc/net/ip_vs_stats), and node_ipvs_backend_{connections_active,connections_inactive,weight}
//   one series per real server, summed over series with the same labels as node_exporter does.
// - uvs's own, `uvs_*`: the `uvs counters` report (drops by reason, frames by verdict, per-interface frames,
//   the fast path's share, the connection and neighbour tables), per-service rates from the estimator, and
//   prom-client's default process metrics (event loop lag, GC pauses, memory).
//
// A scrape must not disturb forwarding, so nothing here walks the connection table: refresh() copies the
// counters the datapath already keeps (typed arrays, the table's own size and overflow counts, each
// destination's ActiveConn/InActConn that the datapath keeps as connections change state) and reads the
// rules snapshot (services and destinations, a few hundred objects at most); each metric's collect() then
// copies from that one reading. Traffic counters go through the rate estimator, as `uvsadm -Ln --stats`
// and /proc/net/ip_vs_stats do: they move at each 2-s estimation and `uvsadm -Z` zeroes them (a counter
// reset to Prometheus).
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { type CountersReport, counterMeanings, countersBalance } from '../control/counters.js';
import type { Stats } from '../dest/stats.js';
import { emptyReadout, type StatsReadout } from '../ipvs/estimator.js';
import { protoName, type RulesSnapshot } from '../model/rules.js';
import { ipv4ToString } from '../wire/addr.js';

/** The live objects a scrape reads; the daemon passes its own (Daemon.counters(), its core, its StatsBook). */
export interface MetricsSources {
  /** What `uvs counters` reports, as it is now. */
  counters(): CountersReport;
  /** The running rules. */
  rules(): RulesSnapshot;
  /** A service's or destination's counters and rates as `uvsadm -Ln --stats/--rate` shows them. */
  readStats(stats: Stats, out: StatsReadout): StatsReadout;
  /** The neighbour (ARP) table's entries and capacity, when the datapath has one. */
  neighbours?(): { readonly size: number; readonly capacity: number };
  /** Control socket requests answered so far, by kind (ControlServer.requests). */
  controlRequests?(): Readonly<Record<string, number>>;
}

export interface MetricsOptions {
  /** prom-client's process and Node.js metrics (default true); tests of exact output turn them off. */
  readonly defaultMetrics?: boolean;
}

export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
export const OPENMETRICS_CONTENT_TYPE = Registry.OPENMETRICS_CONTENT_TYPE;
type ContentType = typeof PROMETHEUS_CONTENT_TYPE | typeof OPENMETRICS_CONTENT_TYPE;

/** Whether an HTTP Accept header asks for OpenMetrics (as Prometheus does when it may have it). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && /application\/openmetrics-text/i.test(accept);
}

const BACKEND_LABELS = ['local_address', 'local_port', 'remote_address', 'remote_port', 'proto', 'local_mark'] as const;
const SERVICE_LABELS = ['local_address', 'local_port', 'proto'] as const;
type BackendLabels = Record<(typeof BACKEND_LABELS)[number], string>;
type ServiceLabels = Record<(typeof SERVICE_LABELS)[number], string>;

interface BackendReading {
  labels: BackendLabels;
  active: number;
  inactive: number;
  weight: number;
}

/** One scrape's reading of the sources; every metric's collect() copies from it. */
class Reading {
  report!: CountersReport;
  neighbours: { size: number; capacity: number } | undefined;
  controlRequests: Readonly<Record<string, number>> | undefined;
  totals = emptyReadout();
  services: { labels: ServiceLabels; readout: StatsReadout }[] = [];
  backends: BackendReading[] = [];

  constructor(private readonly sources: MetricsSources) {}

  refresh(): void {
    const src = this.sources;
    this.report = src.counters();
    this.neighbours = src.neighbours?.();
    this.controlRequests = src.controlRequests?.();
    const totals = emptyReadout();
    const services: typeof this.services = [];
    const backends = new Map<string, BackendReading>();
    for (const svc of src.rules().services) {
      const service: ServiceLabels = {
        local_address: ipv4ToString(svc.addr),
        local_port: String(svc.port),
        proto: protoName(svc.proto),
      };
      const readout = src.readStats(svc.stats, emptyReadout());
      services.push({ labels: service, readout });
      totals.conns += readout.conns;
      totals.inPkts += readout.inPkts;
      totals.outPkts += readout.outPkts;
      totals.inBytes += readout.inBytes;
      totals.outBytes += readout.outBytes;
      for (const d of svc.dests) {
        // uvs has no firewall-mark services, so local_mark is always empty, as node_exporter leaves it then.
        const labels: BackendLabels = {
          ...service,
          remote_address: ipv4ToString(d.addr),
          remote_port: String(d.port),
          local_mark: '',
        };
        const key = BACKEND_LABELS.map((l) => labels[l]).join('-');
        const sum = backends.get(key) ?? { labels, active: 0, inactive: 0, weight: 0 };
        sum.active += d.activeConns;
        sum.inactive += d.inactConns;
        sum.weight += d.weight;
        backends.set(key, sum);
      }
    }
    this.totals = totals;
    this.services = services;
    this.backends = [...backends.values()];
  }
}

/** fastPath -> fast_path */
function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * The exposition of one daemon: `render()` reads the sources once and formats every metric. A registry per
 * content type, each built at its first use: prom-client renames a counter in place when it formats
 * OpenMetrics, so one metric object cannot serve both formats.
 */
export class MetricsExposition {
  private readonly reading: Reading;
  private readonly registries = new Map<ContentType, Registry<ContentType>>();

  constructor(
    sources: MetricsSources,
    private readonly options: MetricsOptions = {},
  ) {
    this.reading = new Reading(sources);
  }

  /** The metrics as text in the format asked for (Prometheus text unless OpenMetrics), and its content type. */
  async render(openMetrics = false): Promise<{ contentType: ContentType; text: string }> {
    const contentType = openMetrics ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE;
    this.reading.refresh();
    let registry = this.registries.get(contentType);
    if (registry === undefined) {
      registry = this.build(contentType);
      this.registries.set(contentType, registry);
    }
    return { contentType, text: await registry.metrics() };
  }

  private build(contentType: ContentType): Registry<ContentType> {
    // prom-client's typings omit the constructor's content type argument.
    const registry = new Registry<ContentType>();
    registry.setContentType(contentType);
    const r = this.reading;
    const registers = [registry];

    // Each collect() starts from nothing, so a series whose service, reason or interface is gone disappears.
    function labelled<L extends string>(
      type: 'counter' | 'gauge',
      name: string,
      help: string,
      labelNames: readonly L[],
      values: () => Iterable<[Record<L, string>, number]>,
    ): void {
      const config = { name, help, labelNames, registers };
      if (type === 'gauge') {
        new Gauge({
          ...config,
          collect() {
            this.reset();
            for (const [labels, n] of values()) this.set(labels, n);
          },
        });
      } else {
        new Counter({
          ...config,
          collect() {
            this.reset();
            for (const [labels, n] of values()) this.inc(labels, n);
          },
        });
      }
    }
    const labelledCounter = <L extends string>(
      ...a: [string, string, readonly L[], () => Iterable<[Record<L, string>, number]>]
    ) => labelled('counter', ...a);
    const labelledGauge = <L extends string>(
      ...a: [string, string, readonly L[], () => Iterable<[Record<L, string>, number]>]
    ) => labelled('gauge', ...a);
    const counter = (name: string, help: string, value: () => number) =>
      labelled('counter', name, help, [], () => [[{}, value()]]);
    const gauge = (name: string, help: string, value: () => number) =>
      labelled('gauge', name, help, [], () => [[{}, value()]]);

    // node_exporter's IPVS collector, name for name and HELP for HELP.
    counter('node_ipvs_connections_total', 'The total number of connections made.', () => r.totals.conns);
    counter('node_ipvs_incoming_packets_total', 'The total number of incoming packets.', () => r.totals.inPkts);
    counter('node_ipvs_outgoing_packets_total', 'The total number of outgoing packets.', () => r.totals.outPkts);
    counter('node_ipvs_incoming_bytes_total', 'The total amount of incoming data.', () => r.totals.inBytes);
    counter('node_ipvs_outgoing_bytes_total', 'The total amount of outgoing data.', () => r.totals.outBytes);
    const backend = (name: string, help: string, pick: (b: BackendReading) => number) =>
      labelledGauge(name, help, BACKEND_LABELS, () => r.backends.map((b) => [b.labels, pick(b)]));
    backend(
      'node_ipvs_backend_connections_active',
      'The current active connections by local and remote address.',
      (b) => b.active,
    );
    backend(
      'node_ipvs_backend_connections_inactive',
      'The current inactive connections by local and remote address.',
      (b) => b.inactive,
    );
    backend('node_ipvs_backend_weight', 'The current backend weight by local and remote address.', (b) => b.weight);

    // The rate estimator's per-service rates, as `uvsadm -Ln --rate` prints them (2-s estimation, smoothed).
    const rate = (name: string, help: string, pick: (s: StatsReadout) => number) =>
      labelledGauge(name, help, SERVICE_LABELS, () => r.services.map((s) => [s.labels, pick(s.readout)]));
    rate('uvs_service_connections_per_second', 'New connections per second (CPS) of a virtual service.', (s) => s.cps);
    rate(
      'uvs_service_incoming_packets_per_second',
      'Incoming packets per second of a virtual service.',
      (s) => s.inPps,
    );
    rate(
      'uvs_service_outgoing_packets_per_second',
      'Outgoing packets per second of a virtual service.',
      (s) => s.outPps,
    );
    rate('uvs_service_incoming_bytes_per_second', 'Incoming bytes per second of a virtual service.', (s) => s.inBps);
    rate('uvs_service_outgoing_bytes_per_second', 'Outgoing bytes per second of a virtual service.', (s) => s.outBps);

    // The `uvs counters` report.
    labelledCounter('uvs_drops_total', 'Frames dropped, by reason (see `uvs counters`).', ['reason'], () =>
      Object.entries(r.report.drops).map(([reason, n]) => [{ reason }, n]),
    );
    labelledCounter(
      'uvs_received_frames_total',
      'Received frames by what became of them: forwarded, answered, queued for ARP, consumed or dropped.',
      ['verdict'],
      () => Object.entries(countersBalance(r.report).received.parts).map(([verdict, n]) => [{ verdict }, n]),
    );
    for (const name of Object.keys(r.report.datapath)) {
      const meaning = counterMeanings[name] ?? `the datapath's ${name} counter`;
      counter(`uvs_datapath_${snakeCase(name)}_total`, `Datapath: ${meaning}.`, () => r.report.datapath[name] ?? 0);
    }
    const perInterface = (name: string, help: string, pick: (p: CountersReport['ports'][number]) => number) =>
      labelledCounter(name, help, ['interface'], () => r.report.ports.map((p) => [{ interface: p.ifname }, pick(p)]));
    perInterface('uvs_interface_rx_frames_total', 'Frames received on an interface.', (p) => p.rx);
    perInterface('uvs_interface_tx_frames_total', 'Frames an interface port handed to the kernel.', (p) => p.tx);
    perInterface(
      'uvs_interface_tx_dropped_frames_total',
      'Frames an interface port could not send (queue full or refused).',
      (p) => p.txDropped,
    );
    perInterface(
      'uvs_interface_tx_dropped_queue_full_frames_total',
      'Of the frames a port could not send, those lost to a full send buffer or device queue.',
      (p) => p.txDroppedQueueFull,
    );
    gauge('uvs_fast_path_enabled', 'Whether the native fast path is in use (1) or not (0).', () =>
      r.report.fastPath.enabled ? 1 : 0,
    );
    gauge(
      'uvs_fast_path_share',
      'Share of received frames the native fast path forwarded (0 before the first frame).',
      () => r.report.fastPath.share ?? 0,
    );
    const conns = () => r.report.connections;
    gauge('uvs_connection_table_entries', 'Live connection entries, templates included.', () => conns().size);
    gauge('uvs_connection_table_capacity', 'Connection entries the table can hold.', () => conns().capacity);
    counter(
      'uvs_connection_table_overflows_total',
      'New connections refused an entry because the table was full (their packets went untracked).',
      () => conns().overflows,
    );
    counter('uvs_connection_table_expired_total', 'Connection entries removed on expiry.', () => conns().expired);
    counter(
      'uvs_connection_table_reclaimed_total',
      'Embryonic entries a full table evicted to admit new connections.',
      () => conns().reclaimed,
    );
    counter(
      'uvs_connection_table_dropped_total',
      'Embryonic entries removed by the drop_entry defense.',
      () => conns().dropped,
    );
    gauge(
      'uvs_neighbour_waiting_packets',
      'Packets waiting for ARP to resolve their next hop.',
      () => r.report.neighbourWaiting,
    );
    if (r.neighbours !== undefined) {
      gauge('uvs_neighbour_table_entries', 'Neighbour (ARP) table entries.', () => r.neighbours?.size ?? 0);
      gauge('uvs_neighbour_table_capacity', 'Neighbour (ARP) table capacity.', () => r.neighbours?.capacity ?? 0);
    }
    gauge(
      'uvs_disabled_rules',
      'Rules given no traffic because they cannot work on this director (see `uvs counters`).',
      () => r.report.disabledRules.length,
    );
    if (r.controlRequests !== undefined) {
      labelledCounter(
        'uvs_control_requests_total',
        'Control socket requests: uvsadm commands, queries (uvs counters), and requests refused as malformed.',
        ['kind'],
        () => Object.entries(r.controlRequests ?? {}).map(([kind, n]) => [{ kind }, n]),
      );
    }
    gauge('uvs_uptime_seconds', 'Seconds since the daemon started counting.', () => r.report.uptimeSeconds);

    if (this.options.defaultMetrics ?? true) collectDefaultMetrics<ContentType>({ register: registry });
    return registry;
  }
}
