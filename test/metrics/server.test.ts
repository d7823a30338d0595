// The /metrics endpoint: only that path, only GET and HEAD, Prometheus text unless OpenMetrics is asked for;
// and the `metrics:` config key that turns it on (absent: no endpoint).
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/director.js';
import { isLoopback, parseListenAddress } from '../../src/config/listen.js';
import { runUvsadm, sendQuery } from '../../src/control/client.js';
import { countersReport } from '../../src/control/counters.js';
import { ControlServer } from '../../src/control/server.js';
import { emptyReadout } from '../../src/ipvs/estimator.js';
import { MetricsExposition, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } from '../../src/metrics/registry.js';
import { MetricsServer, startMetricsEndpoint } from '../../src/metrics/server.js';
import { makeDatapath } from '../datapath/helpers.js';
import { RULES } from '../trace/helpers.js';
import { sampleValue } from './helpers.js';

const CONFIG = `interfaces:
  - { name: eth0, mac: "02:00:00:00:00:01", mtu: 1500, addresses: [192.168.1.231/24] }
`;

function exposition(): MetricsExposition {
  const dp = makeDatapath(RULES);
  return new MetricsExposition(
    {
      counters: () => countersReport({ datapath: dp, conns: dp.core.conns, ports: [], uptimeSeconds: 1 }),
      rules: () => dp.core.rules.snapshot,
      readStats: (_stats, out) => Object.assign(out, emptyReadout()),
    },
    { defaultMetrics: false },
  );
}

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(): Promise<string> {
  const errors: Error[] = [];
  server = await MetricsServer.start({ host: '127.0.0.1', port: 0 }, exposition(), (err) => errors.push(err));
  return `http://127.0.0.1:${server.address.port}`;
}

describe('/metrics endpoint', () => {
  it('serves Prometheus text at /metrics, OpenMetrics when the Accept header asks', async () => {
    const base = await serve();
    const text = await fetch(`${base}/metrics`);
    expect(text.status).toBe(200);
    expect(text.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE);
    expect(await text.text()).toContain('\nnode_ipvs_backend_weight{local_address="192.168.1.231",local_port="80"');
    const om = await fetch(`${base}/metrics`, {
      headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' },
    });
    expect(om.headers.get('content-type')).toBe(OPENMETRICS_CONTENT_TYPE);
    expect((await om.text()).endsWith('# EOF\n')).toBe(true);
  });

  it('answers 404 on every other path and 405 to any method but GET and HEAD', async () => {
    const base = await serve();
    for (const path of ['/', '/metrics/', '/metric', '/debug', '/metrics/../x']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(404);
      await res.text();
    }
    expect((await fetch(`${base}/metrics?name[]=x`)).status).toBe(200);
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await fetch(`${base}/metrics`, { method });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
    }
    const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('refuses to start on an address it cannot have, instead of serving somewhere else', async () => {
    await serve();
    const taken = { host: '127.0.0.1', port: server!.address.port };
    await expect(MetricsServer.start(taken, exposition(), () => {})).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('metrics: in the director config', () => {
  it('is off unless configured', () => {
    expect(parseConfig(CONFIG).metrics).toBeNull();
  });

  it('takes HOST:PORT', () => {
    expect(parseConfig(`${CONFIG}metrics: 127.0.0.1:9477\n`).metrics).toEqual({ host: '127.0.0.1', port: 9477 });
    expect(parseConfig(`${CONFIG}metrics: "[::1]:9477"\n`).metrics).toEqual({ host: '::1', port: 9477 });
    expect(parseConfig(`${CONFIG}metrics: localhost:9100\n`).metrics).toEqual({ host: 'localhost', port: 9100 });
    expect(parseConfig(`${CONFIG}metrics: 0.0.0.0:9477\n`).metrics).toEqual({ host: '0.0.0.0', port: 9477 });
  });

  it('refuses what is not HOST:PORT, naming the line', () => {
    for (const bad of [
      '9477',
      '127.0.0.1',
      '127.0.0.1:0',
      '127.0.0.1:70000',
      'example.org:9477',
      '::1:9477',
      '[1.2.3.4]:1',
    ]) {
      let caught: unknown;
      try {
        parseConfig(`${CONFIG}metrics: "${bad}"\n`);
      } catch (err) {
        caught = err;
      }
      expect(caught, bad).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).line, bad).toBe(3);
      expect((caught as Error).message, bad).toMatch(/metrics/);
    }
  });

  it('tells loopback from the rest', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '192.168.1.1', '::', '10.0.0.1'].some(isLoopback)).toBe(false);
    expect(parseListenAddress('127.0.0.1:9477')).toEqual({ host: '127.0.0.1', port: 9477 });
  });
});

describe('the daemon endpoint', () => {
  const logged: { level: string; message: string }[] = [];
  const log = {
    info: (_f: object, message: string) => logged.push({ level: 'info', message }),
    warn: (_f: object, message: string) => logged.push({ level: 'warn', message }),
    error: (_f: object, message: string) => logged.push({ level: 'error', message }),
  };
  afterEach(() => {
    logged.length = 0;
  });

  it('says where it listens; an address it cannot have is logged and the daemon goes on without it', async () => {
    const first = await startMetricsEndpoint({ host: '127.0.0.1', port: 0 }, exposition(), log);
    expect(first).toBeDefined();
    server = first;
    expect(logged).toEqual([{ level: 'info', message: 'metrics endpoint listening' }]);
    logged.length = 0;
    const second = await startMetricsEndpoint({ host: '127.0.0.1', port: first!.address.port }, exposition(), log);
    expect(second).toBeUndefined();
    expect(logged).toHaveLength(1);
    expect(logged[0]!.level).toBe('error');
    expect(logged[0]!.message).toMatch(
      /^metrics endpoint not started, cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/,
    );
  });
});

describe('uvs_control_requests_total', () => {
  it('counts the control socket requests by kind: commands, queries, refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uvs-metrics-control-'));
    const socketPath = join(dir, 'uvs.sock');
    const control = await ControlServer.start({
      socketPath,
      handler: async () => ({ stdout: '', stderr: '', exitCode: 0, rulesChanged: false }),
      queryHandler: async () => ({ stdout: '{}\n', stderr: '', exitCode: 0 }),
    });
    try {
      for (const argv of [['-Ln'], ['-S', '-n']])
        await runUvsadm(argv, { socketEnv: socketPath, readStdin: async () => '' });
      await sendQuery(socketPath, { query: 'counters' });
      await new Promise<void>((resolve) => {
        const s = createConnection(socketPath, () => s.end('not json\n'));
        s.on('close', () => resolve());
        s.resume();
      });
      const dp = makeDatapath(RULES);
      const { text } = await new MetricsExposition(
        {
          counters: () => countersReport({ datapath: dp, conns: dp.core.conns, ports: [], uptimeSeconds: 1 }),
          rules: () => dp.core.rules.snapshot,
          readStats: (_stats, out) => out,
          controlRequests: () => control.requests,
        },
        { defaultMetrics: false },
      ).render();
      expect(sampleValue(text, 'uvs_control_requests_total', { kind: 'command' })).toBe(2);
      expect(sampleValue(text, 'uvs_control_requests_total', { kind: 'query' })).toBe(1);
      expect(sampleValue(text, 'uvs_control_requests_total', { kind: 'refused' })).toBe(1);
    } finally {
      await control.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
