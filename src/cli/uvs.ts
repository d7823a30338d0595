#!/usr/bin/env node
// `uvs`: the daemon and the tools around it. Each subcommand lives in its own module; this file only
// dispatches, so `uvs --help` stays cheap.
import { argv, exit, stderr, stdout } from 'node:process';
import { simulateMain } from './simulate.js';

const USAGE = `uvs - Userspace Virtual Server (IPVS in user space)

Usage: uvs <command> [options]

Commands:
  daemon             run the director: datapath, control socket (uvs daemon --config CFG)
  counters           print the running daemon's datapath counters and drops by reason [--json]
  lab [nat|dr|tun]   run the seed tutorial's topology in network namespaces (npm start)
                     --empty: no rules, for typing the tutorial; lab exec HOST CMD (uvs lab --help)
  rs nat|dr|tun      set up this host as a real server (the seed's rs scripts); --undo reverts
  simulate           answer "where would this flow go?" from rules and events, sending nothing
  replay             run a pcap through the datapath offline and write what it would send
  trace              explain each packet in the seed's terms: a pcap offline, or the live daemon
  keepalived rules   print the IPVS rules a keepalived.conf loads at start (ipvsadm-save -n format)
  help               show this help

The ipvsadm-compatible admin tool is \`uvsadm\`; \`--socket PATH\` or UVS_SOCKET picks the daemon's socket.
`;

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case undefined:
    case 'help':
    case '-h':
    case '--help':
      stdout.write(USAGE);
      return 0;
    case 'simulate':
      return simulateMain(rest, stdout, stderr);
    case 'replay':
      return (await import('./replay.js')).replayMain(rest, stdout, stderr);
    case 'trace':
      return (await import('./trace.js')).traceMain(rest, stdout, stderr);
    // Loaded on demand: `uvs rs` runs on real servers and needs none of the lab's dependencies.
    case 'rs':
      return (await import('../rs/main.js')).rsMain(rest, stdout, stderr);
    case 'daemon':
      return (await import('./daemon.js')).daemonMain(rest, stderr);
    case 'counters':
      return (await import('./counters.js')).countersMain(rest, stdout, stderr);
    case 'lab':
      return (await import('../lab/run.js')).labMain(rest, stdout, stderr);
    case 'keepalived':
      return (await import('./keepalived.js')).keepalivedMain(rest, stdout, stderr);
    default:
      stderr.write(`uvs: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

main(argv.slice(2)).then(
  (code) => exit(code),
  (err: unknown) => {
    stderr.write(`uvs: ${err instanceof Error ? err.message : String(err)}\n`);
    exit(1);
  },
);
