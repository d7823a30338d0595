// The tutorial typed by a learner: `uvs lab dr --empty --keep` leaves a director with no rules and prints how to
// reach it; the seed's DR commands, with uvsadm for ipvsadm and the seed's own VIP 192.168.1.241, go through
// the printed UVS_SOCKET from the learner's shell (here: this process's namespace, outside the lab); then
// `uvs lab exec NAME client curl ...` gets answers from both web servers in rr order, and `uvs lab --remove`
// takes it all down. One lab serves every assertion, to keep the time small.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveExecTarget } from '../../src/lab/exec.js';
import { labNamespaces, removeLab } from '../../src/lab/remove.js';
import { labMain, runLab } from '../../src/lab/run.js';
import { canUseNetns, compileForChildren, netnsSkipReason } from '../netns/harness.js';

const SEED_DR_VIP = '192.168.1.241';
const hasCurl = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function node(script: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Ran {
  const r = spawnSync(process.execPath, [script, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, UVS_SOCKET: '', UVS_LAB: '', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('uvs lab exec arguments', () => {
  const labs = ['uvs-lab-10-aaaaaa', 'uvs-lab-11-bbbbbb'];
  it('takes NAME by its form, else $UVS_LAB, else the only lab running', () => {
    expect(resolveExecTarget(['uvs-lab-10-aaaaaa', 'client', 'curl', '-s', 'x'], undefined, labs)).toEqual({
      name: 'uvs-lab-10-aaaaaa',
      host: 'client',
      namespace: 'uvs-lab-10-aaaaaa-client',
      command: ['curl', '-s', 'x'],
    });
    expect(resolveExecTarget(['web02', 'true'], 'uvs-lab-11-bbbbbb', labs).namespace).toBe('uvs-lab-11-bbbbbb-web02');
    expect(resolveExecTarget(['director', 'true'], undefined, ['uvs-lab-10-aaaaaa']).namespace).toBe(
      'uvs-lab-10-aaaaaa-director',
    );
  });

  it('says what is wrong: several labs and no name, an unknown host, no command, a lab that is not there', () => {
    expect(() => resolveExecTarget(['client', 'true'], undefined, labs)).toThrow(
      '2 labs are running (uvs-lab-10-aaaaaa, uvs-lab-11-bbbbbb); say which: uvs lab exec NAME HOST COMMAND...',
    );
    expect(() => resolveExecTarget(['client', 'true'], undefined, [])).toThrow('no lab is running');
    expect(() => resolveExecTarget(['uvs-lab-10-aaaaaa', 'lan', 'true'], undefined, labs)).toThrow(
      "unknown host 'lan'; a lab's hosts are client, director, web01, web02",
    );
    expect(() => resolveExecTarget(['uvs-lab-10-aaaaaa', 'client'], undefined, labs)).toThrow(
      'no command given to run on client',
    );
    expect(() => resolveExecTarget(['uvs-lab-12-cccccc', 'client', 'true'], undefined, labs)).toThrow(
      'no lab named uvs-lab-12-cccccc (running: uvs-lab-10-aaaaaa, uvs-lab-11-bbbbbb)',
    );
    expect(() => resolveExecTarget(['client', 'true'], 'web01', labs)).toThrow("UVS_LAB='web01' is not the name");
  });

  it('refuses -n and --timeout-ms with --empty (it makes no requests) and --empty with --remove', async () => {
    const sink = (): { stream: NodeJS.WritableStream; text: () => string } => {
      let text = '';
      const stream = new Writable({
        write(chunk, _encoding, done) {
          text += String(chunk);
          done();
        },
      });
      return { stream, text: () => text };
    };
    for (const [args, message] of [
      [['dr', '--empty', '-n', '3'], '--empty makes no requests'],
      [['nat', '--empty', '--timeout-ms', '10'], '--empty makes no requests'],
      [['--remove', 'uvs-lab-1-000000', '--empty'], "--remove takes only the lab's name"],
    ] as const) {
      const out = sink();
      const err = sink();
      expect(await labMain([...args], out.stream, err.stream), args.join(' ')).toBe(2);
      expect(err.text()).toContain(message);
      expect(out.text()).toBe('');
    }
  });
});

describe.skipIf(!canUseNetns)(`uvs lab dr --empty --keep, typed into like the tutorial ${netnsSkipReason}`, () => {
  let dist = '';
  const lines: string[] = [];
  let labCode: number | undefined;
  let name: string | undefined;
  let exported: Record<string, string> = {};

  beforeAll(async () => {
    dist = compileForChildren();
    labCode = await runLab('dr', {
      requests: 1,
      requestTimeoutMs: 1_000,
      keep: true,
      empty: true,
      distDir: dist,
      out: (line) => lines.push(line),
    });
    name = /^kept as (uvs-lab-\d+-[0-9a-f]{6});/.exec(lines.find((l) => l.startsWith('kept as ')) ?? '')?.[1];
    exported = Object.fromEntries(
      lines.flatMap((l) => {
        const m = /^ {2}export (\w+)=(\S+)$/.exec(l);
        return m ? [[m[1] as string, m[2] as string]] : [];
      }),
    );
  }, 60_000);

  afterAll(async () => {
    if (name !== undefined && labNamespaces(name).length > 0) await removeLab(name, 500);
  }, 30_000);

  const uvsadm = (args: string[]): Ran =>
    node(join(dist, 'cli', 'uvsadm.js'), args, { UVS_SOCKET: exported.UVS_SOCKET });
  const uvs = (args: string[], env: NodeJS.ProcessEnv = {}): Ran => node(join(dist, 'cli', 'uvs.js'), args, env);

  it('starts with no rules and prints the exports for uvsadm and uvs lab exec', () => {
    expect(labCode, lines.join('\n')).toBe(0);
    expect(name, lines.join('\n')).toBeDefined();
    expect(Object.keys(exported).sort()).toEqual(['UVS_LAB', 'UVS_SOCKET']);
    expect(exported.UVS_LAB).toBe(name);
    expect(exported.UVS_SOCKET).toMatch(new RegExp(`^/.*/${name}-[^/]+/uvs\\.sock$`));
    expect(lines).toContain(
      `the director has no rules; it owns VIP 192.168.1.231 and ${SEED_DR_VIP} (/32, eth0, facing the client)`,
    );
    // No requests were made: --empty leaves that to the learner.
    expect(lines.some((l) => / requests to http/.test(l))).toBe(false);
    const listing = uvsadm(['-Ln']);
    expect(listing.code, listing.stderr).toBe(0);
    expect(listing.stdout.split('\n').slice(1)).toEqual([
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      '',
    ]);
  });

  it("takes the seed's DR commands with its VIP through the printed UVS_SOCKET, and both web servers answer", () => {
    for (const line of [
      `-A -t ${SEED_DR_VIP}:80 -s rr`,
      `-a -t ${SEED_DR_VIP}:80 -r 192.168.1.200 -g`,
      `-a -t ${SEED_DR_VIP}:80 -r 192.168.1.201 -g`,
    ]) {
      expect(uvsadm(line.split(' ')), line).toEqual({ code: 0, stdout: '', stderr: '' });
    }
    const table = uvsadm(['-Ln']).stdout.split('\n').slice(3);
    expect(table.map((l) => l.trim().split(/\s+/))).toEqual([
      ['TCP', `${SEED_DR_VIP}:80`, 'rr'],
      ['->', '192.168.1.200:80', 'Route', '1', '0', '0'],
      ['->', '192.168.1.201:80', 'Route', '1', '0', '0'],
      [''],
    ]);
    const get = hasCurl
      ? ['curl', '-s', '--max-time', '5', `http://${SEED_DR_VIP}/`]
      : // Without curl, the same GET from Node (the lab's hosts run this machine's programs).
        [
          process.execPath,
          '-e',
          `fetch('http://${SEED_DR_VIP}/').then((r) => r.text()).then((t) => process.stdout.write(t))`,
        ];
    const bodies: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = uvs(['lab', 'exec', name!, 'client', ...get]);
      expect(r.code, r.stderr).toBe(0);
      bodies.push(r.stdout);
    }
    // rr over the destinations newest first, as the kernel keeps them.
    expect(bodies).toEqual(['web02\n', 'web01\n', 'web02\n', 'web01\n']);
  });

  it('passes the exit status through, finds the lab from UVS_LAB, and refuses what is not there', () => {
    expect(uvs(['lab', 'exec', name!, 'web01', 'sh', '-c', 'exit 7']).code).toBe(7);
    // The real servers hold the seed's DR VIP on lo, as its arp.sh does.
    const lo = uvs(['lab', 'exec', 'web01', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'lo'], { UVS_LAB: name });
    expect(lo.code, lo.stderr).toBe(0);
    expect(lo.stdout).toContain(`inet ${SEED_DR_VIP}/32`);
    // The command gets UVS_SOCKET, so uvsadm on any of the lab's hosts reaches its daemon.
    const socket = uvs(['lab', 'exec', name!, 'director', 'sh', '-c', 'echo "$UVS_SOCKET"']);
    expect(socket.stdout.trim()).toBe(exported.UVS_SOCKET);
    const badHost = uvs(['lab', 'exec', name!, 'router', 'true']);
    expect(badHost).toMatchObject({ code: 2, stdout: '' });
    expect(badHost.stderr).toContain(
      "uvs lab exec: unknown host 'router'; a lab's hosts are client, director, web01, web02",
    );
    const badLab = uvs(['lab', 'exec', 'uvs-lab-1-000000', 'client', 'true']);
    expect(badLab.code).toBe(1);
    expect(badLab.stderr).toContain('uvs lab exec: no lab named uvs-lab-1-000000');
  });

  it('refuses a VIP the director does not own, saying what to do: which address, which key, which file', () => {
    const configPath = /^director config (\S+), rules /.exec(
      lines.find((l) => l.startsWith('director config ')) ?? '',
    )?.[1];
    expect(configPath).toMatch(/\/uvs\.yaml$/);
    expect(uvsadm(['-A', '-t', '192.168.1.250:80', '-s', 'rr'])).toEqual({
      code: 255,
      stdout: '',
      stderr:
        "TCP 192.168.1.250:80: VIP 192.168.1.250 is not among the interfaces' addresses, so nothing answers ARP for it; " +
        `to serve it, add 192.168.1.250/32 to the \`addresses:\` of the client-facing interface in ${configPath}, then restart uvs daemon\n`,
    });
  });

  it('goes away with uvs lab --remove NAME', () => {
    const r = uvs(['lab', '--remove', name!]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(labNamespaces(name!)).toEqual([]);
    expect(uvsadm(['-Ln']).code).toBe(2);
  });
});

describe.skipIf(!canUseNetns)(`uvs lab nat --empty in the foreground ${netnsSkipReason}`, () => {
  it("serves the seed's NAT commands typed in another shell, and removes everything at Ctrl-C", async () => {
    const dist = compileForChildren();
    const lab = spawn(process.execPath, [join(dist, 'cli', 'uvs.js'), 'lab', 'nat', '--empty'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let stderr = '';
    lab.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    lab.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const ended = new Promise<number | null>((resolve) => lab.on('close', (code) => resolve(code)));
    let name: string | undefined;
    try {
      for (let waited = 0; !output.includes('the lab runs until Ctrl-C') && waited < 40_000; waited += 100) {
        if (lab.exitCode !== null) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(output, stderr).toContain('the lab runs until Ctrl-C');
      name = /^ {2}export UVS_LAB=(\S+)$/m.exec(output)?.[1];
      const socket = /^ {2}export UVS_SOCKET=(\S+)$/m.exec(output)?.[1];
      expect(output).toContain('for uvsadm in another shell to talk to this lab, run:');
      const uvsadm = (line: string): Ran =>
        node(join(dist, 'cli', 'uvsadm.js'), line.split(' '), { UVS_SOCKET: socket });
      // The seed's NAT sequence, as its section (2)-(3) types it.
      for (const line of [
        '-A -t 192.168.1.231:80 -s rr',
        '-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m',
        '-a -t 192.168.1.231:80 -r 192.168.1.201:80 -m',
      ]) {
        expect(uvsadm(line), line).toEqual({ code: 0, stdout: '', stderr: '' });
      }
      expect(uvsadm('-Ln').stdout).toContain('  -> 192.168.1.200:80             Masq    1      0          0');
      const get = [
        process.execPath,
        '-e',
        "fetch('http://192.168.1.231/').then((r) => r.text()).then((t) => process.stdout.write(t))",
      ];
      const bodies = [0, 1].map(
        () => node(join(dist, 'cli', 'uvs.js'), ['lab', 'exec', 'client', ...get], { UVS_LAB: name }).stdout,
      );
      expect(bodies).toEqual(['web02\n', 'web01\n']);
      lab.kill('SIGINT');
      expect(await ended).toBe(130);
      expect(output).toContain('uvs lab: stopped by SIGINT; namespaces removed');
      expect(labNamespaces(name!)).toEqual([]);
    } finally {
      if (lab.exitCode === null) lab.kill('SIGINT');
      await ended;
      if (name !== undefined && labNamespaces(name).length > 0) await removeLab(name, 500);
    }
  }, 60_000);
});
