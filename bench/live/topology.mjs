// The live benchmark's namespace topology: a generator, a director and a sink, each in its own network
// namespace, joined by two veth pairs. Every contender (uvs NAT/DR/TUN, the kernel's nftables NAT, the C
// reference forwarder) runs in the director namespace on the same two interfaces, so they see the same
// generator and the same sink.
//
//   gen  <p>g 192.168.70.2/24 ---- <p>a  director  <p>b ---- <p>s  sink 192.168.71.11/24, .12/24 (RIPs)
//   route VIP/32 via .70.1          (.70.1 gateway,           VIP 192.168.72.10/32 on lo (DR), default via .71.1
//   route RIPs' /24 via .70.1        DIP .71.1: uvs owns
//   static neighbour for .70.1       them, or the kernel does when it is the contender)
//   <p>r (no address) ------------------------------------------ <p>t (no address): the return link
//
// The return link carries only what the sink sends from the VIP (`ip rule from VIP lookup 100`): the TCP
// answers of DR and TUN, which in LVS go from the real server straight to the client, not through the
// director (uvs is not a router, and the kernel contenders' answers come from a RIP). The UDP part never uses
// it. The RIPs' route in the generator namespace is for the TCP baseline, which connects to a RIP directly.
//
// docs/design.md, "Measuring on a small VM": offloads off on every veth; threaded NAPI on the two receiving veths
// (director ingress and sink), which needs GRO on there, with those threads pinned to cpu1; rp_filter loose;
// static neighbours so that ARP never sits in a measurement. Interface names are unique to the run (the NAPI
// thread names carry them, and other runs may use eth0 at the same time); namespaces are removed by
// teardown(), also from a process 'exit' hook.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

/** Bound on one `ip`/`nft`/`ethtool` command. */
const COMMAND_TIMEOUT_MS = 5_000;

export const ADDR = {
  gen: '192.168.70.2',
  gateway: '192.168.70.1',
  dip: '192.168.71.1',
  rips: ['192.168.71.11', '192.168.71.12'],
  vip: '192.168.72.10',
  port: 5000,
};

/** Fixed MACs make the static neighbour entries and the generator's frames independent of the kernel. */
const MAC = {
  gen: '02:b0:00:00:70:02',
  dirIn: '02:b0:00:00:70:01',
  dirOut: '02:b0:00:00:71:01',
  sink: '02:b0:00:00:71:0b',
  genReturn: '02:b0:00:00:70:12',
  sinkReturn: '02:b0:00:00:71:12',
};

/** The sink's routing table for what it sends from the VIP (DR and TUN answers): out the return link. */
const RETURN_TABLE = '100';

/** The director's receive thread shares the forwarder's core, as a NIC queue's would; the sink's goes with the
 * generator and the sink reader, so that cpu1 does the director's work and nothing else of ours. */
const DIRECTOR_CPU = 1;
const OUTSIDE_CPU = 0;

function run(cmd, args, input) {
  const res = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: COMMAND_TIMEOUT_MS,
    ...(input === undefined ? {} : { input }),
  });
  if (res.status !== 0) {
    throw new Error(
      `bench:live: \`${cmd} ${args.join(' ')}\` failed: ${(res.stderr || res.error?.message || '').trim()}`,
    );
  }
  return res.stdout;
}

/** The /24 network holding `ip` (`ip route` refuses a prefix with host bits set). */
const net24 = (ip) => `${ip.split('.').slice(0, 3).join('.')}.0/24`;
const nsRun = (ns, cmd, args, input) => run('ip', ['netns', 'exec', ns, cmd, ...args], input);
const sysctl = (ns, key, value) => nsRun(ns, 'sysctl', ['-qw', `${key}=${value}`]);

const liveTopologies = new Set();
let exitHookInstalled = false;

