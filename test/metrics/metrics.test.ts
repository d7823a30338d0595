// The metrics exposition against a known traffic run through an in-memory datapath: every node_ipvs_* and
// uvs_* value equals what was sent, and promtool (the parser Prometheus ships) accepts the text.
import { describe, expect, it } from 'vitest';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { countersReport } from '../../src/control/counters.js';
import { StatsBook } from '../../src/control/stats-book.js';
import type { Datapath } from '../../src/datapath/datapath.js';
import { EstimatorSet } from '../../src/ipvs/estimator.js';
import {
  MetricsExposition,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  wantsOpenMetrics,
} from '../../src/metrics/registry.js';
import { CIP, CLIENT_MAC, ETH0_MAC, ETH1_MAC, makeDatapath, RS1, RS1_MAC, run, VIP } from '../datapath/helpers.js';
import { clientSyn, RULES, tcpFrame } from '../trace/helpers.js';
import { HAVE_OPENMETRICS_PARSER, HAVE_PROMTOOL, parseOpenMetrics, promtoolCheck, sampleValue } from './helpers.js';

const NAT_CONNECTIONS = 40;
const DR_CONNECTIONS = 2;
const ETHERNET_HEADER = 14;

/** What the run sent, counted here from the frames themselves. */
interface Sent {
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
  frames: number;
}

/**
 * 40 NAT connections to :80 (one real server), 2 DR connections to :81, one SYN-ACK back from the NAT real
 * server, a SYN to a port with no service and an ACK of no connection; all at t = 1 s.
 */
function traffic(dp: Datapath): Sent {
  const sent: Sent = { inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0, frames: 0 };
  const toService = (frame: Uint8Array) => {
    run(dp, frame, 1, 1000);
    sent.inPkts++;
    sent.inBytes += frame.length - ETHERNET_HEADER;
    sent.frames++;
  };
  for (let k = 0; k < NAT_CONNECTIONS; k++) toService(clientSyn(2000 + k, 80));
  for (let k = 0; k < DR_CONNECTIONS; k++) toService(clientSyn(3000 + k, 81));
  const reply = tcpFrame(RS1_MAC, ETH1_MAC, RS1, CIP, 8080, 2000, TcpFlag.syn | TcpFlag.ack);
  run(dp, reply, 2, 1000);
  sent.outPkts++;
  sent.outBytes += reply.length - ETHERNET_HEADER;
  sent.frames++;
  run(dp, clientSyn(4000, 99), 1, 1000);
  run(dp, tcpFrame(CLIENT_MAC, ETH0_MAC, CIP, VIP, 4001, 80, TcpFlag.ack), 1, 1000);
  sent.frames += 2;
  return sent;
}

function exposition(dp: Datapath, book: StatsBook, defaultMetrics = false): MetricsExposition {
  return new MetricsExposition(
    {
      counters: () =>
        countersReport({
          datapath: dp,
          conns: dp.core.conns,
          ports: [{ ifname: 'eth0', rx: 45, tx: 43, txDropped: 2, txDroppedQueueFull: 1 }],
          uptimeSeconds: 3,
        }),
      rules: () => dp.core.rules.snapshot,
      readStats: (stats, out) => book.read(stats, out),
      neighbours: () => dp.neigh,
    },
    { defaultMetrics },
  );
}

function lab() {
  const dp = makeDatapath(RULES);
  const estimators = new EstimatorSet(0);
  const book = new StatsBook(estimators);
  book.sync(dp.core.rules.snapshot);
  const sent = traffic(dp);
  // The first 2-s estimation: counters are read through it, as `uvsadm -Ln --stats` reads them.
  estimators.tick(2000);
  return { dp, book, sent };
}

const svc80 = { local_address: '192.168.1.231', local_port: '80', proto: 'TCP' };
const svc81 = { local_address: '192.168.1.231', local_port: '81', proto: 'TCP' };
const backend80 = { ...svc80, remote_address: '192.168.2.11', remote_port: '8080', local_mark: '' };
const backend81 = { ...svc81, remote_address: '192.168.2.12', remote_port: '81', local_mark: '' };
const backend82 = {
  local_address: '192.168.1.231',
  local_port: '82',
  proto: 'TCP',
  remote_address: '192.168.2.11',
  remote_port: '82',
  local_mark: '',
};

