// Prometheus metrics of a live daemon in the lab's NAT topology: after N real HTTP requests through the VIP,
// `uvs counters --prometheus` and the /metrics endpoint (configured with `metrics:`, inside the director's
// namespace, on its own loopback) carry node_exporter's node_ipvs_* values equal to what was sent, and
// promtool accepts the text. Without `metrics:` the daemon listens on no TCP port at all. The namespaces
// are the lab's own (unique per run, removed by stopModeLab even on failure).
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  HAVE_OPENMETRICS_PARSER,
  HAVE_PROMTOOL,
  parseOpenMetrics,
  promtoolCheck,
  sampleValue,
} from '../metrics/helpers.js';
import { directorCli, type HttpReply, type ModeLab, startModeLab, stopModeLab } from './children/e2e-support.js';
import { canUseNetns, netnsSkipReason } from './harness.js';

const METRICS_PORT = 9477;

/** Runs `node -e script` inside the director's namespace; its stdout. */
function inDirector(lab: ModeLab, script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'ip',
      ['netns', 'exec', lab.topology.director.ns, process.execPath, '-e', script],
      { encoding: 'utf8', timeout: 15_000 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number(err.code ?? -1), stdout, stderr }),
    );
  });
}

/** GET http://127.0.0.1:PORT/PATH in the director's namespace: status, content type and body as JSON. */
async function httpGet(
  lab: ModeLab,
  path: string,
  accept = '',
): Promise<{ status: number; type: string; body: string }> {
  const script = `fetch('http://127.0.0.1:${METRICS_PORT}${path}', { headers: { accept: ${JSON.stringify(accept)} } })
    .then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, type: r.headers.get('content-type'), body: await r.text() })))
    .catch((e) => { process.stderr.write(String(e.cause ?? e)); process.exit(3); });`;
  const r = await inDirector(lab, script);
  if (r.code !== 0) throw new Error(`GET ${path} in the director namespace failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function prometheusText(lab: ModeLab): Promise<string> {
  const r = await directorCli(lab, 'uvs', ['counters', '--prometheus']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

describe.skipIf(!canUseNetns)(`Prometheus metrics of a live daemon ${netnsSkipReason}`, () => {
  it('count N real HTTP requests, over the control socket and on /metrics', async () => {
    let lab: ModeLab | undefined;
    try {
      lab = await startModeLab('nat', { editConfig: (yaml) => `${yaml}\nmetrics: 127.0.0.1:${METRICS_PORT}\n` });
      const before = await prometheusText(lab);
      const at = (text: string, name: string, labels?: Record<string, string>) => sampleValue(text, name, labels) ?? 0;

      const requests = 5;
      const { replies } = await lab.agent.call<{ replies: HttpReply[] }>('get', {
        url: lab.url,
        count: requests,
        timeoutMs: 5_000,
      });
      expect(replies).toHaveLength(requests);

      // node_ipvs_* move at each 2-s estimation (as /proc/net/ip_vs_stats does): wait, bounded, until the
      // estimator has seen the whole exchange; then every packet forwarded either way is in the totals.
      const grew = (text: string, name: string) => at(text, name) - at(before, name);
      const settled = (text: string) =>
        grew(text, 'node_ipvs_connections_total') === requests &&
        grew(text, 'node_ipvs_incoming_packets_total') === grew(text, 'uvs_datapath_forwarded_in_total') &&
        grew(text, 'node_ipvs_outgoing_packets_total') === grew(text, 'uvs_datapath_forwarded_out_total');
      let after = await prometheusText(lab);
      for (const deadline = Date.now() + 8_000; !settled(after) && Date.now() < deadline; ) {
        await new Promise((r) => setTimeout(r, 500));
        after = await prometheusText(lab);
      }
      expect(grew(after, 'node_ipvs_connections_total')).toBe(requests);
      // Each HTTP exchange over TCP is at least SYN, ACK, request, FIN in and SYN-ACK, response, FIN back.
      expect(grew(after, 'node_ipvs_incoming_packets_total')).toBeGreaterThanOrEqual(requests * 3);
      expect(grew(after, 'node_ipvs_incoming_packets_total')).toBe(grew(after, 'uvs_datapath_forwarded_in_total'));
      expect(grew(after, 'node_ipvs_outgoing_packets_total')).toBe(grew(after, 'uvs_datapath_forwarded_out_total'));
      expect(grew(after, 'node_ipvs_incoming_bytes_total')).toBeGreaterThan(0);
      expect(grew(after, 'node_ipvs_outgoing_bytes_total')).toBeGreaterThan(0);
      // Closed connections stay in the table (TIME_WAIT) as inactive ones, per real server.
      let inTable = 0;
      for (const s of lab.topology.servers) {
        const labels = {
          local_address: lab.topology.vip,
          local_port: String(lab.topology.port),
          remote_address: s.rip,
          remote_port: String(lab.topology.port),
          proto: 'TCP',
          local_mark: '',
        };
        expect(sampleValue(after, 'node_ipvs_backend_weight', labels), JSON.stringify(labels)).toBeGreaterThan(0);
        inTable +=
          at(after, 'node_ipvs_backend_connections_active', labels) +
          at(after, 'node_ipvs_backend_connections_inactive', labels);
      }
      expect(inTable).toBe(requests);
      expect(at(after, 'uvs_connection_table_entries')).toBe(requests);

      // The endpoint serves the same metrics, in both formats, and nothing else.
      const served = await httpGet(lab, '/metrics');
      expect(served.status).toBe(200);
      expect(served.type).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(sampleValue(served.body, 'node_ipvs_connections_total')).toBe(at(after, 'node_ipvs_connections_total'));
      const om = await httpGet(lab, '/metrics', 'application/openmetrics-text; version=1.0.0');
      expect(om.type).toMatch(/^application\/openmetrics-text/);
      expect(om.body.endsWith('# EOF\n')).toBe(true);
      if (HAVE_OPENMETRICS_PARSER) {
        const connections = parseOpenMetrics(om.body).find((f) => f.name === 'node_ipvs_connections');
        expect(connections?.samples[0]?.value).toBe(at(after, 'node_ipvs_connections_total'));
      }
      expect((await httpGet(lab, '/')).status).toBe(404);

      if (HAVE_PROMTOOL) {
        for (const text of [after, served.body]) {
          const problems = promtoolCheck(text)
            .output.split('\n')
            .filter((l) => l !== '');
          // prom-client's own nodejs_active_*_total gauges are its only lint; a parse error fails here.
          for (const line of problems) expect(line).toMatch(/^nodejs_active_\w+_total non-counter metrics should not/);
        }
      }
    } finally {
      await stopModeLab(lab);
    }
  }, 90_000);

  it('listens on no TCP port without metrics: in the config', async () => {
    let lab: ModeLab | undefined;
    try {
      lab = await startModeLab('nat');
      // The daemon is up and answers over its control socket ...
      expect((await directorCli(lab, 'uvs', ['counters', '--json'])).code).toBe(0);
      // ... and nothing in its namespace listens on TCP (the lab's servers live in their own namespaces).
      const ss = await inDirector(
        lab,
        `fetch('http://127.0.0.1:${METRICS_PORT}/metrics').then(() => process.exit(0), (e) => { process.stdout.write(String(e.cause?.code)); process.exit(0); })`,
      );
      expect(ss.stdout).toBe('ECONNREFUSED');
    } finally {
      await stopModeLab(lab);
    }
  }, 60_000);
});