export function buildBenchTopology(log = () => {}) {
  const tag = `${(process.pid % 0xfff).toString(16)}${randomBytes(1).toString('hex')}`.slice(-4);
  const prefix = `uvs-bench-${process.pid}-${tag}-`;
  const dev = {
    gen: `ub${tag}g`,
    dirIn: `ub${tag}a`,
    dirOut: `ub${tag}b`,
    sink: `ub${tag}s`,
    genReturn: `ub${tag}r`,
    sinkReturn: `ub${tag}t`,
  };
  const ns = { gen: `${prefix}gen`, director: `${prefix}director`, sink: `${prefix}sink` };
  const made = [];
  let tornDown = false;
  const teardown = () => {
    if (tornDown) return;
    tornDown = true;
    for (const n of made.reverse())
      spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS });
    liveTopologies.delete(handle);
  };
  const handle = { teardown };
  liveTopologies.add(handle);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const t of liveTopologies) t.teardown();
    });
  }

  try {
    for (const n of Object.values(ns)) {
      run('ip', ['netns', 'add', n]);
      made.push(n);
      run('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
      sysctl(n, 'net.ipv6.conf.all.disable_ipv6', '1');
      sysctl(n, 'net.ipv6.conf.default.disable_ipv6', '1');
    }
    run('ip', ['-n', ns.gen, 'link', 'add', dev.gen, 'type', 'veth', 'peer', 'name', dev.dirIn, 'netns', ns.director]);
    run('ip', [
      '-n',
      ns.director,
      'link',
      'add',
      dev.dirOut,
      'type',
      'veth',
      'peer',
      'name',
      dev.sink,
      'netns',
      ns.sink,
    ]);
    run('ip', [
      '-n',
      ns.sink,
      'link',
      'add',
      dev.sinkReturn,
      'type',
      'veth',
      'peer',
      'name',
      dev.genReturn,
      'netns',
      ns.gen,
    ]);
    const where = {
      gen: ns.gen,
      dirIn: ns.director,
      dirOut: ns.director,
      sink: ns.sink,
      genReturn: ns.gen,
      sinkReturn: ns.sink,
    };
    for (const [role, d] of Object.entries(dev)) {
      const n = where[role];
      run('ip', ['-n', n, 'link', 'set', d, 'address', MAC[role]]);
      run('ip', ['-n', n, 'link', 'set', d, 'up']);
      nsRun(n, 'ethtool', ['-K', d, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off']);
    }
    // A veth runs NAPI (and so can have a threaded NAPI worker) only while GRO is on.
    for (const [n, d] of [
      [ns.director, dev.dirIn],
      [ns.sink, dev.sink],
    ]) {
      nsRun(n, 'ethtool', ['-K', d, 'gro', 'on']);
      nsRun(n, 'sh', ['-c', `echo 1 > /sys/class/net/${d}/threaded`]);
    }

    run('ip', ['-n', ns.gen, 'addr', 'add', `${ADDR.gen}/24`, 'dev', dev.gen]);
    run('ip', ['-n', ns.gen, 'route', 'add', `${ADDR.vip}/32`, 'via', ADDR.gateway]);
    run('ip', ['-n', ns.gen, 'route', 'add', net24(ADDR.rips[0]), 'via', ADDR.gateway]);
    // DR and TUN answers come from the VIP on the return link, not where the route to the VIP points.
    for (const key of ['all', 'default', dev.gen, dev.genReturn]) sysctl(ns.gen, `net.ipv4.conf.${key}.rp_filter`, '0');
    // The TCP client's ephemeral ports: a wide range makes the reuse of a 4-tuple (which meets the server's
    // TIME_WAIT and the director's old entry) rarer.
    sysctl(ns.gen, 'net.ipv4.ip_local_port_range', '10000 65000');
    run('ip', [
      '-n',
      ns.gen,
      'neigh',
      'replace',
      ADDR.gateway,
      'lladdr',
      MAC.dirIn,
      'nud',
      'permanent',
      'dev',
      dev.gen,
    ]);

    for (const rip of ADDR.rips) run('ip', ['-n', ns.sink, 'addr', 'add', `${rip}/24`, 'dev', dev.sink]);
    // DR: the sink holds the VIP on lo and neither answers nor announces ARP for it (the seed's rs script).
    run('ip', ['-n', ns.sink, 'addr', 'add', `${ADDR.vip}/32`, 'dev', 'lo']);
    for (const key of ['all', dev.sink]) {
      sysctl(ns.sink, `net.ipv4.conf.${key}.arp_ignore`, '1');
      sysctl(ns.sink, `net.ipv4.conf.${key}.arp_announce`, '2');
      sysctl(ns.sink, `net.ipv4.conf.${key}.rp_filter`, '0');
    }
    // The TUN device of `uvs rs tun` takes the default rp_filter; its packets' source routes via the LAN.
    sysctl(ns.sink, 'net.ipv4.conf.default.rp_filter', '0');
    sysctl(ns.sink, `net.ipv4.conf.${dev.sinkReturn}.rp_filter`, '0');
    // No TIME_WAIT on the server, which closes first: otherwise the sockets of one contender's connections
    // (60 s) meet the next contender's SYNs for the same client port and RIP, with a sequence number and
    // timestamps from another (CIP, VIP) pair. The server answers those with a bare ACK, the client resets
    // and retries 10-16 ms later, and that retry, not the path, was the NAT rows' p99 (seen in a capture).
    sysctl(ns.sink, 'net.ipv4.tcp_max_tw_buckets', '0');
    run('ip', ['-n', ns.sink, 'route', 'add', 'default', 'via', ADDR.dip]);
    run('ip', ['-n', ns.sink, 'route', 'add', net24(ADDR.gen), 'dev', dev.sinkReturn, 'table', RETURN_TABLE]);
    run('ip', ['-n', ns.sink, 'rule', 'add', 'from', ADDR.vip, 'lookup', RETURN_TABLE, 'priority', '100']);
    run('ip', [
      '-n',
      ns.sink,
      'neigh',
      'replace',
      ADDR.gen,
      'lladdr',
      MAC.genReturn,
      'nud',
      'permanent',
      'dev',
      dev.sinkReturn,
    ]);
    run('ip', ['-n', ns.sink, 'neigh', 'replace', ADDR.dip, 'lladdr', MAC.dirOut, 'nud', 'permanent', 'dev', dev.sink]);

    for (const key of ['all', 'default', dev.dirIn, dev.dirOut])
      sysctl(ns.director, `net.ipv4.conf.${key}.rp_filter`, '2');
    const topology = { ns, dev, mac: MAC, addr: ADDR, teardown, napi: undefined };
    directorOutOfTheWay(topology);
    topology.napi = pinNapiThreads(topology);
    log(
      `topology ${prefix}{gen,director,sink}: ${dev.gen} -> ${dev.dirIn} | ${dev.dirOut} -> ${dev.sink}; ${topology.napi.text}`,
    );
    return topology;
  } catch (err) {
    teardown();
    throw err;
  }
}

/** Thread ids whose comm starts with `prefix` (kernel threads are visible from any namespace). */
export function threadsNamed(prefix) {
  const pids = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith(prefix)) pids.push(Number(pid));
    } catch {}
  }
  return pids;
}