describe('metrics exposition', () => {
  it("carries node_exporter's IPVS totals and per-backend gauges, equal to the traffic sent", async () => {
    const { dp, book, sent } = lab();
    const { contentType, text } = await exposition(dp, book).render();
    expect(contentType).toBe(PROMETHEUS_CONTENT_TYPE);
    const v = (name: string, labels?: Record<string, string>) => sampleValue(text, name, labels);
    expect(v('node_ipvs_connections_total')).toBe(NAT_CONNECTIONS + DR_CONNECTIONS);
    expect(v('node_ipvs_incoming_packets_total')).toBe(sent.inPkts);
    expect(v('node_ipvs_outgoing_packets_total')).toBe(sent.outPkts);
    expect(v('node_ipvs_incoming_bytes_total')).toBe(sent.inBytes);
    expect(v('node_ipvs_outgoing_bytes_total')).toBe(sent.outBytes);
    expect(text).toContain('# HELP node_ipvs_connections_total The total number of connections made.\n');
    expect(text).toContain('# TYPE node_ipvs_connections_total counter\n');
    expect(text).toContain('# TYPE node_ipvs_backend_connections_active gauge\n');
    // Every connection is still in SYN_RECV, which IPVS counts as active.
    expect(v('node_ipvs_backend_connections_active', backend80)).toBe(NAT_CONNECTIONS);
    expect(v('node_ipvs_backend_connections_active', backend81)).toBe(DR_CONNECTIONS);
    expect(v('node_ipvs_backend_connections_active', backend82)).toBe(0);
    expect(v('node_ipvs_backend_connections_inactive', backend80)).toBe(0);
    expect(v('node_ipvs_backend_weight', backend80)).toBe(1);
  });

  it("carries uvs's own counters: drops by reason, frames by verdict, interfaces, tables, rates", async () => {
    const { dp, book, sent } = lab();
    const { text } = await exposition(dp, book).render();
    const v = (name: string, labels?: Record<string, string>) => sampleValue(text, name, labels);
    expect(v('uvs_datapath_rx_total')).toBe(sent.frames);
    expect(v('uvs_datapath_forwarded_in_total')).toBe(NAT_CONNECTIONS + DR_CONNECTIONS);
    expect(v('uvs_datapath_forwarded_out_total')).toBe(1);
    expect(v('uvs_drops_total', { reason: 'noService' })).toBe(1);
    expect(v('uvs_drops_total', { reason: 'tcpNoConn' })).toBe(1);
    expect(v('uvs_received_frames_total', { verdict: 'forwarded' })).toBe(sent.inPkts + sent.outPkts);
    expect(v('uvs_received_frames_total', { verdict: 'dropped' })).toBe(2);
    expect(v('uvs_interface_rx_frames_total', { interface: 'eth0' })).toBe(45);
    expect(v('uvs_interface_tx_dropped_frames_total', { interface: 'eth0' })).toBe(2);
    expect(v('uvs_interface_tx_dropped_queue_full_frames_total', { interface: 'eth0' })).toBe(1);
    expect(v('uvs_connection_table_entries')).toBe(NAT_CONNECTIONS + DR_CONNECTIONS);
    expect(v('uvs_connection_table_capacity')).toBe(1024);
    expect(v('uvs_connection_table_overflows_total')).toBe(0);
    expect(v('uvs_fast_path_enabled')).toBe(dp.fastPathEnabled ? 1 : 0);
    expect(v('uvs_fast_path_share')).toBe(dp.counters.fastPath / sent.frames);
    expect(v('uvs_neighbour_table_entries')).toBe(dp.neigh.size);
    // One 2-s estimation with N new connections: avg = N*512/4, shown as (avg + 511) >> 10 (ip_vs_est.c).
    const cps = (n: number) => Math.floor((Math.floor((n * 512) / 4) + 0x1ff) / 1024);
    expect(cps(NAT_CONNECTIONS)).toBeGreaterThan(0);
    expect(v('uvs_service_connections_per_second', svc80)).toBe(cps(NAT_CONNECTIONS));
    expect(v('uvs_service_connections_per_second', svc81)).toBe(cps(DR_CONNECTIONS));
  });

  it('reads counters once a scrape, so a later scrape sees later traffic and a removed service is gone', async () => {
    const { dp, book } = lab();
    const metrics = exposition(dp, book);
    const before = await metrics.render();
    run(dp, clientSyn(5000, 99), 1, 1500);
    dp.core.applyRules([{ command: { kind: 'delete-service', svc: { proto: 6, addr: VIP, port: 82 } } }]);
    const after = await metrics.render();
    expect(sampleValue(after.text, 'uvs_drops_total', { reason: 'noService' })).toBe(
      sampleValue(before.text, 'uvs_drops_total', { reason: 'noService' })! + 1,
    );
    expect(sampleValue(before.text, 'node_ipvs_backend_weight', backend82)).toBe(1);
    expect(sampleValue(after.text, 'node_ipvs_backend_weight', backend82)).toBeUndefined();
  });

  it.skipIf(!HAVE_PROMTOOL)('passes promtool check metrics: parsed and lint-clean', async () => {
    // (Skipped only where promtool is missing: Debian's prometheus package provides it; .ci/run installs it.)
    const { dp, book } = lab();
    const check = promtoolCheck((await exposition(dp, book).render()).text);
    expect(check.output).toBe('');
    expect(check.status).toBe(0);
  });

  it.skipIf(!HAVE_PROMTOOL)(
    "parses with prom-client's default metrics, whose only lint is their own names",
    async () => {
      // (Skipped only where promtool is missing, as above.)
      const { dp, book } = lab();
      const { text } = await exposition(dp, book, true).render();
      expect(text).toContain('nodejs_eventloop_lag_seconds');
      expect(text).toContain('nodejs_gc_duration_seconds');
      const problems = promtoolCheck(text)
        .output.split('\n')
        .filter((line) => line !== '');
      // prom-client names three gauges nodejs_active_*_total; a parse error would read "error while linting".
      for (const line of problems) expect(line).toMatch(/^nodejs_active_\w+_total non-counter metrics should not/);
    },
  );

  it('promtool catches a broken exposition (the check can fail)', () => {
    if (!HAVE_PROMTOOL) return expect(HAVE_PROMTOOL).toBe(false);
    expect(promtoolCheck('# TYPE x counter\nx{a="1" 2\n').status).not.toBe(0);
  });

  it.skipIf(!HAVE_OPENMETRICS_PARSER)(
    "gives OpenMetrics that prometheus_client's strict parser reads back",
    async () => {
      // (Skipped only where Debian's python3-prometheus-client is missing; .ci/run installs it.)
      const { dp, book, sent } = lab();
      const families = parseOpenMetrics((await exposition(dp, book, true).render(true)).text);
      const family = (name: string) => families.find((f) => f.name === name);
      expect(family('node_ipvs_connections')?.type).toBe('counter');
      expect(family('node_ipvs_connections')?.samples).toEqual([
        { name: 'node_ipvs_connections_total', labels: {}, value: NAT_CONNECTIONS + DR_CONNECTIONS },
      ]);
      expect(family('node_ipvs_incoming_bytes')?.samples[0]?.value).toBe(sent.inBytes);
      expect(family('node_ipvs_backend_connections_active')?.samples).toContainEqual({
        name: 'node_ipvs_backend_connections_active',
        labels: backend80,
        value: NAT_CONNECTIONS,
      });
      expect(family('nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
      expect(() => parseOpenMetrics('# TYPE a counter\na_total 1\n')).toThrow(/EOF/);
    },
  );

  it('serves OpenMetrics when asked: counters named without _total in TYPE, samples with it, # EOF last', async () => {
    const { dp, book } = lab();
    const metrics = exposition(dp, book);
    const om = await metrics.render(true);
    expect(om.contentType).toBe(OPENMETRICS_CONTENT_TYPE);
    expect(om.text).toContain('# TYPE node_ipvs_connections counter\n');
    expect(sampleValue(om.text, 'node_ipvs_connections_total')).toBe(NAT_CONNECTIONS + DR_CONNECTIONS);
    expect(om.text.endsWith('# EOF\n')).toBe(true);
    // Each format keeps its own metric objects: the Prometheus text is unchanged after an OpenMetrics one.
    const text = await metrics.render(false);
    expect(text.text).toContain('# TYPE node_ipvs_connections_total counter\n');
    expect(wantsOpenMetrics('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5')).toBe(true);
    expect(wantsOpenMetrics('text/plain')).toBe(false);
    expect(wantsOpenMetrics(undefined)).toBe(false);
  });
});