/**
 * Pins the director's ingress NAPI thread to DIRECTOR_CPU and the sink's to OUTSIDE_CPU; returns their thread
 * ids (for CPU accounting) and a description for the log.
 */
function pinNapiThreads(topology) {
  const dirIn = threadsNamed(`napi/${topology.dev.dirIn}-`);
  const sink = threadsNamed(`napi/${topology.dev.sink}-`);
  for (const pid of dirIn) run('taskset', ['-p', '-c', String(DIRECTOR_CPU), String(pid)]);
  for (const pid of sink) run('taskset', ['-p', '-c', String(OUTSIDE_CPU), String(pid)]);
  if (dirIn.length === 0 || sink.length === 0)
    throw new Error('bench:live: no threaded NAPI worker appeared on the veths');
  return {
    dirIn,
    sink,
    text: `NAPI threads: director ingress ${dirIn} on cpu${DIRECTOR_CPU}, sink ${sink} on cpu${OUTSIDE_CPU}`,
  };
}

const DROP_TABLE = 'uvsbench_drop';
const NAT_TABLE = 'uvsbench_nat';

function deleteTable(topology, family, name) {
  spawnSync('ip', ['netns', 'exec', topology.ns.director, 'nft', 'delete', 'table', family, name], {
    stdio: 'ignore',
    timeout: COMMAND_TIMEOUT_MS,
  });
}

/**
 * The state for user-space forwarders: the kernel holds no address on the datapath interfaces, forwards
 * nothing, and drops every frame at netdev ingress (AF_PACKET ETH_P_ALL taps run before that hook).
 */
export function directorOutOfTheWay(topology) {
  const { ns, dev } = topology;
  deleteTable(topology, 'ip', NAT_TABLE);
  sysctl(ns.director, 'net.ipv4.ip_forward', '0');
  for (const d of [dev.dirIn, dev.dirOut]) {
    run('ip', ['-n', ns.director, 'addr', 'flush', 'dev', d]);
    run('ip', ['-n', ns.director, 'neigh', 'flush', 'dev', d]);
  }
  spawnSync('ip', ['netns', 'exec', ns.director, 'conntrack', '-F'], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS });
  deleteTable(topology, 'netdev', DROP_TABLE);
  const chains = [dev.dirIn, dev.dirOut]
    .map((d, i) => `  chain drop${i} { type filter hook ingress device "${d}" priority 0; policy drop; }`)
    .join('\n');
  nsRun(ns.director, 'nft', ['-f', '-'], `table netdev ${DROP_TABLE} {\n${chains}\n}\n`);
}

/** The kernel's own NAT load balancer: ip_forward=1 and nftables `dnat to numgen inc mod N map {...}`. */
export function directorKernelNat(topology) {
  directorKernelForward(topology);
  nsRun(topology.ns.director, 'nft', ['-f', '-'], kernelNatRuleset());
}

/**
 * Plain kernel IPv4 forwarding (no nftables table, so no conntrack): the TCP baseline, which connects to a
 * RIP through it; what a contender adds to a connection's latency is measured against this path.
 */
export function directorKernelForward(topology) {
  const { ns, dev } = topology;
  deleteTable(topology, 'netdev', DROP_TABLE);
  run('ip', ['-n', ns.director, 'addr', 'add', `${ADDR.gateway}/24`, 'dev', dev.dirIn]);
  run('ip', ['-n', ns.director, 'addr', 'add', `${ADDR.dip}/24`, 'dev', dev.dirOut]);
  run('ip', ['-n', ns.director, 'neigh', 'replace', ADDR.gen, 'lladdr', MAC.gen, 'nud', 'permanent', 'dev', dev.dirIn]);
  for (const rip of ADDR.rips) {
    run('ip', ['-n', ns.director, 'neigh', 'replace', rip, 'lladdr', MAC.sink, 'nud', 'permanent', 'dev', dev.dirOut]);
  }
  sysctl(ns.director, 'net.ipv4.ip_forward', '1');
}

export function kernelNatRuleset() {
  const map = ADDR.rips.map((rip, i) => `${i} : ${rip}`).join(', ');
  const n = ADDR.rips.length;
  return [
    `table ip ${NAT_TABLE} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    `    ip daddr ${ADDR.vip} meta l4proto { tcp, udp } th dport ${ADDR.port} dnat to numgen inc mod ${n} map { ${map} }`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** uvs's director config for the benchmark: uvs owns the gateway and VIP outside, the DIP inside. */
export function uvsConfig(topology, dir, io) {
  const { dev } = topology;
  return {
    interfaces: [
      { name: dev.dirIn, mac: 'auto', mtu: 'auto', addresses: [`${ADDR.gateway}/24`, `${ADDR.vip}/32`] },
      { name: dev.dirOut, mac: 'auto', mtu: 'auto', addresses: [`${ADDR.dip}/24`] },
    ],
    neighbours: [{ ip: ADDR.gen, mac: MAC.gen }, ...ADDR.rips.map((ip) => ({ ip, mac: MAC.sink }))],
    rules: 'rules.txt',
    control: `${dir}/uvs.sock`,
    state: `${dir}/rules.state`,
    io: { backend: io.backend ?? 'afpacket', rx: io.rx, wake: io.wake, batch: io.batch, gro: io.gro ?? 'off' },
    conn: { capacity: 65536 },
  };
}

/** The UDP and TCP virtual services over both RIPs with the mode's forwarding flag (`-m`, `-g`, `-i`). */
export function uvsRules(flag) {
  const service = `${ADDR.vip}:${ADDR.port}`;
  return ['-u', '-t']
    .flatMap((proto) => [
      `-A ${proto} ${service} -s rr`,
      ...ADDR.rips.map((rip) => `-a ${proto} ${service} -r ${rip}:${ADDR.port} ${flag} -w 1`),
    ])
    .join('\n')
    .concat('\n');
}
